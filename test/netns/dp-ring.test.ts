import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { DpClient, startDp, stopDp, tempSockPath, type DpProcess } from '../helpers/dp-client.js';
import type { PipelineCounters } from '../../dp/pipeline.js';
import { ringAddon } from '../../dp/io/ring-native.js';
import { RING_TX_MODES } from '../../dp/io/ring-port.js';
import { fourDatagrams, udpFrame as steeredUdp } from '../helpers/steered-frames.js';
import { netnsDel, vthPairUp } from '../helpers/vth-lab.js';

/**
 * The ring backend specifics (dp --io ring): a burst far larger than one batch comes back
 * complete, in order and byte-identical; the dp never re-captures what it sent; 802.1Q
 * tags survive the kernel's tag stripping; frames over the port's frame limit or cut by
 * the ring slot are counted as oversize and dropped; the port closes and reopens.
 * Lab: one namespace with vbr↔vth; a python AF_PACKET socket on vbr stands in for tc.
 */
const SEND = fileURLToPath(new URL('../helpers/dp_send.py', import.meta.url));

/**
 * Sends the frames then a marker on IFACE and collects incoming frames until the marker
 * returns. The receiving kernel moves an 802.1Q tag into packet metadata, so the tag is
 * put back from PACKET_AUXDATA to compare frames as they were on the wire.
 */
const BURST_PROBE = `
import json, socket, struct, sys, time
req = json.load(sys.stdin)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE: a whole burst fits
s.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
marker = bytes.fromhex(req["marker"])
for f in req["frames"]:
    s.send(bytes.fromhex(f))
s.send(marker)
got, seen = [], False
deadline = time.time() + req["timeout"]
while time.time() < deadline:
    try:
        data, anc, _, addr = s.recvmsg(65535, 256)
    except socket.timeout:
        continue
    if addr[2] == 4:  # PACKET_OUTGOING: our own frames
        continue
    for level, kind, aux in anc:
        if level == 263 and kind == 8 and len(aux) >= 20:
            status, _l, _s, _m, _n, tci, tpid = struct.unpack("IIIHHHH", aux[:20])
            if status & 0x10:  # TP_STATUS_VLAN_VALID
                data = data[:12] + struct.pack("!HH", tpid if status & 0x40 and tpid else 0x8100, tci) + data[12:]
    if data == marker:
        seen = True
        break
    got.append(data.hex())
print(json.dumps({"received": got, "marker_seen": seen}))
`;

const WL_MAC = '02:11:22:33:44:55';
const UCMAC = '4e:65:75:56:00:b4';
const PEER_MAC = '02:99:00:00:00:01';
const MTU = 1500;

const FOUR = fourDatagrams(WL_MAC, UCMAC);

/** Ethernet(/802.1Q)/IPv4/UDP toward the workload (DA = its ucmac). */
function udpFrame(n: number, payload: Buffer, vlan?: number): Buffer {
  return steeredUdp(
    UCMAC,
    PEER_MAC,
    '198.18.0.1',
    '198.18.0.2',
    40000 + (n % 20000),
    5353,
    payload,
    vlan === undefined ? undefined : [vlan],
  );
}
const MARKER = udpFrame(1, Buffer.from('marker'));

const prefix = testPrefix();

function sh(...argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
}

/**
 * Each TX mode with the default RX moderation, and once with moderation off: that run
 * checks only the burst (complete, and no wake-up waited).
 */
const RUNS = [
  ...RING_TX_MODES.map((tx) => ({ tx, coalesceUs: undefined as number | undefined })),
  { tx: 'sendmmsg' as const, coalesceUs: 0 },
];

for (const { tx, coalesceUs } of RUNS) {
  const moderation = coalesceUs === undefined ? '' : ` --rx-coalesce-us ${coalesceUs}`;
  describe.skipIf(!isRoot || !ringAddon())(
    `dp ring backend (--io ring --ring-tx ${tx}${moderation}, own netns lab)`,
    () => {
      const NS = `${prefix}ring-${tx === 'txring' ? 't' : 'm'}${coalesceUs ?? ''}`;
      let dp: DpProcess | undefined;
      let cli: DpClient;
      function probe(frames: Buffer[], timeout = 10): { received: string[]; marker_seen: boolean } {
        const input = JSON.stringify({
          frames: frames.map((f) => f.toString('hex')),
          marker: MARKER.toString('hex'),
          timeout,
        });
        const out = execFileSync('nsenter', [`--net=/run/netns/${NS}`, '--', 'python3', '-c', BURST_PROBE, 'vbr'], {
          input,
          encoding: 'utf8',
          maxBuffer: 64 << 20,
        });
        return JSON.parse(out) as { received: string[]; marker_seen: boolean };
      }
      async function counters(): Promise<PipelineCounters> {
        return (await cli.call({ ctrl_counter_device: {} })).dp_counter_device.pipeline as PipelineCounters;
      }
      async function warmUp(): Promise<void> {
        for (let i = 0; i < 5 && !probe([], 2).marker_seen; i++);
      }

      beforeAll(async () => {
        await vthPairUp(NS, MTU);
        const args = ['--io', 'ring', '--ring-tx', tx];
        if (coalesceUs !== undefined) args.push('--rx-coalesce-us', String(coalesceUs));
        dp = await startDp({ netns: NS, ctrl: tempSockPath('dpring'), args });
        sh('python3', SEND, dp.ctrl, ...FOUR);
        cli = new DpClient(dp.ctrl);
        await cli.sync();
        await warmUp();
      });

      afterAll(async () => {
        cli?.close();
        if (dp) await stopDp(dp);
        netnsDel(NS);
      });

      it('runs on the ring backend', () => {
        expect(dp!.logs.some((l) => l.includes('"io":"ring"') && l.includes(`"ringTx":"${tx}"`))).toBe(true);
      });

      it('a 5000-frame burst comes back complete, in order, byte-identical, in batches; nothing sent is re-captured', async () => {
        const frames = Array.from({ length: 5000 }, (_, i) =>
          udpFrame(i + 2, Buffer.from(`burst-${i}-`.padEnd(40 + (i % 900), 'x'))),
        );
        const before = await counters();
        const r = probe(frames, 30);
        expect(r.marker_seen).toBe(true);
        expect(r.received.length).toBe(frames.length);
        expect(r.received).toEqual(frames.map((f) => f.toString('hex')));
        const after = await counters();
        // Exactly the frames sent (and the marker) came in: none of the 5001 the dp sent came back to it.
        expect(after.rxPackets - before.rxPackets).toBe(frames.length + 1);
        expect(after.txPackets - before.txPackets).toBe(frames.length + 1);
        expect(after.notSteered - before.notSteered).toBe(0);
        expect(after.txErrors - before.txErrors).toBe(0);
        // Batching: at least one JS call carried more than one frame.
        const batches = after.batches - before.batches;
        expect(batches).toBeGreaterThan(0);
        expect(batches).toBeLessThan(frames.length + 1);
        // RX moderation: a burst makes the port busy, so some wake-up waited before reading;
        // never with it off. The counter is refreshed by the dp's 1 s tick: wait (bounded) for it.
        let coalesced = after.rxCoalesced - before.rxCoalesced;
        for (let i = 0; i < 30 && coalesced === 0 && coalesceUs !== 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
          coalesced = (await counters()).rxCoalesced - before.rxCoalesced;
        }
        if (coalesceUs === 0) expect(coalesced).toBe(0);
        else expect(coalesced).toBeGreaterThan(0);
      });

      // The checks below do not depend on RX moderation: they run once per TX mode.
      if (coalesceUs !== undefined) return;

      it('a burst larger than the RX ring while the dp is stopped: the ring keeps what fits, the rest is counted as ringDrops', async () => {
        const before = await counters();
        const frames = Array.from({ length: 10000 }, (_, i) => udpFrame(i + 20000, Buffer.from(`flood-${i}`)));
        dp!.child.kill('SIGSTOP');
        try {
          probe(frames, 0); // send only: the stopped dp cannot forward anything yet
        } finally {
          dp!.child.kill('SIGCONT');
        }
        // ringDrops is refreshed by the dp's 1 s tick, and the dp drains the ring in rounds of
        // 16 batches between control datagrams: wait (bounded) until every frame is accounted for.
        const settled = (c: PipelineCounters): boolean =>
          c.rxPackets - before.rxPackets + c.ringDrops - before.ringDrops >= frames.length + 1;
        let after = await counters();
        for (let i = 0; i < 50 && !settled(after); i++) {
          await new Promise((r) => setTimeout(r, 100));
          after = await counters();
        }
        const rx = after.rxPackets - before.rxPackets;
        const drops = after.ringDrops - before.ringDrops;
        expect(rx).toBe(8192); // the ring's slots (scripts: dp/io/ring-port.ts RX_FRAMES)
        expect(rx + drops).toBe(frames.length + 1); // + the marker
        expect(after.txPackets - before.txPackets).toBe(rx);
      });

      it('802.1Q-tagged frames come back with their tag (the kernel strips it into tp_vlan_tci)', () => {
        const frames = [
          udpFrame(7, Buffer.from('vlan-7'), 7),
          udpFrame(8, Buffer.from('vlan-4000'), 4000),
          udpFrame(9, Buffer.from('untagged')),
        ];
        const r = probe(frames);
        expect(r.marker_seen).toBe(true);
        expect(r.received).toEqual(frames.map((f) => f.toString('hex')));
      });

      it('frames over the frame limit or cut by the ring slot are counted as oversize and dropped', async () => {
        // The port was opened at MTU 1500 (frame limit 1522, 2 KiB ring slots). Raise the
        // links' MTU under it: a 1700-byte frame then fits the slot but exceeds the limit,
        // a 3000-byte one is cut by the slot (snaplen < len).
        for (const l of ['vbr', 'vth']) sh('ip', '-n', NS, 'link', 'set', l, 'mtu', '4000');
        try {
          const before = await counters();
          const big = [udpFrame(10, Buffer.alloc(1700 - 46, 0x61)), udpFrame(11, Buffer.alloc(3000 - 46, 0x62))];
          const r = probe(big);
          expect(r.marker_seen).toBe(true);
          expect(r.received).toEqual([]);
          const after = await counters();
          expect(after.oversize - before.oversize).toBe(2);
          expect(after.rxPackets - before.rxPackets).toBe(3);
        } finally {
          for (const l of ['vbr', 'vth']) sh('ip', '-n', NS, 'link', 'set', l, 'mtu', String(MTU));
        }
      });

      it('closes on ctrl_del_srvc_port (nothing forwarded or counted) and works again after ctrl_add_srvc_port', async () => {
        expect((await cli.call({ ctrl_del_srvc_port: { iface: 'vth' } })).dp_ok).toBeDefined();
        const before = await counters();
        const gone = probe([udpFrame(20, Buffer.from('while-closed'))], 2);
        expect(gone.marker_seen).toBe(false);
        expect(gone.received).toEqual([]);
        expect((await counters()).rxPackets).toBe(before.rxPackets);
        expect((await cli.call({ ctrl_add_srvc_port: { iface: 'vth', jumboframe: false } })).dp_ok).toBeDefined();
        // Opening twice re-opens (a new socket and ring) and keeps working.
        expect((await cli.call({ ctrl_add_srvc_port: { iface: 'vth', jumboframe: false } })).dp_ok).toBeDefined();
        await warmUp();
        const frames = Array.from({ length: 600 }, (_, i) => udpFrame(100 + i, Buffer.from(`again-${i}`)));
        const r = probe(frames);
        expect(r.marker_seen).toBe(true);
        expect(r.received).toEqual(frames.map((f) => f.toString('hex')));
      });
    },
  );
}

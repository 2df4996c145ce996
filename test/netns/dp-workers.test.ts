import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, testPrefix } from '../helpers/netns.js';
import {
  DP_BIN,
  DpClient,
  startDp,
  stopDp,
  tempSockPath,
  type DpProcess,
  type ReplyObject,
} from '../helpers/dp-client.js';
import { ringAddon } from '../../dp/io/ring-native.js';
import { fourDatagrams, udpFrame } from '../helpers/steered-frames.js';
import { netnsDel, vthPairUp } from '../helpers/vth-lab.js';

/**
 * `dp -n 2`: two worker threads share vth through one PACKET_FANOUT_HASH group. Own lab:
 * one namespace, veth vbr↔vth (offloads off), the dp on vth, frames injected on vbr by
 * a python AF_PACKET socket that collects what comes back. The two workers finish their
 * batches independently, so the probe waits for an expected count of frames (not a
 * marker, which may hash to the other worker) and the test waits on the summed rx
 * counter before asserting on dropped frames.
 */
const SEND = fileURLToPath(new URL('../helpers/dp_send.py', import.meta.url));

/** stdin {frames: [hex], expect: n, timeout: s} → {received: [hex]} (own outgoing frames skipped). */
const COLLECT_PY = `
import json, socket, sys, time
req = json.load(sys.stdin)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
for f in req["frames"]:
    s.send(bytes.fromhex(f))
received = []
deadline = time.time() + req["timeout"]
while len(received) < req["expect"] and time.time() < deadline:
    try:
        data, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[2] == 4:
        continue
    received.append(data.hex())
print(json.dumps({"received": received}))
`;

const WL_MAC = '02:11:22:33:44:55';
const UCMAC = '4e:65:75:56:00:b4';
const UNKNOWN_UCMAC = '4e:65:75:56:00:c0';
const PEER_MAC = '02:99:00:00:00:01';
/**
 * Flow i's client: the fan-out picks a worker from the IP addresses (so fragments stay
 * with their flow), so the flows of a batch come from different clients to reach both.
 */
const clientIp = (i: number): string => `198.18.1.${1 + (i % 200)}`;
const WL_IP = '198.18.0.2';
const FLOWS = 64;

const FOUR = fourDatagrams(WL_MAC, UCMAC);

/** Flow i of a batch: client sport → workload dport 6000+i (ingress: DA is the ucmac), and the reply (egress). */
const ingress = (sport: number, i: number, da = UCMAC): Buffer =>
  udpFrame(da, PEER_MAC, clientIp(i), WL_IP, sport, 6000 + i, Buffer.from(`in-${sport}-${i}`));
const egress = (sport: number, i: number): Buffer =>
  udpFrame(PEER_MAC, UCMAC, WL_IP, clientIp(i), 6000 + i, sport, Buffer.from(`out-${sport}-${i}`));

const prefix = testPrefix();
const NS = `${prefix}dpw`;
let dp: DpProcess | undefined;
let cli: DpClient;

function sh(...argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
}

function collect(frames: Buffer[], expect: number, timeout = 10): string[] {
  const input = JSON.stringify({ frames: frames.map((f) => f.toString('hex')), expect, timeout });
  const out = execFileSync('nsenter', [`--net=/run/netns/${NS}`, '--', 'python3', '-c', COLLECT_PY, 'vbr'], {
    input,
    encoding: 'utf8',
  });
  return (JSON.parse(out) as { received: string[] }).received;
}

interface WorkerCounters {
  worker: number;
  pipeline: Record<string, number>;
  engine: Record<string, number>;
}
async function counters(): Promise<{
  pipeline: Record<string, number>;
  engine: Record<string, number>;
  ctrl: Record<string, unknown>;
  workers: WorkerCounters[];
}> {
  return (await cli.call({ ctrl_counter_device: {} })).dp_counter_device;
}

/** Waits until the workers together have received `n` more frames than `base` (every frame has had its fate). */
async function rxReaches(base: number, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await counters()).pipeline.rxPackets! >= base + n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!isRoot || !ringAddon())('dp -n 2: worker threads on one fanout group (own netns lab)', () => {
  beforeAll(async () => {
    await vthPairUp(NS);
    dp = await startDp({ netns: NS, ctrl: tempSockPath('dpw'), args: ['-n', '2', '--io', 'ring'] });
    sh('python3', SEND, dp.ctrl, ...FOUR);
    cli = new DpClient(dp.ctrl);
    await cli.sync();
    // Warm both sockets up (a fresh capture may miss its first frame) with frames of an
    // unknown ucmac: dropped and counted, no session. Many flows, so both workers get some.
    for (let round = 0; round < 10; round++) {
      const ws = (await counters()).workers;
      if (ws.every((w) => w.pipeline.noWorkload! > 0)) break;
      collect(
        Array.from({ length: 16 }, (_, i) => ingress(30000 + round, i, UNKNOWN_UCMAC)),
        0,
        0.2,
      );
    }
  });

  afterAll(async () => {
    cli?.close();
    if (dp) await stopDp(dp);
    netnsDel(NS);
  });

  it('the four datagrams configured every worker: one merged reply per query, configuration not multiplied', async () => {
    const d = (await cli.call({ ctrl_stats_device: {} })).dp_stats_device;
    expect(d.ports).toEqual([{ iface: 'vth', mtu: 2048 }]);
    expect(d.internal_nets).toBe(2);
    expect(d.endpoints).toBe(1);
    const m = (await cli.call({ ctrl_stats_macs: { macs: [WL_MAC] } })).dp_stats_macs;
    expect(m.tap).toEqual([false]);
    const c = await counters();
    expect(c.workers.map((w) => w.worker)).toEqual([0, 1]);
    expect(c.workers.every((w) => w.pipeline.noWorkload! > 0)).toBe(true); // both sockets are in the group
  });

  it(`${FLOWS} UDP flows, both directions, all come back byte-identical; each flow lives in one worker`, async () => {
    expect((await cli.call({ ctrl_clear_session: {} })).dp_ok).toBeDefined();
    const before = await counters();
    const frames: Buffer[] = [];
    for (let i = 0; i < FLOWS; i++) frames.push(ingress(40000, i));
    for (let i = 0; i < FLOWS; i++) frames.push(egress(40000, i));
    const received = collect(frames, frames.length);
    expect([...received].sort()).toEqual(frames.map((f) => f.toString('hex')).sort());
    // Within a flow the order holds: its ingress frame comes back before its reply.
    for (let i = 0; i < FLOWS; i++) {
      expect(received.indexOf(ingress(40000, i).toString('hex'))).toBeLessThan(
        received.indexOf(egress(40000, i).toString('hex')),
      );
    }
    const after = await counters();
    // Summed totals equal the per-worker sums, and both workers handled frames.
    for (const k of ['rxPackets', 'txPackets', 'rxBytes', 'txBytes', 'dropPackets']) {
      expect(after.pipeline[k]).toBe(after.workers.reduce((s, w) => s + w.pipeline[k]!, 0));
    }
    expect(after.pipeline.rxPackets! - before.pipeline.rxPackets!).toBe(frames.length);
    expect(after.pipeline.txPackets! - before.pipeline.txPackets!).toBe(frames.length);
    const perWorker = after.workers.map((w, i) => w.pipeline.txPackets! - before.workers[i]!.pipeline.txPackets!);
    expect(perWorker.every((n) => n > 0)).toBe(true);
    expect(perWorker.every((n) => n % 2 === 0)).toBe(true); // whole flows (both directions) per worker
    // One session per flow: had the two directions of a flow reached different workers, each would have made one.
    const count = (await cli.call({ ctrl_count_session: {} })).dp_session_count;
    expect(count.udp).toBe(FLOWS);
    expect(count.cur).toBe(FLOWS);
    const list = await cli.request({ ctrl_list_session: {} });
    expect(list.every((r) => JSON.stringify(r).length <= 8192)).toBe(true);
    const sessions = list.flatMap((r: ReplyObject) => r.dp_session_list.sessions as unknown[]);
    expect(sessions).toHaveLength(FLOWS);
    expect(list[list.length - 1]!.dp_session_list.total).toBe(FLOWS);
  });

  it('a policy sent once takes effect in both workers: denied flows dropped whichever worker they hash to', async () => {
    const pol = await cli.call({
      ctrl_cfg_policy: {
        cmd: 1,
        flag: 3,
        defact: 7,
        dir: 0,
        mac: [WL_MAC],
        rules: [
          {
            id: 1001,
            sip: clientIp(0),
            sipr: clientIp(199),
            dip: WL_IP,
            port: 6000,
            portr: 6031,
            proto: 17,
            action: 2,
            ingress: true,
          },
        ],
      },
    });
    expect(pol.dp_ok).toBeDefined();
    expect((await cli.call({ ctrl_clear_session: {} })).dp_ok).toBeDefined();
    const before = await counters();
    const frames = Array.from({ length: FLOWS }, (_, i) => ingress(41000, i));
    const allowed = frames.slice(0, 32).map((f) => f.toString('hex'));
    const received = collect(frames, allowed.length);
    await rxReaches(before.pipeline.rxPackets!, FLOWS);
    const after = await counters();
    expect(after.pipeline.rxPackets! - before.pipeline.rxPackets!).toBe(FLOWS);
    expect([...received].sort()).toEqual([...allowed].sort());
    expect(after.pipeline.dropPackets! - before.pipeline.dropPackets!).toBe(FLOWS - allowed.length);
    const drops = after.workers.map((w, i) => w.pipeline.dropPackets! - before.workers[i]!.pipeline.dropPackets!);
    expect(drops.every((n) => n > 0)).toBe(true);
    // Back to open so later tests see forwarding.
    expect(
      (await cli.call({ ctrl_cfg_policy: { cmd: 1, flag: 3, defact: 0, dir: 0, mac: [WL_MAC], rules: [] } })).dp_ok,
    ).toBeDefined();
  });

  it('bad datagrams get exactly one dp_error each, not one per worker; errors counted once', async () => {
    const before = (await counters()).ctrl;
    for (const bad of ['{not json', '{"ctrl_nope":{}}', '{"ctrl_add_mac":{"iface":"vth"}}']) {
      const r = await cli.request(bad);
      expect(r).toHaveLength(1);
      expect(r[0]!.dp_error).toBeDefined();
      expect(await cli.sync()).toEqual([]); // nothing else arrives before the next keep-alive
    }
    const after = (await counters()).ctrl;
    expect((after.errors as number) - (before.errors as number)).toBe(3);
    // The configuration is still in force.
    expect((await cli.call({ ctrl_stats_device: {} })).dp_stats_device.endpoints).toBe(1);
  });

  it('SIGTERM stops the workers, unlinks the socket, exits 0', async () => {
    const d = dp!;
    dp = undefined;
    expect(await stopDp(d)).toBe(0);
    expect(existsSync(d.ctrl)).toBe(false);
  });

  it('-n 2 with the cap backend is refused at start with a clear error', () => {
    const r = spawnSync('node', [DP_BIN, '-n', '2', '--io', 'cap', '--ctrl', tempSockPath('dpwcap')], {
      encoding: 'utf8',
      timeout: 15000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('needs the ring backend');
  });
});

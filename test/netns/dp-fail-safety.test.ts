/**
 * Fail-safety on the wire: the real dp process owning vth in a namespace of our own, a
 * python AF_PACKET socket on vbr standing in for the steering (it sends frames steered to
 * the workload's ucmac and sees everything the dp sends back). Only 198.18.0.0/15 inside.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { DpClient, startDp, stopDp, tempSockPath, type DpProcess } from '../helpers/dp-client.js';
import { fourDatagrams, udpFrame } from '../helpers/steered-frames.js';
import { netnsDel, vthPairUp } from '../helpers/vth-lab.js';
import { rule } from '../helpers/engine-rig.js';
import { parseMac } from '../../shared/mac.js';
import { PacketView, TCP_RST } from '../../dp/decode/packet.js';
import { decodeFrame } from '../../dp/decode/decode.js';
import { TCP, fragmentIpv4, frame, ipv4, tcp, udp } from '../../scripts/pcapgen/frames.js';

const PROBE = fileURLToPath(new URL('../helpers/l2_probe.py', import.meta.url));
const SEND = fileURLToPath(new URL('../helpers/dp_send.py', import.meta.url));

const WL_MAC = '02:11:22:33:44:77';
const UCMAC = '4e:65:75:56:00:c4';
const PEER_MAC = '02:99:00:00:00:01';
const CLIENT = '198.19.0.5';
const WL = '198.18.0.2';
const MARKER = udpFrame(UCMAC, PEER_MAC, CLIENT, WL, 1, 7, Buffer.from('marker'));

const prefix = testPrefix();
const NS = `${prefix}dpf`;
let dp: DpProcess | undefined;
let cli: DpClient;

const toWl = (l3: Buffer) => frame(l3, { dst: parseMac(UCMAC), src: parseMac(PEER_MAC) });
const fromWl = (l3: Buffer) => frame(l3, { dst: parseMac(PEER_MAC), src: parseMac(UCMAC) });

function probe(frames: Buffer[], timeout = 15): { received: Buffer[]; marker_seen: boolean } {
  const input = JSON.stringify({
    frames: frames.map((f) => f.toString('hex')),
    marker: MARKER.toString('hex'),
    timeout,
  });
  const out = execFileSync('nsenter', [`--net=/run/netns/${NS}`, '--', 'python3', PROBE, 'vbr'], {
    input,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const r = JSON.parse(out) as { received: string[]; marker_seen: boolean };
  return { received: r.received.map((h) => Buffer.from(h, 'hex')), marker_seen: r.marker_seen };
}

async function ok(msg: unknown): Promise<void> {
  const r = await cli.call(msg);
  expect(r, JSON.stringify(r)).toHaveProperty('dp_ok');
}

describe.skipIf(!isRoot)('dp fail-safety on the wire (own netns lab)', () => {
  beforeAll(async () => {
    await vthPairUp(NS);
    dp = await startDp({ netns: NS, ctrl: tempSockPath('dpfs') });
    execFileSync('python3', [SEND, dp.ctrl, ...fourDatagrams(WL_MAC, UCMAC)]);
    cli = new DpClient(dp.ctrl);
    await cli.sync();
    await ok({
      ctrl_cfg_policy: {
        cmd: 1,
        flag: 3,
        defact: 7,
        dir: 0,
        mac: [WL_MAC],
        rules: [rule(1, 17, 5000, 2), rule(2, 17, 7, 2)],
      },
    });
    // A fresh capture may miss the first frame it is offered: warm up until the marker returns.
    for (let i = 0; i < 5 && !probe([], 2).marker_seen; i++);
  });

  afterAll(async () => {
    cli?.close();
    if (dp) await stopDp(dp);
    netnsDel(NS);
  });

  it('finding 1: 120 fragmented datagrams in order and reversed, IP IDs reused: every fragment of the allowed ones goes out, none of the denied', () => {
    let allowed = 0;
    let back = 0;
    // In rounds of 30 datagrams: the probe reads only after sending, so a round must fit its socket buffer.
    for (let round = 0; round < 4; round++) {
      const frames: Buffer[] = [];
      for (let i = round * 30; i < round * 30 + 30; i++) {
        const port = i % 10 === 9 ? 6000 : 5000; // every tenth datagram is denied
        const seg = udp(CLIENT, WL, 41000 + i, port, Buffer.alloc(i % 2 ? 2992 : 1992, i & 0xff));
        const fr = fragmentIpv4(CLIENT, WL, 17, seg, 1480, i % 16).map((p) => toWl(p));
        if (i % 2 === 1) fr.reverse();
        if (port === 5000) allowed += fr.length;
        frames.push(...fr);
      }
      const r = probe(frames);
      expect(r.marker_seen).toBe(true);
      back += r.received.filter((f) => f.readUInt16BE(12) === 0x0800 && (f.readUInt16BE(20) & 0x3fff) !== 0).length;
    }
    expect(back).toBe(allowed);
  });

  it('finding 2: a session denied while tapped is cut with resets both ways once the endpoint is inline', async () => {
    await ok({ ctrl_cfg_mac: { tap: true, macs: [WL_MAC] } });
    await ok({
      ctrl_cfg_policy: { cmd: 1, flag: 3, defact: 1, dir: 0, mac: [WL_MAC], rules: [rule(2, 17, 7, 2)] },
    });
    const sp = 42000;
    const syn = toWl(ipv4(CLIENT, WL, 6, tcp(CLIENT, WL, sp, 8080, 1000, 0, TCP.SYN)));
    const synAck = fromWl(ipv4(WL, CLIENT, 6, tcp(WL, CLIENT, 8080, sp, 5000, 1001, TCP.SYN | TCP.ACK)));
    const ack = toWl(ipv4(CLIENT, WL, 6, tcp(CLIENT, WL, sp, 8080, 1001, 5001, TCP.ACK)));
    // Tapped: inspected, nothing comes back (the steering forwards tapped traffic itself).
    expect(probe([syn, synAck, ack], 3).received).toHaveLength(0);
    // learn → protect: the policy first (DENY by default), then the endpoint goes inline.
    await ok({
      ctrl_cfg_policy: { cmd: 1, flag: 3, defact: 7, dir: 0, mac: [WL_MAC], rules: [rule(2, 17, 7, 2)] },
    });
    await ok({ ctrl_cfg_mac: { tap: false, macs: [WL_MAC] } });
    const data = toWl(
      ipv4(
        CLIENT,
        WL,
        6,
        tcp(CLIENT, WL, sp, 8080, 1001, 5001, TCP.ACK | TCP.PSH, Buffer.from('GET / HTTP/1.0\r\n\r\n')),
      ),
    );
    const back = probe([data]).received;
    const p = new PacketView();
    const resets = back.filter(
      (f) => decodeFrame(p, f, 0, f.length, f.length) === 0 && p.ipProto === 6 && (p.tcpFlags & TCP_RST) !== 0,
    );
    expect(resets).toHaveLength(2);
    // One toward each end: to the client (DA the peer's MAC) and to the workload (DA its ucmac).
    const toClient = resets.find((f) => f.subarray(0, 6).equals(parseMac(PEER_MAC)))!;
    const toWorkload = resets.find((f) => f.subarray(0, 6).equals(parseMac(UCMAC)))!;
    expect(toClient).toBeDefined();
    expect(toWorkload).toBeDefined();
    decodeFrame(p, toClient, 0, toClient.length, toClient.length);
    expect([p.dport, p.sport]).toEqual([sp, 8080]);
    decodeFrame(p, toWorkload, 0, toWorkload.length, toWorkload.length);
    expect([p.sport, p.dport]).toEqual([sp, 8080]);
    // The data itself never reached the workload, and later segments drop without more resets.
    expect(back.filter((f) => f.includes(Buffer.from('GET /')))).toHaveLength(0);
    expect(probe([data]).received).toHaveLength(0);
  });
});

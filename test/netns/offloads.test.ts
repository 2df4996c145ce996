/**
 * Offloads on where they are correct: checksum offload and TSO/GSO on the workload's eth0,
 * the host side, vex and vin. On the service pair only tx checksum offload is on (vbr), so
 * the dp receives CHECKSUM_PARTIAL frames (TP_STATUS_CSUMNOTREADY) but never a GSO
 * super-frame: with TSO/GSO off on vbr the kernel segments them before vth. The dp must
 * complete the partial checksums (native/l4_csum.c) or the workload drops every segment.
 * Every assertion is about bytes that arrived intact and counters, never about time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { waitFor } from '../helpers/agent-proc.js';
import { TcpSession, startEchoServer } from '../helpers/tcp-session.js';
import { startIn } from '../helpers/reflector.js';
import { FastPathLab, HOST_IP6, WEB_IP, WEB_IP6, allowTcp } from '../helpers/fastpath-lab.js';
import { vexName, vinName } from '../../agent/topology/names.js';
import { readOffloads } from '../../agent/topology/offload.js';
import { runIn } from '../../shared/exec.js';
import { PolicyAction } from '../../shared/policy-actions.js';

const BULK = 5201;
const ECHO = 7000;
const RULES = [allowTcp(1, BULK), allowTcp(2, ECHO)];

/** Receives one connection to EOF; prints the byte count and SHA-256 of what it read. */
const SINK = `
import socket, sys, hashlib
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('::', int(sys.argv[1]))); s.listen(1); print('listening', flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
print('got', n, h.hexdigest(), flush=True)
`;
/** Sends MiB of seeded bytes in 64 KiB writes; prints the byte count and SHA-256 it sent. */
const SOURCE = `
import socket, sys, hashlib, random
host, port, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(12); h = hashlib.sha256(); n = 0
s = socket.create_connection((host, port))
for i in range(mib * 16):
    b = rnd.randbytes(65536); s.sendall(b); h.update(b); n += len(b)
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
print(n, h.hexdigest(), flush=True)
`;

describe.skipIf(!isRoot)('offloads on around the dp (checksum offload, TSO/GSO)', () => {
  const lab = new FastPathLab(testPrefix());
  const servers: ChildProcess[] = [];

  /**
   * A bulk TCP transfer host -> workload of `mib` MiB of seeded pseudo-random bytes: the
   * digest and length the workload read, against the digest of what was sent. A path that
   * drops or corrupts segments stalls the stream (the timeout fails it) or changes the digest.
   */
  const bulk = async (target: string, mib: number): Promise<{ sent: string; received: string }> => {
    const sink = await startIn(lab.ns.web, ['python3', '-c', SINK, String(BULK)], 'listening');
    try {
      const r = await runIn(lab.ns.host, ['python3', '-c', SOURCE, target, String(BULK), String(mib)], {
        timeoutMs: 60_000,
      });
      // The source returns once the sink has read to EOF, printed and closed.
      await sink.exited;
      const got = /^got (.*)$/m.exec(sink.stdout());
      return { sent: r.stdout.trim(), received: got?.[1]?.trim() ?? `no digest: ${sink.stderr()}` };
    } finally {
      await sink.stop();
    }
  };
  /** An echo session: what the host wrote came back byte for byte through the dp both ways. */
  const echoIntact = async (): Promise<void> => {
    const s = new TcpSession(lab.ns.host, WEB_IP, ECHO);
    try {
      expect(await s.opened()).toBe(true);
      expect(await s.check()).toMatchObject({ equal: true, error: null });
      expect(await s.close()).toMatchObject({ equal: true });
    } finally {
      s.kill();
    }
  };

  beforeAll(async () => {
    await lab.up();
    const hostDev = JSON.parse((await runIn(lab.ns.host, ['ip', '-j', 'addr'])).stdout) as {
      ifname: string;
      addr_info: { local: string }[];
    }[];
    const host = hostDev.find((l) => l.addr_info.some((a) => a.local === '198.18.0.1'))!.ifname;
    for (const [ns, dev] of [
      [lab.ns.web, 'eth0'],
      [lab.ns.host, host],
      [lab.ns.agent, vexName('web')],
      [lab.ns.agent, vinName('web')],
    ] as const) {
      await runIn(ns, ['ethtool', '-K', dev, 'tx', 'on', 'tso', 'on', 'gso', 'on']);
    }
    await runIn(lab.ns.agent, ['ethtool', '-K', 'vbr', 'tx', 'on']);
    expect((await readOffloads(lab.ns.web, 'eth0')).on).toEqual(expect.arrayContaining(['tx', 'tso', 'gso']));
    expect((await readOffloads(lab.ns.agent, 'vbr')).on).toEqual(['tx']);
    expect((await readOffloads(lab.ns.agent, 'vth')).on).toEqual([]);
    lab.rules = RULES;
    servers.push(await startEchoServer(lab.ns.web, ECHO));
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await lab.down();
  });

  it('without the fast path: the dp completes partial checksums, TCP arrives intact both ways, IPv4 and IPv6', async () => {
    await lab.killDp('SIGTERM');
    await lab.startDp(['--no-fast-path']);
    const c0 = await lab.counters();
    await echoIntact();
    const v4 = await bulk(WEB_IP, 8);
    expect(v4.received).toBe(v4.sent);
    await lab.pushWireRules([
      { id: 1, sip: HOST_IP6, dip: WEB_IP6, port: BULK, proto: 6, action: PolicyAction.ALLOW, ingress: true },
    ]);
    const v6 = await bulk(WEB_IP6, 4);
    expect(v6.received).toBe(v6.sent);
    await lab.pushPolicy(RULES);
    // csumCompleted is refreshed by the dp's 1 s tick: at least one per MTU-sized segment sent.
    let c1 = c0;
    expect(
      await waitFor(
        async () => (c1 = await lab.counters()).csumCompleted! - c0.csumCompleted! > (12 << 20) / 1500,
        10_000,
      ),
    ).toBe(true);
    // Every frame was a whole one: the kernel segmented the sender's super-frames before vth.
    expect(c1.oversize! - c0.oversize!).toBe(0);
    expect(c1.txErrors! - c0.txErrors!).toBe(0);
  }, 90_000);

  it('with the fast path: super-frames pass the kernel path whole, the dp sees only ordinary frames', async () => {
    await lab.killDp('SIGTERM');
    await lab.startDp();
    const c0 = await lab.counters();
    await echoIntact();
    const r = await bulk(WEB_IP, 32);
    expect(r.received).toBe(r.sent);
    const c1 = await lab.counters();
    const pkts = c1.fastPathPackets! - c0.fastPathPackets!;
    expect(pkts).toBeGreaterThan(0);
    // More bytes per fast-path frame than an MTU-sized frame can carry: GSO super-frames.
    expect((c1.fastPathBytes! - c0.fastPathBytes!) / pkts).toBeGreaterThan(1514);
    expect(c1.oversize! - c0.oversize!).toBe(0);
  }, 90_000);
});

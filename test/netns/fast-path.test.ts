/**
 * The kernel fast path end to end on a real kernel: the agent's BPF steering, the real
 * dp writing tg_flows through the bpf() syscall, real TCP streams between namespaces.
 * Every assertion is about packets, bytes, counters and map entries, never about time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { waitFor } from '../helpers/agent-proc.js';
import { TcpSession, startEchoServer } from '../helpers/tcp-session.js';
import { startCapture } from '../helpers/steering-lab.js';
import { startIn, type NsProcess } from '../helpers/reflector.js';
import { FastPathLab, HOST_IP, HOST_IP6, WEB_IP, WEB_IP6, allowTcp } from '../helpers/fastpath-lab.js';
import { runIn } from '../../shared/exec.js';
import { PolicyAction } from '../../shared/policy-actions.js';

const IPERF = 5201;
const ECHO = 7000;
const RULES = [allowTcp(1, IPERF), allowTcp(2, ECHO)];

describe.skipIf(!isRoot)('kernel fast path (BPF steering + dp)', () => {
  const lab = new FastPathLab(testPrefix());
  const servers: ChildProcess[] = [];
  let iperfd: NsProcess | undefined;

  /**
   * iperf3 client in the host namespace: the payload bytes it wrote and the server read.
   * iperf3 ends its data connection with a reset, so what was still in flight then never
   * crossed: `received` is the payload that certainly did.
   */
  const iperfBoth = async (target: string, bytes: string): Promise<{ sent: number; received: number }> => {
    const r = await runIn(lab.ns.host, ['iperf3', '-c', target, '-p', String(IPERF), '-n', bytes, '-J'], {
      allowFail: true,
    });
    const j = JSON.parse(r.stdout) as {
      end?: { sum_sent?: { bytes: number }; sum_received?: { bytes: number } };
      error?: string;
    };
    if (r.code !== 0 || !j.end?.sum_sent || !j.end.sum_received) throw new Error(`iperf3: ${j.error ?? r.stderr}`);
    return { sent: j.end.sum_sent.bytes, received: j.end.sum_received.bytes };
  };
  const iperf = async (target: string, bytes: string): Promise<number> => (await iperfBoth(target, bytes)).sent;
  /**
   * Frames of the stream that took the kernel fast path, counted as they go on the wire: with
   * TSO/GSO on the workload's links (docs/FASTPATH.md, "Offloads") the program sees super-frames,
   * each of which is several MTU-sized packets of the stream.
   */
  const fastWireFrames = (c0: Record<string, number>, c1: Record<string, number>): number =>
    Math.max(c1.fastPathPackets! - c0.fastPathPackets!, Math.ceil((c1.fastPathBytes! - c0.fastPathBytes!) / 1514));
  const offloaded = async (n = 1) =>
    waitFor(async () => (await lab.counters()).fastPathActive! >= n && (await lab.mapEntries()).length >= n, 10_000);

  beforeAll(async () => {
    await lab.up();
    lab.rules = RULES;
    await lab.startDp();
    servers.push(await startEchoServer(lab.ns.web, ECHO));
    iperfd = await startIn(lab.ns.web, ['iperf3', '-s', '-p', String(IPERF), '--forceflush'], 'Server listening');
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await iperfd?.stop();
    await lab.down();
  });

  // Retried like the other quantitative cases below: a fast path that does not work fails every attempt.
  it('an allowed TCP stream is fast-pathed: under 1% of its packets cross the dp, its connection report has every byte', {
    retry: 2,
    timeout: 90_000,
  }, async () => {
    const c0 = await lab.counters();
    lab.records.length = 0;
    const { sent, received } = await iperfBoth(WEB_IP, '40M');
    expect(sent).toBeGreaterThanOrEqual(40 * 1024 * 1024);
    const c1 = await lab.counters();
    const slow = c1.rxPackets! - c0.rxPackets!;
    const fast = fastWireFrames(c0, c1);
    expect(fast).toBeGreaterThan(0);
    expect(slow / (slow + fast)).toBeLessThan(0.01);
    // FIN/RST went through the dp, which took the entries back out of the kernel.
    expect(await waitFor(async () => (await lab.mapEntries()).length === 0, 10_000)).toBe(true);
    // The sessions end (cleared now rather than after the closed/reset TCP timeouts) and
    // their bytes, fast path included, are reported.
    await lab.client!.command({ ctrl_clear_session: { filter_id: 0 } });
    let bytes = 0;
    await waitFor(
      async () => {
        bytes = lab
          .connections()
          .filter((c) => c.server === WEB_IP && c.serverPort === IPERF && c.client === HOST_IP)
          .reduce((s, c) => s + c.bytes, 0);
        return bytes >= received;
      },
      20_000,
      200,
    );
    // Every payload byte the server read crossed the path (with its headers), and the
    // report cannot hold more than what was written plus headers and ACKs.
    expect(bytes).toBeGreaterThanOrEqual(received);
    expect(bytes).toBeLessThan(sent * 1.2);
    // Nearly all of it went through the kernel fast path, and the report has it.
    expect(c1.fastPathBytes! - c0.fastPathBytes!).toBeGreaterThan(received * 0.99);
  });

  // Retried: the share of a stream the dp sees before the kernel takes over depends on
  // scheduling; a fast path that does not work fails every attempt.
  it('IPv6: an allowed TCP stream is fast-pathed the same way', { retry: 2, timeout: 60_000 }, async () => {
    const wire = (id: number, port: number) => ({
      id,
      sip: HOST_IP6,
      dip: WEB_IP6,
      port,
      proto: 6,
      action: PolicyAction.ALLOW,
      ingress: true,
    });
    await lab.pushWireRules([wire(1, IPERF)]);
    try {
      const c0 = await lab.counters();
      const sent = await iperf(WEB_IP6, '20M');
      expect(sent).toBeGreaterThanOrEqual(20 * 1024 * 1024);
      const c1 = await lab.counters();
      const slow = c1.rxPackets! - c0.rxPackets!;
      const fast = fastWireFrames(c0, c1);
      expect(fast).toBeGreaterThan(0);
      expect(slow / (slow + fast)).toBeLessThan(0.01);
    } finally {
      await lab.pushPolicy(RULES);
    }
  });

  it('a policy change that denies an offloaded flow cuts it: nothing reaches the workload after the ack, resets both ways', async () => {
    const cap = await startCapture(lab.ns.web, 'eth0', ['-tt', 'tcp', 'port', String(ECHO)]);
    const stream = new TcpSession(lab.ns.host, WEB_IP, ECHO);
    try {
      expect(await stream.opened()).toBe(true);
      expect(await offloaded()).toBe(true);
      expect(await stream.check()).toMatchObject({ equal: true, error: null });
      const removedBefore = (await lab.counters()).fastPathRemoved!;
      await lab.pushPolicy([allowTcp(1, IPERF)]);
      const ackedAt = Date.now() / 1000;
      // The client's next segment reaches the dp (its entry is gone), which drops it and resets both ends.
      expect(await stream.errorWithin(5000)).toBe('ECONNRESET');
      expect((await lab.counters()).fastPathRemoved!).toBeGreaterThan(removedBefore);
      const lines = await cap.stop();
      const toWeb = lines
        .map((l) => ({ ts: Number(l.split(' ')[0]), l }))
        .filter((x) => x.l.includes(`> ${WEB_IP}.${ECHO}:`));
      expect(toWeb.filter((x) => x.ts < ackedAt).length).toBeGreaterThan(0);
      const after = toWeb.filter((x) => x.ts > ackedAt);
      // After the ack only the dp's reset reaches the workload.
      expect(after.length).toBeGreaterThan(0);
      for (const x of after) expect(x.l).toMatch(/Flags \[R/);
      expect(await waitFor(async () => (await lab.mapEntries()).length === 0, 5000)).toBe(true);
    } finally {
      stream.kill();
      await lab.pushPolicy(RULES);
    }
  }, 60_000);

  it('map full: the overflow is counted, the flows that do not fit stay on the slow path and still work', {
    retry: 2,
    timeout: 60_000,
  }, async () => {
    await lab.killDp('SIGTERM');
    await lab.startDp(['--fast-path-map', lab.mapPath, '--fast-path-max', '1']);
    const stream = new TcpSession(lab.ns.host, WEB_IP, ECHO);
    try {
      expect(await stream.opened()).toBe(true);
      expect(await offloaded()).toBe(true);
      const c0 = await lab.counters();
      const sent = await iperf(WEB_IP, '5M');
      expect(sent).toBeGreaterThanOrEqual(5 * 1024 * 1024);
      // The iperf3 flows went through the dp: at least one frame per 1448-byte segment. Waited
      // for (bounded): when iperf3 returns, the last window may still be in the dp's ring.
      let c1 = await lab.counters();
      for (let i = 0; i < 25 && c1.rxPackets! - c0.rxPackets! <= sent / 1500; i++) {
        await new Promise((r) => setTimeout(r, 200));
        c1 = await lab.counters();
      }
      expect(c1.fastPathFull! - c0.fastPathFull!).toBeGreaterThan(0);
      expect(c1.fastPathLimit).toBe(1);
      expect(c1.rxPackets! - c0.rxPackets!).toBeGreaterThan(sent / 1500);
      expect((await lab.mapEntries()).length).toBeLessThanOrEqual(1);
      expect(await stream.check()).toMatchObject({ equal: true, error: null });
    } finally {
      stream.kill();
      await lab.killDp('SIGTERM');
      await lab.startDp();
    }
  });

  it('kill -9 of the dp: the next dp flushes what the dead one left and offloads only sessions it has', async () => {
    const stream = new TcpSession(lab.ns.host, WEB_IP, ECHO);
    try {
      expect(await stream.opened()).toBe(true);
      expect(await offloaded()).toBe(true);
      await lab.killDp('SIGKILL');
      const left = await lab.mapEntries();
      expect(left.length).toBeGreaterThan(0);
      await lab.startDp();
      const c = await lab.counters();
      expect(c.fastPathFlushed).toBeGreaterThanOrEqual(left.length);
      // The stream still works; the new dp picks it up mid-stream and offloads it again.
      expect(await stream.check()).toMatchObject({ equal: true, error: null });
      expect(await offloaded()).toBe(true);
      // Every entry in the kernel belongs to a session of the new dp.
      const entries = await lab.mapEntries();
      const replies = await lab.client!.command({ ctrl_list_session: {} });
      const sessions = replies.flatMap(
        (r) =>
          (r.dp_session_list as { sessions?: { clientPort: number; serverPort: number }[] } | undefined)?.sessions ??
          [],
      );
      expect(entries.length).toBe((await lab.counters()).fastPathActive);
      for (const e of entries) {
        const peerPort = (e.key[42]! << 8) | e.key[43]!;
        const wlPort = (e.key[40]! << 8) | e.key[41]!;
        expect(sessions.some((s) => s.clientPort === peerPort && s.serverPort === wlPort)).toBe(true);
      }
    } finally {
      stream.kill();
    }
  }, 60_000);

  // Retried: a packet count under scheduling load (see the IPv6 case).
  it('endpoint removal: the entries of the endpoint leave the kernel before it goes, and its flow stops', {
    retry: 2,
    timeout: 60_000,
  }, async () => {
    const stream = new TcpSession(lab.ns.host, WEB_IP, ECHO);
    try {
      expect(await stream.opened()).toBe(true);
      expect(await offloaded()).toBe(true);
      const removed = (await lab.counters()).fastPathRemoved!;
      await lab.client!.command({ ctrl_del_mac: { mac: lab.webMac } });
      expect((await lab.mapEntries()).length).toBe(0);
      const c = await lab.counters();
      expect(c.fastPathRemoved! - removed).toBeGreaterThan(0);
      expect(c.fastPathActive).toBe(0);
      // Nothing forwards the flow any more: not the kernel (no entry), not the dp (no endpoint).
      const r = await stream.check();
      expect(r.received).toBeLessThan(r.sent!);
    } finally {
      stream.kill();
      await lab.killDp('SIGTERM');
      await lab.startDp();
    }
  });

  // Retried: a packet count under scheduling load (see the IPv6 case).
  it('--no-fast-path: every packet crosses the dp and the map stays empty, as without a fast path', {
    retry: 2,
    timeout: 60_000,
  }, async () => {
    // A retry starts from a dp with the fast path again.
    await lab.killDp('SIGTERM');
    await lab.startDp();
    const stream = new TcpSession(lab.ns.host, WEB_IP, ECHO);
    expect(await stream.opened()).toBe(true);
    expect(await offloaded()).toBe(true);
    await lab.killDp('SIGTERM');
    stream.kill();
    await lab.startDp(['--fast-path-map', lab.mapPath, '--no-fast-path']);
    // The entries an earlier dp could have left are gone.
    expect((await lab.mapEntries()).length).toBe(0);
    const c0 = await lab.counters();
    expect(c0.fastPathActive).toBeUndefined();
    const sent = await iperf(WEB_IP, '5M');
    expect(sent).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    const c1 = await lab.counters();
    expect(c1.rxPackets! - c0.rxPackets!).toBeGreaterThan(sent / 1500);
    expect((await lab.mapEntries()).length).toBe(0);
  });
});

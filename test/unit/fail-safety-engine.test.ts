/**
 * Correctness and fail-safety of the engine the live dp runs (dp/engine.ts with the real
 * policy table behind dp/policy/engine-hook.ts), one describe per fail-safety property (docs/ARCHITECTURE.md):
 * session ids across workers and limits without a policy (findings 1-6 are in
 * fail-safety-engine-findings.test.ts), and the allocation measurement.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GCProfiler, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Engine, Verdict } from '../../dp/engine.js';
import { compileRules } from '../../dp/policy/policy-table.js';
import { TcpConversation } from '../../scripts/pcapgen/tcp-conversation.js';
import { TCP, frame, icmp4, ipv4, tcp, udp } from '../../scripts/pcapgen/frames.js';
import { buildCase } from '../../scripts/pcapgen/cases.js';
import { CASES_DIR, SHARED_PCAPS, loadCase } from '../replay-runner/case-file.js';
import { readCapture } from '../replay-runner/live/rewrite.js';
import { PacketView } from '../../dp/decode/packet.js';
import { decodeFrame } from '../../dp/decode/decode.js';
import { ALLOW, DB, DENY, PEER, WEB, endpoint, rig, rule } from '../helpers/engine-rig.js';

/** Every frame of the replay corpus: the shared captures and test/replay's generated cases. */
function corpusFrames(): Buffer[] {
  const out: Buffer[] = [];
  for (const f of readdirSync(SHARED_PCAPS)
    .filter((n) => /\.pcap(ng)?$/.test(n))
    .sort()) {
    try {
      out.push(...readCapture(join(SHARED_PCAPS, f)).map((c) => c.bytes));
    } catch {
      // A capture that cannot be opened at all adds nothing (its damaged records are in the others).
    }
  }
  for (const d of readdirSync(CASES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()) {
    const g = loadCase(join(CASES_DIR, d)).spec.generate;
    if (g) out.push(...buildCase(g.case, g.seed).map((c) => c.bytes));
  }
  return out;
}

describe('finding 7: session ids across dp -n workers', () => {
  it('two workers never hand out the same session id, so ctrl_clear_session {filter_id} names one session', () => {
    const w0 = new Engine({ sessionIdStride: 2, sessionIdOffset: 1 });
    const w1 = new Engine({ sessionIdStride: 2, sessionIdOffset: 2 });
    const ep = endpoint(1, false);
    for (let i = 0; i < 50; i++) {
      const f = frame(ipv4(PEER, WEB, 17, udp(PEER, WEB, 40000 + i, 53, Buffer.alloc(4))));
      w0.process(f, f.length, 1000, ep, true);
      w1.process(f, f.length, 1000, ep, true);
    }
    const ids0 = w0.listSessions().map((s) => s.id);
    const ids1 = w1.listSessions().map((s) => s.id);
    expect(new Set([...ids0, ...ids1]).size).toBe(100);
    const target = ids1[7]!;
    expect(w0.clearSessions(target) + w1.clearSessions(target)).toBe(1);
  });
});

describe('finding 10: limits without a policy', () => {
  it('a policy exception fails closed by default (counted), open only when configured', () => {
    const throwing = {
      version: () => 1,
      decide: () => {
        throw new Error('policy bug');
      },
    };
    const f = frame(ipv4(PEER, WEB, 17, udp(PEER, WEB, 40000, 53, Buffer.alloc(4))));
    const closed = new Engine({ policy: throwing });
    expect(closed.process(f, f.length, 1000, endpoint(1, false), true)).toBe(Verdict.Drop);
    expect(closed.counters.policyErrors).toBe(1);
    const open = new Engine({ policy: throwing, failSafe: { policyError: 'open' } });
    expect(open.process(f, f.length, 1000, endpoint(1, false), true)).toBe(Verdict.Forward);
    expect(open.counters.policyErrors).toBe(1);
  });

  it("a SYN flood of 200,000 distinct SYNs at one workload leaves another workload's flows working", () => {
    const r = rig();
    const web = endpoint(1, false);
    const db = endpoint(2, false);
    r.table.setPolicy([1], DENY, 0, compileRules([rule(10, 6, 80, ALLOW)]));
    r.table.setPolicy([2], DENY, 0, compileRules([rule(11, 6, 5432, ALLOW)]));
    const established = new TcpConversation(WEB, DB, 50000, 5432);
    for (const [i, f] of established.handshake().entries()) r.engine.process(f, f.length, 1000, db, i !== 1);
    // The flood: distinct sources (198.19.x.y) and ports, all toward web:80.
    const syn = frame(ipv4('198.19.0.1', WEB, 6, tcp('198.19.0.1', WEB, 1024, 80, 1, 0, TCP.SYN)));
    const ipOff = 14;
    for (let i = 0; i < 200_000; i++) {
      syn.writeUInt16BE(0x0100 + (i & 0xff), ipOff + 12 + 2); // 198.19.(1+i/256).(i%256) spread
      syn.writeUInt16BE(1024 + (i >>> 8), ipOff + 20); // source port
      r.engine.process(syn, syn.length, 1000 + i * 0.01, web, true);
    }
    expect(web.counters.curSessions).toBeLessThanOrEqual(65536);
    expect(r.engine.counters.sessionsEvicted).toBeGreaterThan(0);
    const now = 1000 + 2000;
    const d = established.data('c', Buffer.from('SELECT 1'));
    expect(r.engine.process(d, d.length, now, db, true)).toBe(Verdict.Forward);
    const fresh = new TcpConversation(WEB, DB, 50001, 5432);
    expect(fresh.handshake().map((f, i) => r.engine.process(f, f.length, now, db, i !== 1))).toEqual([
      Verdict.Forward,
      Verdict.Forward,
      Verdict.Forward,
    ]);
    // The flooded workload itself still takes a new connection (a half-open one made room).
    const legit = new TcpConversation(PEER, WEB, 44000, 80);
    expect(legit.handshake().map((f, i) => r.engine.process(f, f.length, now, web, i !== 1))).toEqual([
      Verdict.Forward,
      Verdict.Forward,
      Verdict.Forward,
    ]);
  });

  // The engine over the replay corpus (every capture in the shared pcaps and every generated
  // case of test/replay) in protect mode with a deny policy, plus denied and malformed frames
  // made here: allocation per packet, and the heap kept after a full collection, must not
  // grow with the packet count. Both are measured with V8's own numbers (GC profiler, heap
  // used), never with time. The engine's integers stay small integers (Smis) on the whole
  // path: a hash, key or sentinel of 2^31 or more returned by a function V8 did not inline
  // is boxed into a heap number per call (16 bytes a packet: what this test saw in full
  // runs until the hashes in dp/policy/address.ts, dp/session/table.ts and
  // dp/session/fragments.ts and the order sentinel in dp/policy/rule-index.ts became 30-bit).
  it('the replay corpus in protect mode with a deny policy allocates nothing per packet, and the heap does not grow with packet count', () => {
    const r = rig({ eventsPerSecond: 1 });
    const ep = endpoint(1, false);
    r.table.setPolicy([1], DENY, 0, compileRules([]));
    r.table.enableIcmpPolicy = true;
    // Frames of sessions the policy allows are not this test's subject (sessions report at
    // start and end by design): in a deny-all policy those are the link-local peers, always
    // open as in NeuVector. Everything else in the corpus is denied, malformed or not IP.
    const pre = rig();
    pre.table.setPolicy([1], DENY, 0, compileRules([]));
    pre.table.enableIcmpPolicy = true;
    const pv = new PacketView();
    const all = corpusFrames();
    const frames = all.filter(
      (f, k) =>
        pre.engine.process(f, f.length, 1000, ep, (k & 1) === 0) !== Verdict.Forward ||
        decodeFrame(pv, f, 0, f.length, f.length) !== 0 ||
        pv.ipVersion === 0,
    );
    const fromCorpus = frames.length;
    for (let i = 0; i < 64; i++) {
      frames.push(frame(ipv4(PEER, WEB, 6, tcp(PEER, WEB, 30000 + i, 22, 1, 0, TCP.SYN)))); // denied first packet
      frames.push(frame(ipv4(PEER, WEB, 6, tcp(PEER, WEB, 30000 + i, 23, 1, 1, TCP.FIN | TCP.ACK)))); // FIN without session, denied
      frames.push(frame(ipv4(PEER, WEB, 17, udp(PEER, WEB, 30000 + i, 9, Buffer.alloc(8)))).subarray(0, 30)); // truncated: malformed
      frames.push(frame(ipv4(PEER, WEB, 1, icmp4(8, 0, i, Buffer.alloc(8))))); // ICMP denied
    }
    expect(fromCorpus).toBeGreaterThan(10_000);
    expect(all.length - fromCorpus).toBeLessThan(all.length * 0.05);
    const pass = (n: number, t0: number): number => {
      let forwarded = 0; // returned, so the loop's work cannot be dropped as unused
      for (let k = 0; k < n; k++) {
        const f = frames[k % frames.length]!;
        // Integer milliseconds (small integers in V8): a fractional clock computed here would
        // box a heap number per call in the test itself, not in the engine. Both directions.
        if (r.engine.process(f, f.length, t0 + (k >> 12), ep, (k & 1) === 0) === Verdict.Forward) forwarded++;
      }
      return forwarded;
    };
    // Optimized code is what the dp runs: compile it on this thread during the warm-up, so a
    // loaded machine (the optimizing compiler's thread starved) cannot leave the measured
    // windows running unoptimized code, which boxes numbers.
    setFlagsFromString('--no-concurrent-recompilation');
    pass(200_000, 1000); // warm-up: JIT, shapes, the first events
    pass(200_000, 2000);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const N = 400_000;
    const perWindow: number[] = [];
    const kept: number[] = [];
    for (let w = 0; w < 6; w++) {
      gc();
      kept.push(process.memoryUsage().heapUsed);
      const profiler = new GCProfiler();
      const before = process.memoryUsage().heapUsed;
      profiler.start();
      pass(N, 5000 + w * 1000);
      const after = process.memoryUsage().heapUsed;
      const stats = profiler.stop();
      // Allocated = growth now + everything the collections in between reclaimed.
      let reclaimed = 0;
      for (const g of stats.statistics)
        reclaimed += g.beforeGC.heapStatistics.usedHeapSize - g.afterGC.heapStatistics.usedHeapSize;
      perWindow.push((after - before + reclaimed) / N);
    }
    gc();
    kept.push(process.memoryUsage().heapUsed);
    console.log(
      `allocation over the replay corpus (${fromCorpus} of its ${all.length} frames, ${frames.length - fromCorpus} made here; deny policy): ${perWindow.map((b) => b.toFixed(3)).join(', ')} bytes per packet in windows of ${N}; heap kept after each: ${kept.map((b) => (b / 1048576).toFixed(2)).join(', ')} MiB`,
    );
    expect(r.engine.counters.policyDrops).toBeGreaterThan(N);
    expect(r.engine.counters.error).toBeGreaterThan(1000);
    expect(r.engine.counters.eventsSuppressed).toBeGreaterThan(N);
    // 8 passes of 200-400k packets over ~100 ms of engine clock each: the per-second budget built few events.
    expect(r.events.length).toBeLessThanOrEqual(20);
    // A per-packet object (an event, a string key, a subarray, a heap number) is ≥ 16 bytes a
    // packet. Every window, not the best one: the path allocates nothing, whatever ran before.
    for (const b of perWindow) expect(b).toBeLessThan(1);
    // 2.4 million packets later the engine keeps what it kept after the first window.
    expect(kept[kept.length - 1]! - kept[1]!).toBeLessThan(256 * 1024);
  });
});

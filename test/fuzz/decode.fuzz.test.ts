/**
 * Decoder and session robustness: well over 100,000 random and mutated frames (real
 * frames from the shared captures and generator cases, with bit flips, truncation,
 * length-field corruption and splices) through Engine.process on a tap and an inline
 * endpoint. Nothing may throw, and the counters must stay consistent with the verdicts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, Verdict } from '../../dp/engine.js';
import { newCounters, type Endpoint } from '../../dp/endpoints/endpoint.js';
import { PcapReader, isPcapError } from '../../shared/pcap/reader.js';
import { CASES, buildCase } from '../../scripts/pcapgen/cases.js';
import { sharedPcapsDir } from '../../shared/repo-root.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PolicyTable, compileRules } from '../../dp/policy/policy-table.js';
import { policyHook } from '../../dp/policy/engine-hook.js';
import { PacketView } from '../../dp/decode/packet.js';
import { decodeFrame } from '../../dp/decode/decode.js';
import { rule } from '../helpers/engine-rig.js';

/** Heap growth allowed over a fuzz run, after a full GC (the stated memory bound). */
const FUZZ_HEAP_BOUND = 16 * 1024 * 1024;

const DIR = sharedPcapsDir();

function corpus(): Buffer[] {
  const out: Buffer[] = [];
  for (const f of readdirSync(DIR)
    .filter((n) => /\.(pcap|pcapng)$/.test(n))
    .sort()) {
    const r = PcapReader.open(join(DIR, f));
    if (isPcapError(r)) continue;
    while (r.next()) out.push(Buffer.from(r.buf.subarray(r.off, r.off + r.capLen)));
  }
  for (const c of CASES) for (const fr of buildCase(c.name)) out.push(fr.bytes);
  return out;
}

function endpoint(id: number, tap: boolean): Endpoint {
  return { id, iface: 'fuzz', mac: '', ucmac: '', bcmac: '', macNum: 0, ucmacNum: 0, tap, counters: newCounters() };
}

/** Offsets where length and header-size fields live in common frames. */
const LENGTH_FIELDS = [12, 13, 14, 16, 17, 18, 19, 20, 21, 24, 25, 34, 38, 39, 46, 54, 58, 59];

type Mutation =
  | { kind: 'flip'; bits: number[] }
  | { kind: 'truncate'; keep: number }
  | { kind: 'length'; field: number; value: number }
  | { kind: 'splice'; other: number; at: number }
  | { kind: 'random'; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.nat(1600 * 8), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat(1600) }),
  fc.record({ kind: fc.constant('length' as const), field: fc.constantFrom(...LENGTH_FIELDS), value: fc.nat(0xffff) }),
  fc.record({ kind: fc.constant('splice' as const), other: fc.nat(), at: fc.nat(200) }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
);

function apply(frames: Buffer[], src: Buffer, m: Mutation): Buffer {
  switch (m.kind) {
    case 'flip': {
      const b = Buffer.from(src);
      for (const bit of m.bits) if (b.length > 0) b[(bit >> 3) % b.length]! ^= 1 << (bit & 7);
      return b;
    }
    case 'truncate':
      return Buffer.from(src.subarray(0, Math.min(m.keep, src.length)));
    case 'length': {
      const b = Buffer.from(src);
      if (m.field + 1 < b.length) b.writeUInt16BE(m.value, m.field);
      return b;
    }
    case 'splice': {
      const other = frames[m.other % frames.length]!;
      return Buffer.concat([src.subarray(0, m.at), other.subarray(Math.min(m.at, other.length))]);
    }
    case 'random':
      return Buffer.from(m.bytes);
  }
}

describe('fuzz: Engine.process on random and mutated frames', () => {
  it('never throws; verdicts and counters stay consistent (≥100,000 frames)', () => {
    const frames = corpus();
    const tapEp = endpoint(1, true);
    const inlineEp = endpoint(2, false);
    const engine = new Engine({ emit: () => {} });
    let processed = 0;
    let drops = 0;
    let now = 1_000;
    const BATCH = 25;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), mutation), { minLength: BATCH, maxLength: BATCH }), (batch) => {
        for (const [i, m] of batch) {
          const f = apply(frames, frames[i % frames.length]!, m);
          now += 7;
          const vTap = engine.process(f, f.length, now, tapEp, true);
          const vInl = engine.process(f, f.length, now, inlineEp, false, f.length + (i % 3 === 0 ? 100 : 0));
          expect(vTap).toBe(Verdict.Forward);
          if (vInl === Verdict.Drop) drops++;
          processed += 2;
        }
        if (processed % 20_000 < BATCH * 2) engine.tick(now);
      }),
      { numRuns: 2200, seed: 20240101 },
    );
    // Unmutated corpus too, so real sessions build up alongside the garbage.
    for (const f of frames) {
      now += 1;
      if (engine.process(f, f.length, now, inlineEp, true) === Verdict.Drop) drops++;
      processed++;
    }
    engine.tick(now + 3_600_000);
    const c = engine.counters;
    expect(processed).toBeGreaterThanOrEqual(100_000);
    expect(c.rx).toBe(processed);
    expect(c.rxDrop).toBe(inlineEp.counters.dropPackets);
    expect(tapEp.counters.dropPackets).toBe(0);
    // Every Drop verdict is counted once, and only malformed frames (or a full table) drop here.
    expect(drops).toBe(c.rxDrop);
    expect(c.rxDrop).toBeLessThanOrEqual(c.error + c.sessionTableFull);
    expect(c.rxDrop).toBeGreaterThan(0);
    expect(c.error).toBe(Object.values(c.malformed).reduce((a, b) => a + b, 0));
    const sc = engine.sessionCount();
    expect(sc.cur).toBe(sc.tcp + sc.udp + sc.icmp + sc.ip);
    expect(engine.listSessions().length).toBe(sc.cur);
    expect(c.totalSessions).toBe(c.tcpSessions + c.udpSessions + c.icmpSessions + c.ipSessions);
    expect(tapEp.counters.rxPackets + inlineEp.counters.rxPackets + inlineEp.counters.txPackets).toBe(processed);
    // Garbage went somewhere visible: plenty of named malformed reasons were counted.
    expect(Object.values(c.malformed).filter((v) => v > 0).length).toBeGreaterThan(10);
  });
});

describe('fuzz with policy on: deny, reset and ICMP-policy paths', () => {
  it('100,000 mutated frames against a default-deny policy with ICMP policy on: no throw, consistent counters, bounded heap', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const frames = corpus();
    const table = new PolicyTable();
    table.enableIcmpPolicy = true;
    const allow = (id: number, proto: number, port: number) => rule(id, proto, port, 2);
    table.setPolicy([1, 2], 7, 0, compileRules([allow(1, 6, 80), allow(2, 17, 53), allow(3, 6, 22)]));
    let injected = 0;
    let injectedBad = 0;
    const probe = new PacketView();
    const engine = new Engine({
      emit: () => {},
      policy: policyHook(table),
      eventsPerSecond: 1000,
      inject: (f, len) => {
        injected++;
        // What the engine builds must itself be a well-formed frame.
        if (decodeFrame(probe, f, 0, len, len) !== 0) injectedBad++;
      },
    });
    const tapEp = endpoint(1, true);
    const inlineEp = endpoint(2, false);
    let processed = 0;
    let drops = 0;
    let held = 0;
    let now = 1_000;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), mutation, fc.boolean()), { minLength: 25, maxLength: 25 }), (batch) => {
        for (const [i, m, flip] of batch) {
          const f = i % 4 === 0 ? frames[i % frames.length]! : apply(frames, frames[i % frames.length]!, m);
          now += 7;
          expect(engine.process(f, f.length, now, tapEp, flip)).not.toBe(Verdict.Drop);
          const v = engine.process(f, f.length, now, inlineEp, !flip);
          if (v === Verdict.Drop) drops++;
          else if (v === Verdict.Held) held++;
          processed += 2;
        }
        // Policy inputs move under the traffic: sessions are decided again, some cut.
        if (processed % 10_000 < 50) {
          table.enableIcmpPolicy = !table.enableIcmpPolicy;
          table.setPolicy(
            [1, 2],
            processed % 20_000 < 50 ? 7 : 2,
            0,
            compileRules([allow(1, 6, 80), allow(2, 17, 53)]),
          );
        }
        if (processed % 20_000 < 50) engine.tick(now);
      }),
      { numRuns: 2000, seed: 20240202 },
    );
    engine.tick(now + 3_600_000);
    engine.closeAll();
    const c = engine.counters;
    expect(processed).toBeGreaterThanOrEqual(100_000);
    expect(c.rx).toBe(processed);
    expect(tapEp.counters.dropPackets).toBe(0);
    expect(injectedBad).toBe(0);
    expect(c.resetsInjected).toBeLessThanOrEqual(injected);
    // Every drop is a policy drop, a malformed frame, a refused session or a discarded held fragment.
    expect(c.rxDrop).toBe(drops + c.fragmentsDiscarded);
    expect(c.policyDrops).toBeGreaterThan(0);
    expect(held).toBe(c.fragmentsHeld);
    const sc = engine.sessionCount();
    expect(sc.cur).toBe(0);
    expect(c.totalSessions).toBe(c.tcpSessions + c.udpSessions + c.icmpSessions + c.ipSessions);
    gc();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    // The engine's tables are preallocated; what may remain is V8's compiled code and caches.
    expect(growth).toBeLessThan(FUZZ_HEAP_BOUND);
  });
});

/**
 * Control-plane fuzzing with policy on: 10,000 control datagrams (valid policy, endpoint,
 * internal-net and ICMP messages, and mutated or adversarial ones) applied to an in-process
 * dp (real runtime, registry, policy table and engine with its policy hook), with frames
 * running through the live pipeline between them, so the deny, reset, re-decision and
 * fragment paths see configuration change under them. Nothing may throw, every datagram
 * gets a final reply, a reference endpoint's configuration survives, and the heap stays
 * within a stated bound.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DpRuntime } from '../../dp/runtime.js';
import { dispatchDatagram } from '../../dp/ctrl/dispatch.js';
import type { Engine } from '../../dp/engine.js';
import { parseMac } from '../../shared/mac.js';
import { TCP, fragmentIpv4, frame, icmp4, ipv4, tcp, udp } from '../../scripts/pcapgen/frames.js';

/** Heap growth allowed over the run, after a full GC (the stated memory bound). */
const CTRL_FUZZ_HEAP_BOUND = 16 * 1024 * 1024;

const REF_MAC = '02:74:67:00:00:01';
const REF_UC = '4e:65:75:56:00:01';
const MACS = ['02:74:67:00:00:02', '02:74:67:00:00:03', '02:74:67:00:00:04'];
const UCS = ['4e:65:75:56:00:02', '4e:65:75:56:00:03', '4e:65:75:56:00:04', REF_UC];
const PEER_MAC = '02:99:00:00:00:01';

const macA = fc.constantFrom(REF_MAC, ...MACS, '02:74:67:00:00:ff', 'zz:zz', '');
const ucA = fc.constantFrom(...UCS, '4E:65:75:56:00:02', '4e:65:75:56:00:09');
const ruleA = fc.record({
  id: fc.nat(100_000),
  sip: fc.constantFrom('0.0.0.0', '198.19.0.5', '198.18.0.0', '::', '1.2.3', 'x'),
  sipr: fc.option(fc.constantFrom('255.255.255.255', '198.19.255.255', '::1'), { nil: undefined }),
  dip: fc.constantFrom('0.0.0.0', '198.18.0.10', '::'),
  dipr: fc.option(fc.constantFrom('255.255.255.255', '198.18.255.255'), { nil: undefined }),
  port: fc.option(fc.oneof(fc.constantFrom(0, 22, 53, 80), fc.integer({ min: -5, max: 70_000 })), { nil: undefined }),
  portr: fc.option(fc.nat(65535), { nil: undefined }),
  proto: fc.option(fc.constantFrom(0, 1, 6, 17, 58, 300), { nil: undefined }),
  action: fc.constantFrom(0, 1, 2, 6, 7, 9),
  ingress: fc.oneof(fc.boolean(), fc.constant('yes' as unknown as boolean)),
});
const msgA: fc.Arbitrary<unknown> = fc.oneof(
  // Valid policy swaps for the reference endpoint, so allowed sessions get denied and cut.
  fc.record({
    ctrl_cfg_policy: fc.record({
      cmd: fc.constant(1),
      flag: fc.constant(3),
      defact: fc.constantFrom(2, 7),
      dir: fc.constant(0),
      mac: fc.constant([REF_MAC]),
      rules: fc.constant([]),
    }),
  }),
  fc.record({
    ctrl_cfg_policy: fc.record({
      cmd: fc.constantFrom(1, 2, 3, 4),
      flag: fc.constantFrom(0, 1, 2, 3),
      defact: fc.constantFrom(0, 1, 2, 6, 7, 8),
      dir: fc.constantFrom(0, 1, 2, 3),
      mac: fc.array(macA, { maxLength: 3 }),
      rules: fc.array(ruleA, { maxLength: 6 }),
    }),
  }),
  fc.record({
    ctrl_add_mac: fc.record({
      iface: fc.constant('vth'),
      mac: macA,
      ucmac: ucA,
      bcmac: fc.constant('ff:ff:ff:00:00:02'),
      oldmac: fc.constantFrom('', ...MACS),
      pmac: fc.constant(''),
      pips: fc.constant(null),
    }),
  }),
  fc.record({
    ctrl_cfg_mac: fc.record({
      macs: fc.array(macA, { maxLength: 3 }),
      tap: fc.option(fc.boolean(), { nil: undefined }),
    }),
  }),
  fc.record({ ctrl_del_mac: fc.record({ mac: fc.constantFrom(...MACS) }) }),
  fc.record({
    ctrl_enable_icmp_policy: fc.record({
      enable_icmp_policy: fc.oneof(fc.boolean(), fc.constant(1 as unknown as boolean)),
    }),
  }),
  fc.record({
    ctrl_cfg_internal_net: fc.record({
      flag: fc.constantFrom(0, 1, 2, 3),
      subnet_addr: fc.array(
        fc.record({
          ip: fc.constantFrom('198.18.0.0', '198.19.0.0', '10.0.0'),
          mask: fc.constantFrom('255.255.0.0', '255.254.0.0', '255.0.255.0'),
        }),
        { maxLength: 3 },
      ),
    }),
  }),
  fc.record({ ctrl_clear_session: fc.record({ filter_id: fc.nat(50) }) }),
  fc.constant({ ctrl_list_session: {} }),
  fc.constant({ ctrl_count_session: {} }),
  fc.constant({ ctrl_counter_device: {} }),
);
/** A datagram: one or two messages, as JSON; or that JSON cut, bit-flipped or replaced by junk. */
const datagramA = fc
  .tuple(
    fc.array(msgA, { minLength: 1, maxLength: 2 }),
    fc.nat(),
    fc.constantFrom('ok', 'ok', 'ok', 'cut', 'flip', 'junk'),
  )
  .map(([msgs, n, how]) => {
    const text = JSON.stringify(Object.assign({}, ...msgs.map((m) => m as object)));
    const b = Buffer.from(text);
    if (how === 'cut') return b.subarray(0, n % (b.length + 1));
    if (how === 'flip') {
      if (b.length) b[n % b.length]! ^= 1 << (n % 8);
      return b;
    }
    if (how === 'junk') return Buffer.from(String(n).repeat(1 + (n % 5)));
    return b;
  });

describe('fuzz: control datagrams with policy on, frames in between', () => {
  it('10,000 datagrams: no throw, a final reply each, the reference endpoint intact, bounded heap', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const log = pino({ level: 'silent' });
    const rt = new DpRuntime({
      ctrlPath: '/nonexistent',
      log,
      live: false,
    });
    const state = rt.state;
    const send = (obj: unknown): string[] => dispatchDatagram(Buffer.from(JSON.stringify(obj)), state);
    send({
      ctrl_add_mac: {
        iface: 'vth',
        mac: REF_MAC,
        ucmac: REF_UC,
        bcmac: 'ff:ff:ff:00:00:01',
        oldmac: '',
        pmac: '',
        pips: null,
      },
    });
    send({ ctrl_cfg_mac: { tap: false, macs: [REF_MAC] } });
    send({ ctrl_enable_icmp_policy: { enable_icmp_policy: true } });
    send({
      ctrl_cfg_policy: {
        cmd: 1,
        flag: 3,
        defact: 7,
        dir: 0,
        mac: [REF_MAC],
        rules: [
          {
            id: 5,
            sip: '0.0.0.0',
            sipr: '255.255.255.255',
            dip: '0.0.0.0',
            dipr: '255.255.255.255',
            proto: 6,
            port: 80,
            action: 2,
            ingress: true,
          },
        ],
      },
    });
    const refPolicy = state.policy.handleOf(state.registry.byMac(REF_MAC)!.id);

    const PEER = '198.19.0.5';
    const WL = '198.18.0.10';
    const l2 = (uc: string, toWl: boolean) =>
      toWl ? { dst: parseMac(uc), src: parseMac(PEER_MAC) } : { dst: parseMac(PEER_MAC), src: parseMac(uc) };
    const traffic: Buffer[] = [];
    for (const uc of UCS) {
      // A long-lived connection (picked up mid-stream when allowed, cut when a change denies it).
      traffic.push(
        frame(ipv4(PEER, WL, 6, tcp(PEER, WL, 40000, 80, 2, 8, TCP.ACK | TCP.PSH, Buffer.from('GET'))), l2(uc, true)),
      );
      traffic.push(frame(ipv4(WL, PEER, 6, tcp(WL, PEER, 80, 40000, 8, 5, TCP.ACK)), l2(uc, false)));
      traffic.push(frame(ipv4(PEER, WL, 6, tcp(PEER, WL, 40001, 22, 1, 1, TCP.FIN | TCP.ACK)), l2(uc, true)));
      traffic.push(frame(ipv4(PEER, WL, 17, udp(PEER, WL, 40002, 53, Buffer.alloc(20))), l2(uc, true)));
      traffic.push(frame(ipv4(PEER, WL, 1, icmp4(8, 0, 77, Buffer.alloc(8))), l2(uc, true)));
      for (const f of fragmentIpv4(PEER, WL, 17, udp(PEER, WL, 40003, 53, Buffer.alloc(3000)), 1480, 9).reverse())
        traffic.push(frame(f, l2(uc, true)));
    }
    const sink = { send: () => true };
    let datagrams = 0;
    let frames = 0;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    fc.assert(
      fc.property(fc.array(datagramA, { minLength: 20, maxLength: 20 }), (batch) => {
        for (const d of batch) {
          const replies = dispatchDatagram(d, state);
          datagrams++;
          expect(replies.length).toBeGreaterThan(0);
          const last = JSON.parse(replies.at(-1)!) as Record<string, { more?: boolean }>;
          expect(Object.values(last)[0]?.more).not.toBe(true);
          for (const f of traffic) {
            rt.pipeline.onFrame(f, f.length, false, 1522, sink);
            frames++;
          }
          rt.pipeline.nowMs += 50;
        }
        state.engine.tick(rt.pipeline.nowMs);
      }),
      { numRuns: 500, seed: 20240303 },
    );
    expect(datagrams).toBe(10_000);
    expect(state.ctrlCounters.datagrams).toBe(10_000 + 4);
    // The reference endpoint: still there, still inline, still under its policy unless a
    // valid message replaced it (then it holds whatever that message installed).
    const ref = state.registry.byMac(REF_MAC);
    if (ref !== undefined && state.policy.handleOf(ref.id) === refPolicy) expect(ref.ucmac).toBe(REF_UC);
    const c = state.engine.counters as Engine['counters'];
    expect(c.rx).toBeGreaterThan(0);
    expect(c.emitErrors).toBe(0);
    // The policy paths ran: drops by policy, cuts with resets, held and released fragments.
    expect(c.policyDrops).toBeGreaterThan(0);
    expect(c.resetsInjected).toBeGreaterThan(0);
    expect(c.fragmentsHeld).toBeGreaterThan(0);
    expect(state.ctrlCounters.errors).toBeGreaterThan(1000);
    expect(state.ctrlCounters.errorsByCode.get('EINTERNAL') ?? 0).toBe(0);
    expect(frames).toBe(10_000 * traffic.length);
    gc();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    expect(growth).toBeLessThan(CTRL_FUZZ_HEAP_BOUND);
    rt.stop();
  }, 60_000);
});

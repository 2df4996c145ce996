/**
 * Correctness and fail-safety of the engine the live dp runs (dp/engine.ts with the real
 * policy table behind dp/policy/engine-hook.ts), one describe per fail-safety property (docs/ARCHITECTURE.md):
 * fragments, sessions decided while tapped, packets without a session, re-evaluation,
 * IPv6 fragments and counters. Session ids across workers, limits without a policy and
 * the allocation measurement: fail-safety-engine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Verdict } from '../../dp/engine.js';
import { PacketView } from '../../dp/decode/packet.js';
import { decodeFrame } from '../../dp/decode/decode.js';
import { compileRules } from '../../dp/policy/policy-table.js';
import { newAddr, setV4 } from '../../dp/policy/address.js';
import { TcpConversation } from '../../scripts/pcapgen/tcp-conversation.js';
import { TCP, fragHeader, fragmentIpv4, frame, icmp4, ipv4, ipv6, tcp, udp } from '../../scripts/pcapgen/frames.js';
import { ALLOW, DB, DENY, LEARN, PEER, WEB, decoded, endpoint, rig, rule } from '../helpers/engine-rig.js';

describe('finding 1: fragments never fail closed under ordinary load', () => {
  /**
   * 20,000 UDP datagrams of 2 or 3 fragments within 5 s toward an inline workload whose
   * policy allows UDP 5000: a third in order, a third reversed, a third middle-first, IP
   * IDs reused every 256 datagrams with alternating sizes. Every fragment of every
   * datagram must go out (forwarded in place, or released after its first fragment).
   */
  it('20,000 fragmented datagrams (in order, reversed, IDs reused) forward every fragment', () => {
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], DENY, 0, compileRules([rule(10, 17, 5000, ALLOW)]));
    let fragments = 0;
    let forwarded = 0;
    let other = 0;
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const size = i % 2 === 0 ? 3000 : 2000;
      const seg = udp(PEER, WEB, 40000 + (i % 1000), 5000, Buffer.alloc(size - 8, i & 0xff));
      const frags = fragmentIpv4(PEER, WEB, 17, seg, 1480, i % 256).map((p) => frame(p));
      if (i % 3 === 1) frags.reverse();
      else if (i % 3 === 2) frags.push(frags.shift()!); // the first fragment last, the others in order
      fragments += frags.length;
      const now = 1000 + i * 0.25;
      for (const f of frags) {
        const v = r.engine.process(f, f.length, now, ep, true);
        if (v === Verdict.Forward) forwarded++;
        else if (v !== Verdict.Held) other++;
      }
    }
    const c = r.engine.counters;
    expect(other).toBe(0);
    expect(forwarded + r.injected.length).toBe(fragments);
    expect(c.fragmentsReleased).toBe(r.injected.length);
    expect(c.fragmentsReleased).toBeGreaterThan(N / 3);
    expect(c.rxDrop).toBe(0);
    expect(c.malformed['defrag.table_full'] + c.malformed['defrag.overlap']).toBe(0);
    expect(c.assemblies).toBe(N);
    // Every datagram's entry was freed as it completed: nothing waits for the 30 s expiry.
    r.engine.tick(1000 + N * 0.25 + 60_000);
    expect(c.timeoutFragments).toBe(0);
  });

  it('a denied datagram sent in reverse is held, then dropped whole when its first fragment is denied', () => {
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], DENY, 0, compileRules([rule(10, 17, 5000, ALLOW)]));
    const seg = udp(PEER, WEB, 40000, 6000, Buffer.alloc(3000, 1));
    const frags = fragmentIpv4(PEER, WEB, 17, seg, 1480, 9)
      .map((p) => frame(p))
      .reverse();
    const verdicts = frags.map((f) => r.engine.process(f, f.length, 1000, ep, true));
    expect(verdicts).toEqual([Verdict.Held, Verdict.Held, Verdict.Drop]);
    expect(r.injected).toHaveLength(0);
    expect(r.engine.counters.fragmentsDiscarded).toBe(2);
    expect(ep.counters.dropPackets).toBe(3); // each fragment of the datagram, held ones included
  });

  it('an IP ID reused at once with other fragment sizes is a new datagram, not an overlap', () => {
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], DENY, 0, compileRules([rule(10, 17, 5000, ALLOW)]));
    const a = fragmentIpv4(PEER, WEB, 17, udp(PEER, WEB, 40000, 5000, Buffer.alloc(2992)), 1480, 77).map((p) =>
      frame(p),
    );
    const b = fragmentIpv4(PEER, WEB, 17, udp(PEER, WEB, 40000, 5000, Buffer.alloc(2992)), 1000, 77).map((p) =>
      frame(p),
    );
    const v = [...a, ...b].map((f) => r.engine.process(f, f.length, 1000, ep, true));
    expect(v.every((x) => x === Verdict.Forward)).toBe(true);
    expect(r.engine.counters.malformed['defrag.overlap']).toBe(0);
  });

  it('an overlap after more than 16 pieces is still caught', () => {
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], DENY, 0, compileRules([rule(10, 17, 5000, ALLOW)]));
    const seg = udp(PEER, WEB, 40000, 5000, Buffer.alloc(200, 3));
    const pieces = fragmentIpv4(PEER, WEB, 17, seg, 8, 5).map((p) => frame(p));
    const head = pieces.slice(0, 20);
    for (const f of head) expect(r.engine.process(f, f.length, 1000, ep, true)).toBe(Verdict.Forward);
    // A rewrite of bytes 144..160 (pieces 18 and 19) with other content.
    const evil = frame(ipv4(PEER, WEB, 17, Buffer.alloc(16, 0xee), { id: 5, fragOffset: 144, more: true }));
    expect(r.engine.process(evil, evil.length, 1000, ep, true)).toBe(Verdict.Drop);
    expect(r.engine.counters.malformed['defrag.overlap']).toBe(1);
  });

  it("one endpoint's incomplete datagrams cannot use up the fragment state of another", () => {
    const r = rig({ fragments: { capacity: 64, perEndpoint: 16 } });
    const a = endpoint(1, false);
    const b = endpoint(2, false);
    r.table.setPolicy([1, 2], DENY, 0, compileRules([rule(10, 17, 5000, ALLOW)]));
    for (let i = 0; i < 100; i++) {
      const first = fragmentIpv4(PEER, WEB, 17, udp(PEER, WEB, 40000, 5000, Buffer.alloc(3000)), 1480, i)[0]!;
      const f = frame(first);
      r.engine.process(f, f.length, 1000, a, true);
    }
    expect(r.engine.counters.malformed['defrag.endpoint_full']).toBe(100 - 16);
    const frags = fragmentIpv4(PEER, DB, 17, udp(PEER, DB, 40000, 5000, Buffer.alloc(3000)), 1480, 1).map((p) =>
      frame(p),
    );
    expect(frags.map((f) => r.engine.process(f, f.length, 1000, b, true)).every((v) => v === Verdict.Forward)).toBe(
      true,
    );
  });
});

describe('finding 2: a session denied while its endpoint is tapped', () => {
  it('is reported at once, and cut with resets both ways on its first packet once inline', () => {
    const r = rig();
    const ep = endpoint(1, true);
    r.table.setPolicy([1], LEARN, 0, compileRules([]));
    const t = new TcpConversation(PEER, WEB, 41000, 8080);
    for (const f of [...t.handshake(), t.data('c', Buffer.from('hello'))])
      r.engine.process(f, f.length, 1000, ep, decoded(f).dport === 8080);
    expect(r.engine.sessionCount().cur).toBe(1);
    // learn → protect: policy first (default DENY) while still tapped: reported as a violation at once.
    r.table.setPolicy([1], DENY, 0, compileRules([]));
    const d1 = t.data('s', Buffer.from('x'));
    expect(r.engine.process(d1, d1.length, 1001, ep, false)).toBe(Verdict.Forward);
    const reported = r.events.filter((e) => e.type === 'session.policy');
    expect(reported).toEqual([
      expect.objectContaining({ action: DENY, prevAction: LEARN, dropped: false, reset: false }),
    ]);
    // Then the endpoint goes inline (ctrl_cfg_mac tap:false bumps the version).
    ep.tap = false;
    r.table.touch([1]);
    const d2 = t.data('c', Buffer.from('more'));
    expect(r.engine.process(d2, d2.length, 1002, ep, true)).toBe(Verdict.Drop);
    const cut = r.events.filter((e) => e.type === 'session.policy').at(-1);
    expect(cut).toMatchObject({ action: DENY, dropped: true, reset: true });
    expect(r.injected).toHaveLength(2);
    const toServer = decoded(r.injected[0]!);
    const toClient = decoded(r.injected[1]!);
    expect([toServer.tcpFlags & TCP.RST, toClient.tcpFlags & TCP.RST]).toEqual([TCP.RST, TCP.RST]);
    expect(new Set([toServer.dport, toClient.dport])).toEqual(new Set([8080, 41000]));
    // Later packets drop quietly: one cut, one pair of resets.
    const d3 = t.data('s', Buffer.from('late'));
    expect(r.engine.process(d3, d3.length, 1003, ep, false)).toBe(Verdict.Drop);
    expect(r.injected).toHaveLength(2);
  });
});

describe('finding 3: packets without a session on a default-deny inline endpoint', () => {
  const setup = () => {
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], DENY, 0, compileRules([rule(10, 6, 80, ALLOW)]));
    return { r, ep };
  };

  it('FIN (with payload), RST and ACK-only to a denied port are dropped and counted', () => {
    const { r, ep } = setup();
    const fin = frame(
      ipv4(PEER, WEB, 6, tcp(PEER, WEB, 42000, 22, 100, 1, TCP.FIN | TCP.ACK | TCP.PSH, Buffer.from('data'))),
    );
    const rst = frame(ipv4(PEER, WEB, 6, tcp(PEER, WEB, 42001, 22, 100, 0, TCP.RST)));
    const ack = frame(ipv4(PEER, WEB, 6, tcp(PEER, WEB, 42002, 22, 100, 1, TCP.ACK)));
    expect([fin, rst, ack].map((f) => r.engine.process(f, f.length, 1000, ep, true))).toEqual([
      Verdict.Drop,
      Verdict.Drop,
      Verdict.Drop,
    ]);
    expect(r.engine.counters.tcpNoSessionDrops).toBe(2);
    expect(r.engine.counters.policyDrops).toBe(3);
    expect(ep.counters.dropPackets).toBe(3);
  });

  it('FIN and RST to an allowed port still pass, and mid-stream pickup of an allowed flow stays', () => {
    const { r, ep } = setup();
    const fin = frame(ipv4(PEER, WEB, 6, tcp(PEER, WEB, 42000, 80, 100, 1, TCP.FIN | TCP.ACK)));
    const ack = frame(ipv4(PEER, WEB, 6, tcp(PEER, WEB, 42003, 80, 100, 1, TCP.ACK, Buffer.from('GET'))));
    expect([fin, ack].map((f) => r.engine.process(f, f.length, 1000, ep, true))).toEqual([
      Verdict.Forward,
      Verdict.Forward,
    ]);
    expect(r.engine.listSessions()).toEqual([expect.objectContaining({ serverPort: 80, tcpState: 'established' })]);
  });

  it('an ICMP error without a session passes only if the ICMP policy allows it', () => {
    const { r, ep } = setup();
    r.table.enableIcmpPolicy = true;
    const quoted = ipv4(WEB, PEER, 17, udp(WEB, PEER, 5353, 9999, Buffer.alloc(8))).subarray(0, 28);
    const err = frame(ipv4(PEER, WEB, 1, icmp4(3, 3, 0, quoted)));
    expect(r.engine.process(err, err.length, 1000, ep, true)).toBe(Verdict.Drop);
    expect(r.engine.counters.icmpErrorNoSessionDrops).toBe(1);
    r.table.setPolicy([1], DENY, 0, compileRules([rule(11, 1, 0, ALLOW)]));
    expect(r.engine.process(err, err.length, 1001, ep, true)).toBe(Verdict.Forward);
  });
});

describe('finding 4: every policy input moves the version sessions were decided under', () => {
  it('a change of the internal nets decides sessions again', () => {
    const r = rig();
    const ep = endpoint(1, false);
    const v4 = (ip: string, bits: number) => {
      const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
      const n = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      return { lo: setV4(newAddr(), n & mask), hi: setV4(newAddr(), ((n & mask) | ~mask) >>> 0) };
    };
    r.table.setInternalNets([v4('198.18.0.0', 24)]);
    // Allowed for external peers only (NeuVector's 0.0.0.0 "external" rule).
    r.table.setPolicy(
      [1],
      DENY,
      0,
      compileRules([{ id: 12, sip: '0.0.0.0', dip: WEB, port: 80, proto: 6, action: ALLOW, ingress: true }]),
    );
    const t = new TcpConversation(PEER, WEB, 43000, 80);
    for (const [i, f] of t.handshake().entries())
      expect(r.engine.process(f, f.length, 1000, ep, i !== 1)).toBe(Verdict.Forward);
    r.table.setInternalNets([v4('198.18.0.0', 15)]); // the peer is internal now: the rule no longer applies
    const d = t.data('c', Buffer.from('x'));
    expect(r.engine.process(d, d.length, 1001, ep, true)).toBe(Verdict.Drop);
    expect(r.injected).toHaveLength(2);
  });

  it('turning on ctrl_enable_icmp_policy decides ICMP sessions again', () => {
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], DENY, 0, compileRules([]));
    const echo = (seq: number) => frame(ipv4(PEER, WEB, 1, icmp4(8, 0, (7 << 16) | seq, Buffer.alloc(8))));
    const e1 = echo(1);
    expect(r.engine.process(e1, e1.length, 1000, ep, true)).toBe(Verdict.Forward);
    r.table.enableIcmpPolicy = true;
    const e2 = echo(2);
    expect(r.engine.process(e2, e2.length, 1001, ep, true)).toBe(Verdict.Drop);
  });
});

describe('finding 5: IPv6 non-first fragments', () => {
  it('a later fragment whose fragment header names an extension header is payload, not a header', () => {
    const src = '2001:db8::5';
    const dst = '2001:db8::10';
    // Fragmentable part: destination options (next: UDP) + UDP datagram of 2000 bytes.
    const dstOpts = Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]);
    const body = Buffer.concat([dstOpts, udp(src, dst, 40000, 5000, Buffer.alloc(2000, 0xff))]);
    const frags = [0, 1232].map((off) =>
      frame(ipv6(src, dst, 44, body.subarray(off, off + 1232), fragHeader(60, off, off + 1232 < body.length, 4242))),
    );
    const p = new PacketView();
    expect(decodeFrame(p, frags[1]!, 0, frags[1]!.length, frags[1]!.length)).toBe(0);
    expect(p.isFragment && p.fragOffset === 1232).toBe(true);
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], ALLOW, 0, compileRules([]));
    expect(frags.map((f) => r.engine.process(f, f.length, 1000, ep, true))).toEqual([Verdict.Forward, Verdict.Forward]);
    expect(r.engine.counters.error).toBe(0);
  });
});

describe('finding 6: counters', () => {
  it('a UDP session cut mid-session by a new policy is reported dropped', () => {
    const r = rig();
    const ep = endpoint(1, false);
    r.table.setPolicy([1], ALLOW, 0, compileRules([]));
    const f = frame(ipv4(PEER, WEB, 17, udp(PEER, WEB, 40000, 53, Buffer.alloc(10))));
    r.engine.process(f, f.length, 1000, ep, true);
    r.table.setPolicy([1], DENY, 0, compileRules([]));
    expect(r.engine.process(f, f.length, 1001, ep, true)).toBe(Verdict.Drop);
    expect(r.events.filter((e) => e.type === 'session.policy')).toEqual([
      expect.objectContaining({ proto: 'udp', action: DENY, dropped: true, reset: false }),
    ]);
  });
});

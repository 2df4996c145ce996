/**
 * Engine behaviour on generator-built packets: TCP state machine, fragments, ICMP errors,
 * VLAN, malformed frames, policy seam, timeouts and control operations.
 */
import { describe, expect, it } from 'vitest';
import { Engine, Verdict, type EngineEvent, type PolicyHook } from '../../dp/engine.js';
import { newCounters, type Endpoint } from '../../dp/endpoints/endpoint.js';
import { buildCase } from '../../scripts/pcapgen/cases.js';
import { TcpConversation } from '../../scripts/pcapgen/tcp-conversation.js';
import { TCP, frame, icmp4, ipv4, udp } from '../../scripts/pcapgen/frames.js';

function endpoint(id: number, tap: boolean): Endpoint {
  return { id, iface: 'vth', mac: '', ucmac: '', bcmac: '', macNum: 0, ucmacNum: 0, tap, counters: newCounters() };
}

function run(
  frames: Buffer[],
  opts: { tap?: boolean; policy?: PolicyHook; t0?: number; inject?: (f: Buffer, len: number) => void } = {},
) {
  const events: EngineEvent[] = [];
  const engine = new Engine({
    emit: (e) => events.push(e),
    ...(opts.policy ? { policy: opts.policy } : {}),
    ...(opts.inject ? { inject: opts.inject } : {}),
  });
  const ep = endpoint(3, opts.tap ?? true);
  const verdicts = frames.map((f, i) => engine.process(f, f.length, (opts.t0 ?? 1000) + i, ep, true));
  return { engine, events, verdicts, ep };
}

const ends = (ev: EngineEvent[]) => ev.filter((e) => e.type === 'session.end');
const starts = (ev: EngineEvent[]) => ev.filter((e) => e.type === 'session.start');

describe('ICMP echo orientation', () => {
  it('an echo reply seen first still makes the requester the client', () => {
    const reply = frame(ipv4('198.18.0.10', '198.18.0.1', 1, icmp4(0, 0, (7 << 16) | 1, Buffer.alloc(8))));
    const request = frame(ipv4('198.18.0.1', '198.18.0.10', 1, icmp4(8, 0, (7 << 16) | 2, Buffer.alloc(8))));
    const { engine } = run([reply, request]);
    expect(engine.listSessions()).toEqual([
      expect.objectContaining({ client: '198.18.0.1', server: '198.18.0.10', pktsToServer: 1, pktsToClient: 1 }),
    ]);
  });
});

describe('TCP state machine', () => {
  it('handshake, data, FIN both ways: one session, closed, ends with reason fin after the close timeout', () => {
    const { engine, events } = run(buildCase('tcp-full').map((f) => f.bytes));
    expect(engine.sessionCount()).toMatchObject({ cur: 1, tcp: 1 });
    expect(engine.listSessions()[0]).toMatchObject({
      client: '198.18.0.10',
      clientPort: 40000,
      server: '198.19.0.20',
      serverPort: 80,
      tcpState: 'closed',
      pktsToServer: 6,
      pktsToClient: 4,
    });
    engine.tick(1000 + 14_000);
    expect(ends(events)).toHaveLength(0);
    engine.tick(1000 + 16_000);
    expect(ends(events)).toEqual([
      expect.objectContaining({ reason: 'fin', proto: 'tcp', pktsToServer: 6, pktsToClient: 4 }),
    ]);
    expect(engine.sessionCount().cur).toBe(0);
  });

  it('RST ends the session with reason rst', () => {
    const { engine, events } = run(buildCase('tcp-rst').map((f) => f.bytes));
    expect(engine.listSessions()[0]?.tcpState).toBe('reset');
    engine.closeAll('eof');
    expect(ends(events)[0]).toMatchObject({ reason: 'rst', serverPort: 8080 });
  });

  it('mid-stream pickup: lower port is the server, flagged midstream', () => {
    const { events } = run(buildCase('tcp-midstream').map((f) => f.bytes));
    expect(starts(events)).toEqual([
      expect.objectContaining({ midstream: true, server: '198.19.0.20', serverPort: 443, clientPort: 40002 }),
    ]);
  });

  it('SYN-ACK first: its sender is the server', () => {
    const t = new TcpConversation('198.18.1.1', '198.19.1.1', 33333, 22);
    t.segment('c', TCP.SYN); // not captured
    const { events } = run([t.segment('s', TCP.SYN | TCP.ACK), t.ack('c')]);
    expect(starts(events)[0]).toMatchObject({ server: '198.19.1.1', serverPort: 22, midstream: false });
  });

  it('retransmitted segment stays in the same session', () => {
    const { engine } = run(buildCase('tcp-retransmission').map((f) => f.bytes));
    expect(engine.counters.tcpSessions).toBe(1);
    expect(engine.listSessions()[0]).toMatchObject({ pktsToServer: 6, pktsToClient: 3 });
  });

  it('RST or FIN never creates a session', () => {
    const t = new TcpConversation('198.18.1.2', '198.19.1.2', 33334, 80);
    const { engine } = run([t.rst('c'), t.segment('s', TCP.FIN | TCP.ACK)]);
    expect(engine.counters.tcpSessions).toBe(0);
    expect(engine.counters.tcpNoSession).toBe(2);
  });

  it('a new SYN on a closed tuple starts a new session (port reuse)', () => {
    const a = new TcpConversation('198.18.1.3', '198.19.1.3', 40000, 80);
    const b = new TcpConversation('198.18.1.3', '198.19.1.3', 40000, 80, {}, [9000, 9900]);
    const { engine, events } = run([...a.handshake(), ...a.close('c'), ...b.handshake()]);
    expect(engine.counters.tcpSessions).toBe(2);
    expect(ends(events)[0]).toMatchObject({ reason: 'fin' });
  });

  it('handshake without data expires after 30 s; open (SYN only) after 20 s', () => {
    const a = new TcpConversation('198.18.1.4', '198.19.1.4', 40001, 80);
    const b = new TcpConversation('198.18.1.5', '198.19.1.5', 40002, 80);
    const { engine, events } = run([...a.handshake(), b.segment('c', TCP.SYN)]);
    engine.tick(1000 + 21_000);
    expect(ends(events).map((e) => e.type === 'session.end' && e.clientPort)).toEqual([40002]);
    engine.tick(1000 + 31_000);
    expect(ends(events)).toHaveLength(2);
    expect(ends(events).every((e) => e.type === 'session.end' && e.reason === 'timeout')).toBe(true);
  });
});

describe('fragments', () => {
  it("IPv4: every fragment follows the first fragment's session; duplicate counted; datagram complete", () => {
    const { engine } = run(buildCase('ipv4-fragments').map((f) => f.bytes));
    expect(engine.counters.udpSessions).toBe(1);
    expect(engine.counters.fragments).toBe(4);
    expect(engine.counters.duplicateFragments).toBe(1);
    expect(engine.counters.assemblies).toBe(1);
    expect(engine.listSessions()[0]).toMatchObject({ pktsToServer: 4, clientPort: 5000, serverPort: 5001 });
  });

  it('IPv6: fragmented echo request and reply are one ICMP session', () => {
    const frames = buildCase('ipv6-fragments').map((f) => f.bytes);
    const { engine } = run(frames);
    expect(engine.counters.icmpSessions).toBe(1);
    expect(engine.counters.assemblies).toBe(2);
    const s = engine.listSessions()[0]!;
    expect(s.pktsToServer + s.pktsToClient).toBe(frames.length);
    expect(s.ipVersion).toBe(6);
  });

  it('overlapping fragments (teardrop) are malformed and dropped inline', () => {
    const frames = buildCase('teardrop').map((f) => f.bytes);
    const { verdicts, engine, events } = run(frames, { tap: false });
    expect(verdicts).toEqual([Verdict.Forward, Verdict.Drop]);
    expect(engine.counters.malformed['defrag.overlap']).toBe(1);
    expect(events.find((e) => e.type === 'malformed')).toMatchObject({
      reason: 'defrag.overlap',
      frame: 2,
      dropped: true,
    });
  });

  it('a later fragment without its first fragment is dropped inline when nothing could send it later, forwarded on tap', () => {
    const rest = buildCase('ipv4-fragments')
      .map((f) => f.bytes)
      .slice(1);
    expect(run(rest, { tap: false }).verdicts.every((v) => v === Verdict.Drop)).toBe(true);
    const tap = run(rest, { tap: true });
    expect(tap.verdicts.every((v) => v === Verdict.Forward)).toBe(true);
  });

  it('with an inject hook, later fragments are held; never joined by their first fragment, they expire as no_first_fragment', () => {
    const rest = buildCase('ipv4-fragments')
      .map((f) => f.bytes)
      .slice(1);
    const inl = run(rest, { tap: false, inject: () => {} });
    expect(inl.verdicts.every((v) => v === Verdict.Held)).toBe(true);
    inl.engine.tick(1000 + 60_000);
    expect(inl.engine.counters.malformed['defrag.no_first_fragment']).toBe(3);
    expect(inl.engine.counters.fragmentsDiscarded).toBe(3);
    expect(inl.ep.counters.dropPackets).toBe(3);
  });
});

describe('decode paths', () => {
  it('802.1Q and QinQ frames decode to their sessions', () => {
    const { engine } = run(buildCase('vlan').map((f) => f.bytes));
    expect(engine.counters).toMatchObject({ tcpSessions: 1, udpSessions: 1, error: 0 });
  });

  it('ICMP errors map onto the quoted flow and never create sessions', () => {
    const { engine } = run(buildCase('icmp-errors').map((f) => f.bytes));
    expect(engine.counters).toMatchObject({
      udpSessions: 1,
      tcpSessions: 1,
      icmpSessions: 0,
      icmpErrors: 3,
      icmpErrorNoSession: 1,
    });
    const udpS = engine.listSessions().find((s) => s.proto === 'udp')!;
    const tcpS = engine.listSessions().find((s) => s.proto === 'tcp')!;
    expect([udpS.pktsToServer, udpS.pktsToClient]).toEqual([1, 1]);
    expect([tcpS.pktsToServer, tcpS.pktsToClient]).toEqual([1, 1]);
  });

  it('malformed lengths: each reason named, dropped inline, forwarded on tap', () => {
    const frames = buildCase('malformed-lengths').map((f) => f.bytes);
    const inline = run(frames, { tap: false });
    expect(inline.verdicts.every((v) => v === Verdict.Drop)).toBe(true);
    expect(inline.events.map((e) => e.type === 'malformed' && e.reason)).toEqual([
      'decoder.ipv4.trunc_pkt',
      'decoder.tcp.hlen_too_small',
      'decoder.udp.hlen_invalid',
      'decoder.ethernet.pkt_too_small',
    ]);
    expect(inline.ep.counters.dropPackets).toBe(4);
    const tap = run(frames, { tap: true });
    expect(tap.verdicts.every((v) => v === Verdict.Forward)).toBe(true);
    expect(tap.engine.counters.error).toBe(4);
  });

  it('the buffer is not retained: reusing it after process() does not change the session', () => {
    const engine = new Engine();
    const buf = Buffer.alloc(2048);
    const f = frame(
      ipv4('198.18.2.1', '198.19.2.1', 17, udp('198.18.2.1', '198.19.2.1', 1111, 2222, Buffer.alloc(10))),
    );
    f.copy(buf);
    engine.process(buf, f.length, 1, null, true);
    buf.fill(0xff);
    expect(engine.listSessions()[0]).toMatchObject({ client: '198.18.2.1', clientPort: 1111, serverPort: 2222 });
  });
});

describe('policy seam and control operations', () => {
  it('DENY drops on inline endpoints only (no session for a denied first packet); a version change re-evaluates', () => {
    let version = 1;
    let deny = true;
    const asked: number[] = [];
    const policy: PolicyHook = {
      version: () => version,
      decide: (_ep, q, out) => {
        asked.push(q.dport);
        out.action = deny && q.dport === 80 ? 7 : 2;
        out.ruleId = deny ? 1001 : 1002;
      },
    };
    const t = new TcpConversation('198.18.3.1', '198.19.3.1', 41000, 80);
    const hs = t.handshake();
    const inline = run(hs, { tap: false, policy });
    expect(inline.verdicts).toEqual([Verdict.Drop, Verdict.Drop, Verdict.Drop]);
    // Each denied packet is decided on its own and leaves no session behind (NeuVector).
    expect(starts(inline.events)).toHaveLength(0);
    expect(inline.events.filter((e) => e.type === 'policy.deny')).toHaveLength(3);
    expect(inline.events.find((e) => e.type === 'policy.deny')).toMatchObject({
      action: 7,
      ruleId: 1001,
      serverPort: 80,
    });
    expect(inline.engine.sessionCount().cur).toBe(0);
    expect(asked).toEqual([80, 80, 80]);
    deny = false;
    version = 2;
    const d = t.data('c', Buffer.from('x'));
    expect(inline.engine.process(d, d.length, 2000, inline.ep, true)).toBe(Verdict.Forward);
    expect(inline.engine.listSessions()[0]).toMatchObject({ action: 2, ruleId: 1002 });
    // Policy turns to DENY mid-session: the next packet is dropped and the session cut with resets both ways.
    const injected: Buffer[] = [];
    const cut = run(t.handshake(), {
      tap: false,
      policy,
      inject: (f: Buffer, len: number) => injected.push(Buffer.from(f.subarray(0, len))),
    });
    expect(cut.verdicts).toEqual([Verdict.Forward, Verdict.Forward, Verdict.Forward]);
    deny = true;
    version = 4;
    const d2 = t.data('c', Buffer.from('yy'));
    expect(cut.engine.process(d2, d2.length, 3000, cut.ep, true)).toBe(Verdict.Drop);
    expect(injected).toHaveLength(2);
    // Toward the receiver: the packet's own L2 header, RST; back to the sender: MACs swapped, RST|ACK.
    expect(injected[0]!.subarray(0, 12)).toEqual(d2.subarray(0, 12));
    expect(injected[0]![14 + 20 + 13]).toBe(0x04);
    expect(injected[1]!.subarray(0, 6)).toEqual(d2.subarray(6, 12));
    expect(injected[1]![14 + 20 + 13]).toBe(0x14);
    expect(cut.events.find((e) => e.type === 'session.policy')).toMatchObject({
      action: 7,
      prevAction: 2,
      reset: true,
    });
    deny = false;
    deny = true;
    version = 3;
    const tap = run(new TcpConversation('198.18.3.2', '198.19.3.2', 41001, 80).handshake(), { tap: true, policy });
    expect(tap.verdicts.every((v) => v === Verdict.Forward)).toBe(true);
  });

  it('endpoint counters, purgeEndpoint, clearSessions, listSessions', () => {
    const engine = new Engine();
    const a = endpoint(1, true);
    const b = endpoint(2, true);
    const mk = (i: number) =>
      frame(ipv4('198.18.4.1', '198.19.4.1', 17, udp('198.18.4.1', '198.19.4.1', 1000 + i, 53, Buffer.alloc(4))));
    for (let i = 0; i < 3; i++) {
      const f = mk(i);
      engine.process(f, f.length, 1, a, false);
    }
    for (let i = 3; i < 5; i++) {
      const f = mk(i);
      engine.process(f, f.length, 1, b, true);
    }
    expect(a.counters).toMatchObject({ txPackets: 3, sessions: 3, curSessions: 3 });
    expect(b.counters).toMatchObject({ rxPackets: 2, sessions: 2, curSessions: 2 });
    expect(engine.listSessions(2)).toHaveLength(2);
    expect(engine.purgeEndpoint(1)).toBe(3);
    expect(a.counters.curSessions).toBe(0);
    const id = engine.listSessions()[0]!.id;
    expect(engine.clearSessions(id)).toBe(1);
    expect(engine.clearSessions()).toBe(1);
    expect(engine.sessionCount()).toEqual({ cur: 0, tcp: 0, udp: 0, icmp: 0, ip: 0 });
  });

  it('a full session table fails closed inline and keeps inspecting on tap', () => {
    const engine = new Engine({ maxSessions: 2, failSafe: { sessionsPerEndpoint: 3 } });
    const inl = endpoint(1, false);
    const verdicts = [0, 1, 2].map((i) => {
      const f = frame(
        ipv4('198.18.5.1', '198.19.5.1', 17, udp('198.18.5.1', '198.19.5.1', 2000 + i, 53, Buffer.alloc(4))),
      );
      return engine.process(f, f.length, 1, inl, true);
    });
    expect(verdicts).toEqual([Verdict.Forward, Verdict.Forward, Verdict.Drop]);
    expect(engine.counters.sessionTableFull).toBe(1);
  });

  it('timestamps going backwards are held at the latest time', () => {
    const f = frame(ipv4('198.18.6.1', '198.19.6.1', 17, udp('198.18.6.1', '198.19.6.1', 1, 2, Buffer.alloc(4))));
    const engine = new Engine();
    engine.process(f, f.length, 10_000, null, true);
    engine.process(f, f.length, 5_000, null, true);
    expect(engine.counters.clockBackwards).toBe(1);
    expect(engine.listSessions()[0]?.lastMs).toBe(10_000);
  });
});

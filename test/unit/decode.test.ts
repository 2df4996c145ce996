/** Decoder details on hand-built frames: the packet view's fields and each failure's reason name. */
import { describe, expect, it } from 'vitest';
import { PacketView } from '../../dp/decode/packet.js';
import { decodeFrame } from '../../dp/decode/decode.js';
import { REASONS, reasonName } from '../../dp/decode/reasons.js';
import { Engine } from '../../dp/engine.js';
import { TCP, ethernet, fragHeader, frame, icmp4, ipv4, ipv6, tcp, udp } from '../../scripts/pcapgen/frames.js';

const p = new PacketView();
const dec = (f: Buffer, wire = f.length) => reasonName(decodeFrame(p, f, 0, f.length, wire));

const C = '198.18.0.1';
const S = '198.19.0.1';
const C6 = '2001:db8::1';
const S6 = '2001:db8::2';

describe('decoders', () => {
  it('reason names are unique dotted names', () => {
    expect(new Set(REASONS).size).toBe(REASONS.length);
    expect(REASONS.slice(1).every((r) => /^[a-z0-9]+(\.[a-z0-9_]+)+$/.test(r))).toBe(true);
  });

  it('IPv4 TCP: addresses as v4-mapped words, ports, flags, payload length', () => {
    expect(dec(frame(ipv4(C, S, 6, tcp(C, S, 1234, 80, 7, 0, TCP.SYN, Buffer.alloc(5)))))).toBe('ok');
    expect([...p.addr]).toEqual([0, 0, 0xffff, 0xc6120001, 0, 0, 0xffff, 0xc6130001]);
    expect(p).toMatchObject({
      ipVersion: 4,
      ipProto: 6,
      sport: 1234,
      dport: 80,
      tcpFlags: TCP.SYN,
      tcpSeq: 7,
      payloadLen: 5,
    });
  });

  it('IPv4 options: valid ones pass, a bad option length is opt_invalid', () => {
    const good = ipv4(C, S, 17, udp(C, S, 1, 2, Buffer.alloc(4)));
    const withOpts = Buffer.concat([
      good.subarray(0, 20),
      Buffer.from([1, 1, 0x94, 4, 0, 0]),
      Buffer.from([0, 0]),
      good.subarray(20),
    ]);
    withOpts[0] = 0x47;
    withOpts.writeUInt16BE(withOpts.length, 2);
    expect(dec(ethernet(withOpts, 0x0800))).toBe('ok');
    expect(p.sport).toBe(1);
    withOpts[23] = 9; // router-alert option claims 9 bytes inside an 8-byte options area
    expect(dec(ethernet(withOpts, 0x0800))).toBe('decoder.ipv4.opt_invalid');
  });

  it('IPv6 extension headers (hop-by-hop, routing, dest opts, AH) are walked to the upper layer', () => {
    const seg = udp(C6, S6, 5353, 53, Buffer.alloc(6));
    const hbh = Buffer.from([43, 0, 1, 4, 0, 0, 0, 0]); // → routing
    const rt = Buffer.from([60, 0, 0, 0, 0, 0, 0, 0]); // → dest opts
    const dst = Buffer.from([51, 0, 1, 4, 0, 0, 0, 0]); // → AH
    const ah = Buffer.alloc(16);
    ah[0] = 17;
    ah[1] = 2; // (2+2)*4 = 16 bytes → UDP
    expect(dec(frame(ipv6(C6, S6, 0, seg, Buffer.concat([hbh, rt, dst, ah]))))).toBe('ok');
    expect(p).toMatchObject({ ipVersion: 6, ipProto: 17, sport: 5353, dport: 53, isFragment: false });
  });

  it('an IPv6 atomic fragment is a whole packet; a real fragment is flagged with its id', () => {
    const seg = tcp(C6, S6, 1000, 80, 1, 0, TCP.SYN);
    expect(dec(frame(ipv6(C6, S6, 44, seg, fragHeader(6, 0, false, 5))))).toBe('ok');
    expect(p).toMatchObject({ isFragment: false, ipProto: 6, dport: 80 });
    expect(dec(frame(ipv6(C6, S6, 44, seg.subarray(0, 8), fragHeader(6, 16, true, 9))))).toBe('ok');
    expect(p).toMatchObject({ isFragment: true, fragOffset: 16, moreFragments: true, fragId: 9 });
  });

  it('too many extension headers, truncated extension header', () => {
    const dopt = (nh: number) => Buffer.from([nh, 0, 1, 4, 0, 0, 0, 0]);
    const nine = Buffer.concat([
      ...Array(8)
        .fill(0)
        .map(() => dopt(60)),
      dopt(59),
    ]);
    expect(dec(frame(ipv6(C6, S6, 60, Buffer.alloc(0), nine)))).toBe('decoder.ipv6.exthdr_too_many');
    expect(dec(frame(ipv6(C6, S6, 60, Buffer.alloc(0), Buffer.from([59, 3, 0, 0, 0, 0, 0, 0]))))).toBe(
      'decoder.ipv6.exthdr_trunc',
    );
  });

  it('VLAN: 802.1Q id recorded, QinQ stacks, four tags are too many', () => {
    const l3 = ipv4(C, S, 17, udp(C, S, 1, 2, Buffer.alloc(2)));
    expect(dec(frame(l3, { vlans: [42] }))).toBe('ok');
    expect(p).toMatchObject({ vlanCount: 1, vlanId: 42, sport: 1 });
    expect(dec(frame(l3, { vlans: [10, 20] }))).toBe('ok');
    expect(p.vlanCount).toBe(2);
    expect(dec(frame(l3, { vlans: [1, 2, 3, 4] }))).toBe('decoder.vlan.too_many_layers');
  });

  it('ICMP error carries the inner tuple; too short a quote is named', () => {
    const inner = ipv4(C, S, 17, udp(C, S, 3333, 53, Buffer.alloc(4)));
    expect(dec(frame(ipv4(S, C, 1, icmp4(3, 3, 0, inner.subarray(0, 28)))))).toBe('ok');
    expect(p).toMatchObject({ hasInner: true, innerProto: 17, innerSport: 3333, innerDport: 53 });
    expect(dec(frame(ipv4(S, C, 1, icmp4(3, 3, 0, inner.subarray(0, 21)))))).toBe('decoder.icmpv4.ipv4_trunc_pkt');
  });

  it('snaplen-truncated frame decodes its headers; a frame over 64 KiB is refused', () => {
    const f = frame(ipv4(C, S, 6, tcp(C, S, 1, 2, 0, 0, TCP.ACK, Buffer.alloc(1000))));
    const cut = f.subarray(0, 60);
    expect(reasonName(decodeFrame(p, cut, 0, cut.length, f.length))).toBe('ok');
    expect(p).toMatchObject({ sport: 1, payloadLen: 1000 });
    expect(dec(cut)).toBe('decoder.ipv4.trunc_pkt');
    expect(reasonName(decodeFrame(p, f, 0, f.length, 70_000))).toBe('decoder.frame.too_large');
  });

  it('a length beyond the buffer is clamped by the engine, not read past', () => {
    const e = new Engine();
    const f = frame(ipv4(C, S, 17, udp(C, S, 1, 2, Buffer.alloc(4))));
    e.process(f, f.length + 500, 1, null, true);
    e.process(f, Number.NaN, 2, null, true);
    expect(e.counters.rx).toBe(2);
    expect(e.counters.udpSessions).toBe(1);
  });
});

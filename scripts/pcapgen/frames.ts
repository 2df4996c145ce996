/**
 * Frame builders for synthetic captures: Ethernet (+ 802.1Q / QinQ tags), IPv4, IPv6
 * (+ fragment header), TCP, UDP, ICMP/ICMPv6 with correct lengths and checksums, and
 * IPv4/IPv6 fragmentation. Allocation is fine here: this is a generator, not the dp.
 */
import ipaddr from 'ipaddr.js';

export const MAC_A = Buffer.from([0x02, 0, 0, 0, 0, 0x0a]);
export const MAC_B = Buffer.from([0x02, 0, 0, 0, 0, 0x0b]);

export interface L2Options {
  src?: Buffer;
  dst?: Buffer;
  /** VLAN ids, outermost first; the outer of two uses TPID 0x88a8 (802.1ad). */
  vlans?: number[];
}

export function addrBytes(ip: string): Buffer {
  return Buffer.from(ipaddr.parse(ip).toByteArray());
}

export function isV6(ip: string): boolean {
  return ip.includes(':');
}

export function ethernet(l3: Buffer, etherType: number, o: L2Options = {}): Buffer {
  const vl = o.vlans ?? [];
  const h = Buffer.alloc(14 + vl.length * 4);
  (o.dst ?? MAC_B).copy(h, 0);
  (o.src ?? MAC_A).copy(h, 6);
  let off = 12;
  vl.forEach((id, i) => {
    h.writeUInt16BE(vl.length > 1 && i === 0 ? 0x88a8 : 0x8100, off);
    h.writeUInt16BE(id & 0x0fff, off + 2);
    off += 4;
  });
  h.writeUInt16BE(etherType, off);
  return Buffer.concat([h, l3]);
}

function sum16(b: Buffer, acc = 0): number {
  let i = 0;
  for (; i + 1 < b.length; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < b.length) acc += b[i]! << 8;
  return acc;
}
function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

function pseudoSum(src: Buffer, dst: Buffer, proto: number, len: number): number {
  let acc = sum16(src) + sum16(dst);
  acc += proto + (len & 0xffff) + (len >>> 16);
  return acc;
}

export interface Ip4Options {
  id?: number;
  ttl?: number;
  df?: boolean;
  fragOffset?: number;
  more?: boolean;
  totalLength?: number;
}

export function ipv4(src: string, dst: string, proto: number, payload: Buffer, o: Ip4Options = {}): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(o.totalLength ?? 20 + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0, 4);
  const ff = ((o.fragOffset ?? 0) >> 3) | (o.more ? 0x2000 : 0) | (o.df ? 0x4000 : 0);
  h.writeUInt16BE(ff, 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  addrBytes(src).copy(h, 12);
  addrBytes(dst).copy(h, 16);
  h.writeUInt16BE(fold(sum16(h)), 10);
  return Buffer.concat([h, payload]);
}

/** IPv6 header; `ext` are raw extension headers already chained (their first byte = next header). */
export function ipv6(
  src: string,
  dst: string,
  nextHeader: number,
  payload: Buffer,
  ext: Buffer = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(ext.length + payload.length, 4);
  h[6] = nextHeader;
  h[7] = 64;
  addrBytes(src).copy(h, 8);
  addrBytes(dst).copy(h, 24);
  return Buffer.concat([h, ext, payload]);
}

export const TCP = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 } as const;

export function tcp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  data: Buffer = Buffer.alloc(0),
  dataOffsetWords = 5,
): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = dataOffsetWords << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  const seg = Buffer.concat([h, data]);
  const proto = 6;
  seg.writeUInt16BE(fold(sum16(seg, pseudoSum(addrBytes(src), addrBytes(dst), proto, seg.length))), 16);
  return seg;
}

export function udp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  data: Buffer,
  lengthOverride?: number,
): Buffer {
  const seg = Buffer.alloc(8 + data.length);
  seg.writeUInt16BE(sport, 0);
  seg.writeUInt16BE(dport, 2);
  seg.writeUInt16BE(lengthOverride ?? seg.length, 4);
  data.copy(seg, 8);
  const c = fold(sum16(seg, pseudoSum(addrBytes(src), addrBytes(dst), 17, seg.length)));
  seg.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return seg;
}

/** ICMPv4 message (checksum over the message). */
export function icmp4(type: number, code: number, rest: number, body: Buffer): Buffer {
  const m = Buffer.alloc(8 + body.length);
  m[0] = type;
  m[1] = code;
  m.writeUInt32BE(rest >>> 0, 4);
  body.copy(m, 8);
  m.writeUInt16BE(fold(sum16(m)), 2);
  return m;
}

/** ICMPv6 message (checksum includes the IPv6 pseudo-header). */
export function icmp6(src: string, dst: string, type: number, code: number, rest: number, body: Buffer): Buffer {
  const m = Buffer.alloc(8 + body.length);
  m[0] = type;
  m[1] = code;
  m.writeUInt32BE(rest >>> 0, 4);
  body.copy(m, 8);
  m.writeUInt16BE(fold(sum16(m, pseudoSum(addrBytes(src), addrBytes(dst), 58, m.length))), 2);
  return m;
}

/** Whole L3 packets → Ethernet frames for the right family. */
export function frame(l3: Buffer, o: L2Options = {}): Buffer {
  return ethernet(l3, l3[0]! >> 4 === 6 ? 0x86dd : 0x0800, o);
}

/** Splits an IPv4 packet's payload into fragments of at most `size` bytes (multiple of 8). */
export function fragmentIpv4(
  src: string,
  dst: string,
  proto: number,
  payload: Buffer,
  size: number,
  id: number,
): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const piece = payload.subarray(off, off + size);
    out.push(ipv4(src, dst, proto, piece, { id, fragOffset: off, more: off + size < payload.length }));
  }
  return out;
}

/** IPv6 fragments (fragment extension header 44) of an upper-layer payload. */
export function fragmentIpv6(
  src: string,
  dst: string,
  nextHeader: number,
  payload: Buffer,
  size: number,
  id: number,
): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const piece = payload.subarray(off, off + size);
    out.push(ipv6(src, dst, 44, piece, fragHeader(nextHeader, off, off + size < payload.length, id)));
  }
  return out;
}

export function fragHeader(nextHeader: number, offset: number, more: boolean, id: number): Buffer {
  const f = Buffer.alloc(8);
  f[0] = nextHeader;
  f.writeUInt16BE((offset & 0xfff8) | (more ? 1 : 0), 2);
  f.writeUInt32BE(id >>> 0, 4);
  return f;
}

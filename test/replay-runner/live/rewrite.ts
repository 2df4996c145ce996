/**
 * Moves a capture onto the lab for live replay: the capture's client address becomes the
 * host side, its server the workload; MACs become the lab's (host side: br0's MAC,
 * workload: its eth0 MAC) so the steering classifies the frames as it would real ones.
 *
 * The new addresses are deliberately NOT configured on any interface (198.18.0.201/.202,
 * and for IPv6 fd00:198:18::201/::202, a ULA private to our namespaces): the kernels at
 * both ends then drop the replayed frames silently instead of answering them with RSTs,
 * port unreachables or neighbour solicitations that would mix into the capture.
 *
 * Checksums: the IPv4 header checksum is recomputed; TCP, UDP and ICMPv6 checksums
 * (which cover the addresses through the pseudo-header) are adjusted incrementally
 * (RFC 1624), which stays right for fragments and snaplen-cut frames whose payload we do
 * not have in full. A UDP checksum of 0 (none, IPv4) stays 0.
 */
import ipaddr from 'ipaddr.js';
import { PcapReader, isPcapError } from '../../../shared/pcap/reader.js';

export const LIVE_HOST_V4 = '198.18.0.201';
export const LIVE_WORKLOAD_V4 = '198.18.0.202';
export const LIVE_HOST_V6 = 'fd00:198:18::201';
export const LIVE_WORKLOAD_V6 = 'fd00:198:18::202';

export interface CapturedFrame {
  tsMs: number;
  bytes: Buffer;
}

export type Side = 'host' | 'workload';

export interface RewriteMap {
  /** Capture addresses (text) of the two ends. */
  client: string;
  server: string;
  hostMac: string;
  workloadMac: string;
}

export interface RewrittenFrame {
  /** 1-based index in the capture. */
  index: number;
  /** Where it is injected: the client's frames from the host side, the server's from the workload. */
  side: Side;
  bytes: Buffer;
}

export function readCapture(path: string): CapturedFrame[] {
  const r = PcapReader.open(path);
  if (isPcapError(r)) throw new Error(`${path}: ${r.message}`);
  const out: CapturedFrame[] = [];
  while (r.next()) out.push({ tsMs: r.tsMs, bytes: Buffer.from(r.buf.subarray(r.off, r.off + r.capLen)) });
  return out;
}

function addrBytes(ip: string): Buffer {
  return Buffer.from(ipaddr.parse(ip).toByteArray());
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** Ones'-complement sum of 16-bit big-endian words, folded. */
function sum16(b: Buffer, start = 0, end = b.length): number {
  let s = 0;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) % 2 === 1) s += b[end - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), with m/m' the sums of the changed words. */
export function adjustChecksum(csum: number, oldSum: number, newSum: number): number {
  let s = (~csum & 0xffff) + (~oldSum & 0xffff) + newSum;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export function ipv4HeaderChecksum(b: Buffer, off: number, ihl: number): number {
  b.writeUInt16BE(0, off + 10);
  return ~sum16(b, off, off + ihl) & 0xffff;
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const CSUM_OFFSET: Record<number, number> = { 6: 16, 17: 6, 58: 2 };

/** Where the L4 header of an IPv6 packet starts, or -1 (non-first fragment, or cut short). */
function ipv6L4(b: Buffer, off: number): { proto: number; at: number } {
  let next = b[off + 6]!;
  let at = off + 40;
  for (let hops = 0; hops < 8; hops++) {
    if (next === 0 || next === 43 || next === 60) {
      if (at + 2 > b.length) return { proto: next, at: -1 };
      const len = (b[at + 1]! + 1) * 8;
      next = b[at]!;
      at += len;
    } else if (next === 44) {
      if (at + 8 > b.length) return { proto: next, at: -1 };
      const fragOffset = b.readUInt16BE(at + 2) >>> 3;
      next = b[at]!;
      at += 8;
      if (fragOffset !== 0) return { proto: next, at: -1 };
    } else {
      return { proto: next, at };
    }
  }
  return { proto: next, at: -1 };
}

/**
 * Rewrites one frame (a copy), or returns null when it is not between client and server
 * (other hosts, ARP, multicast, VLAN-tagged frames: the lab has no VLANs).
 */
export function rewriteFrame(frame: Buffer, index: number, m: RewriteMap): RewrittenFrame | null {
  if (frame.length < 14) return null;
  const etherType = frame.readUInt16BE(12);
  if (etherType !== ETH_IPV4 && etherType !== ETH_IPV6) return null;
  const v6 = etherType === ETH_IPV6;
  const off = 14;
  const aLen = v6 ? 16 : 4;
  const srcAt = off + (v6 ? 8 : 12);
  const dstAt = srcAt + aLen;
  if (frame.length < dstAt + aLen) return null;
  const client = addrBytes(m.client);
  const server = addrBytes(m.server);
  if (client.length !== aLen) return null;
  const src = frame.subarray(srcAt, srcAt + aLen);
  const dst = frame.subarray(dstAt, dstAt + aLen);
  let side: Side;
  if (src.equals(client) && dst.equals(server)) side = 'host';
  else if (src.equals(server) && dst.equals(client)) side = 'workload';
  else return null;
  const hostIp = addrBytes(v6 ? LIVE_HOST_V6 : LIVE_HOST_V4);
  const wlIp = addrBytes(v6 ? LIVE_WORKLOAD_V6 : LIVE_WORKLOAD_V4);
  const b = Buffer.from(frame);
  const oldSum = sum16(b, srcAt, dstAt + aLen);
  const fromHost = side === 'host';
  (fromHost ? hostIp : wlIp).copy(b, srcAt);
  (fromHost ? wlIp : hostIp).copy(b, dstAt);
  const newSum = sum16(b, srcAt, dstAt + aLen);
  macBytes(fromHost ? m.workloadMac : m.hostMac).copy(b, 0);
  macBytes(fromHost ? m.hostMac : m.workloadMac).copy(b, 6);
  let proto: number;
  let l4: number;
  if (v6) {
    ({ proto, at: l4 } = ipv6L4(b, off));
  } else {
    const ihl = (b[off]! & 0x0f) * 4;
    if (b.length >= off + ihl) b.writeUInt16BE(ipv4HeaderChecksum(b, off, ihl), off + 10);
    proto = b[off + 9]!;
    const fragOffset = b.readUInt16BE(off + 6) & 0x1fff;
    l4 = fragOffset === 0 ? off + ihl : -1;
  }
  const at = CSUM_OFFSET[proto];
  if (l4 >= 0 && at !== undefined && (v6 || proto !== 58) && l4 + at + 2 <= b.length) {
    const old = b.readUInt16BE(l4 + at);
    if (!(proto === 17 && old === 0 && !v6)) {
      let c = adjustChecksum(old, oldSum, newSum);
      if (proto === 17 && c === 0) c = 0xffff;
      b.writeUInt16BE(c, l4 + at);
    }
  }
  return { index, side, bytes: b };
}

/** Full L4 checksum over pseudo-header + segment (for tests of complete frames). */
export function l4Checksum(frame: Buffer): { stored: number; computed: number } | null {
  const v6 = frame.readUInt16BE(12) === ETH_IPV6;
  const off = 14;
  let proto: number;
  let l4: number;
  let pseudo: Buffer;
  if (v6) {
    ({ proto, at: l4 } = ipv6L4(frame, off));
    if (l4 < 0) return null;
    const len = off + 40 + frame.readUInt16BE(off + 4) - l4;
    pseudo = Buffer.alloc(40);
    frame.copy(pseudo, 0, off + 8, off + 40);
    pseudo.writeUInt32BE(len, 32);
    pseudo[39] = proto;
  } else {
    proto = frame[off + 9]!;
    l4 = off + (frame[off]! & 0x0f) * 4;
    const len = frame.readUInt16BE(off + 2) - (l4 - off);
    pseudo = Buffer.alloc(12);
    frame.copy(pseudo, 0, off + 12, off + 20);
    pseudo[9] = proto;
    pseudo.writeUInt16BE(len, 10);
  }
  const at = CSUM_OFFSET[proto];
  if (at === undefined) return null;
  const end = v6 ? off + 40 + frame.readUInt16BE(off + 4) : off + frame.readUInt16BE(off + 2);
  const seg = Buffer.from(frame.subarray(l4, end));
  const stored = seg.readUInt16BE(at);
  seg.writeUInt16BE(0, at);
  const withPseudo = proto === 1 ? seg : Buffer.concat([pseudo, seg]);
  return { stored, computed: ~sum16(withPseudo) & 0xffff };
}

/**
 * IPv6 with extension headers (hop-by-hop, routing, destination options, fragment, AH).
 * An atomic fragment (offset 0, no more fragments) is decoded as a whole packet; the
 * headers after a non-first fragment's fragment header are not parsed (they are payload).
 */
import { R } from './reasons.js';
import { type PacketView, i32, u16 } from './packet.js';

const MAX_EXT_HEADERS = 8;

export function decodeIpv6(p: PacketView, b: Uint8Array): number {
  const o = p.l3Off;
  if (o + 40 > p.capEnd) return R['decoder.ipv6.pkt_too_small'];
  if (b[o]! >> 4 !== 6) return R['decoder.ipv6.wrong_ip_version'];
  const plen = u16(b, o + 4);
  const total = 40 + plen;
  if (total > p.wireLen - (o - p.frameOff)) return R['decoder.ipv6.trunc_pkt'];
  p.ipVersion = 6;
  p.ipLen = total;
  const a = p.addr;
  for (let i = 0; i < 8; i++) a[i] = i32(b, o + 8 + (i << 2));

  let nh = b[o + 6]!;
  let h = o + 40;
  const end = o + total;
  for (let n = 0; ; n++) {
    if (nh !== 0 && nh !== 43 && nh !== 60 && nh !== 44 && nh !== 51) break;
    if (n === MAX_EXT_HEADERS) return R['decoder.ipv6.exthdr_too_many'];
    if (h + 8 > end || h + 8 > p.capEnd) return R['decoder.ipv6.exthdr_trunc'];
    const next = b[h]!;
    let len: number;
    if (nh === 44) {
      len = 8;
      const fo = u16(b, h + 2);
      const offset = fo & 0xfff8;
      const more = (fo & 1) !== 0;
      if (offset !== 0 || more) {
        const fragPayload = end - (h + 8);
        if (offset + fragPayload > 65535) return R['decoder.ipv6.frag_pkt_too_large'];
        p.isFragment = true;
        p.fragOffset = offset;
        p.moreFragments = more;
        // Written out, not u32(): see decodeTcp's sequence numbers.
        p.fragId = ((b[h + 4]! << 24) | (b[h + 5]! << 16) | (b[h + 6]! << 8) | b[h + 7]!) >>> 0;
        p.fragProto = next;
        p.fragPayloadLen = fragPayload;
        if (offset !== 0) {
          // A non-first fragment carries the middle of the fragmentable part: what follows
          // the fragment header is payload, never a header, whatever `next` names.
          p.ipProto = next;
          p.l4Off = h + 8;
          p.l4Len = end - (h + 8);
          return 0;
        }
      }
    } else if (nh === 51) {
      len = (b[h + 1]! + 2) << 2;
    } else {
      len = (b[h + 1]! + 1) << 3;
    }
    if (h + len > end) return R['decoder.ipv6.exthdr_trunc'];
    nh = next;
    h += len;
  }
  p.ipProto = nh;
  p.l4Off = h;
  p.l4Len = end - h;
  return 0;
}

/** The IPv6 header quoted by an ICMPv6 error (fixed header + first L4 bytes). */
export function decodeInnerIpv6(p: PacketView, b: Uint8Array, o: number, end: number): boolean {
  if (o + 40 > end) return false;
  if (b[o]! >> 4 !== 6) return false;
  const a = p.innerAddr;
  for (let i = 0; i < 8; i++) a[i] = i32(b, o + 8 + (i << 2));
  let nh = b[o + 6]!;
  let h = o + 40;
  for (let n = 0; n < MAX_EXT_HEADERS && (nh === 0 || nh === 43 || nh === 60 || nh === 44); n++) {
    if (h + 8 > end) return false;
    const next = b[h]!;
    h += nh === 44 ? 8 : (b[h + 1]! + 1) << 3;
    nh = next;
  }
  p.innerProto = nh;
  if (nh === 6 || nh === 17) {
    if (h + 4 > end) return false;
    p.innerSport = u16(b, h);
    p.innerDport = u16(b, h + 2);
  } else if (nh === 58) {
    if (h + 8 > end) return false;
    const id = u16(b, h + 4);
    p.innerSport = id;
    p.innerDport = id;
  }
  return true;
}

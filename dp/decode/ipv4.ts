/**
 * IPv4: header checks in order (Suricata's decode-ipv4), options walked for sane lengths,
 * fragment fields recorded for the fragment tracker. Lengths are checked against the wire
 * length, so a snaplen-truncated capture still decodes its headers.
 */
import { R } from './reasons.js';
import { type PacketView, i32, u16 } from './packet.js';

export function decodeIpv4(p: PacketView, b: Uint8Array): number {
  const o = p.l3Off;
  if (o + 20 > p.capEnd) return R['decoder.ipv4.pkt_too_small'];
  const vh = b[o]!;
  if (vh >> 4 !== 4) return R['decoder.ipv4.wrong_ip_version'];
  const hlen = (vh & 15) << 2;
  if (hlen < 20) return R['decoder.ipv4.hlen_too_small'];
  const total = u16(b, o + 2);
  if (total < hlen) return R['decoder.ipv4.iplen_smaller_than_hlen'];
  if (total > p.wireLen - (o - p.frameOff)) return R['decoder.ipv4.trunc_pkt'];
  if (o + hlen > p.capEnd) return R['decoder.ipv4.pkt_too_small'];
  if (hlen > 20 && !optionsValid(b, o + 20, o + hlen)) return R['decoder.ipv4.opt_invalid'];

  p.ipVersion = 4;
  p.ipLen = total;
  p.ipProto = b[o + 9]!;
  const a = p.addr;
  a[0] = 0;
  a[1] = 0;
  a[2] = 0xffff;
  a[3] = i32(b, o + 12);
  a[4] = 0;
  a[5] = 0;
  a[6] = 0xffff;
  a[7] = i32(b, o + 16);

  const ff = u16(b, o + 6);
  const fragOffset = (ff & 0x1fff) << 3;
  const more = (ff & 0x2000) !== 0;
  if (fragOffset !== 0 || more) {
    if (fragOffset + total - hlen > 65535) return R['decoder.ipv4.frag_too_large'];
    p.isFragment = true;
    p.fragOffset = fragOffset;
    p.moreFragments = more;
    p.fragId = u16(b, o + 4);
    p.fragProto = p.ipProto;
    p.fragPayloadLen = total - hlen;
  }
  p.l4Off = o + hlen;
  p.l4Len = total - hlen;
  return 0;
}

function optionsValid(b: Uint8Array, o: number, end: number): boolean {
  while (o < end) {
    const t = b[o]!;
    if (t === 0) return true; // end of option list
    if (t === 1) {
      o++;
      continue;
    } // NOP
    if (o + 1 >= end) return false;
    const len = b[o + 1]!;
    if (len < 2 || o + len > end) return false;
    o += len;
  }
  return true;
}

/**
 * The IPv4 header quoted inside an ICMP error, plus the first 4 bytes of its L4 header
 * (ports). Fills p.inner*; returns false when too little was quoted to name the flow.
 */
export function decodeInnerIpv4(p: PacketView, b: Uint8Array, o: number, end: number): boolean {
  if (o + 20 > end) return false;
  const vh = b[o]!;
  if (vh >> 4 !== 4) return false;
  const hlen = (vh & 15) << 2;
  if (hlen < 20) return false;
  const proto = b[o + 9]!;
  const a = p.innerAddr;
  a[0] = 0;
  a[1] = 0;
  a[2] = 0xffff;
  a[3] = i32(b, o + 12);
  a[4] = 0;
  a[5] = 0;
  a[6] = 0xffff;
  a[7] = i32(b, o + 16);
  p.innerProto = proto;
  const l4 = o + hlen;
  if (proto === 6 || proto === 17) {
    if (l4 + 4 > end) return false;
    p.innerSport = u16(b, l4);
    p.innerDport = u16(b, l4 + 2);
  } else if (proto === 1) {
    if (l4 + 8 > end) return false;
    const id = u16(b, l4 + 4);
    p.innerSport = id;
    p.innerDport = id;
  }
  return true;
}

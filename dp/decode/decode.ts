/**
 * Frame decode entry point: L2 → L3 → L4 in order, stopping at the first failure with
 * its reason code (0 = ok). Non-first fragments stop after L3 (their L4 header lives in
 * the first fragment); the fragment tracker supplies their flow.
 */
import { R } from './reasons.js';
import {
  ETH_ARP,
  ETH_IPV4,
  ETH_IPV6,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type PacketView,
} from './packet.js';
import { decodeEthernet } from './ethernet.js';
import { decodeArp } from './arp.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodeTcp } from './tcp.js';
import { decodeUdp } from './udp.js';
import { decodeIcmpv4 } from './icmp.js';
import { decodeIcmpv6 } from './icmpv6.js';

/** Largest frame accepted: 64 KiB IP + L2 headers (GSO/GRO super-frames). */
export const MAX_FRAME = 65535 + 14 + 12;

export function decodeFrame(p: PacketView, b: Uint8Array, off: number, capLen: number, wireLen: number): number {
  p.reset(b, off, capLen, wireLen);
  if (p.wireLen > MAX_FRAME) return R['decoder.frame.too_large'];
  let rc = decodeEthernet(p, b);
  if (rc !== 0) return rc;
  const et = p.etherType;
  if (et === ETH_IPV4) rc = decodeIpv4(p, b);
  else if (et === ETH_IPV6) rc = decodeIpv6(p, b);
  else if (et === ETH_ARP) return decodeArp(p, b);
  else return 0;
  if (rc !== 0) return rc;
  if (p.isFragment && p.fragOffset !== 0) return 0;
  if (p.isFragment) {
    // First fragment: its L4 header must be whole, or ports could hide in a later piece
    // (RFC 1858 tiny-fragment evasion).
    const need =
      p.ipProto === IPPROTO_TCP
        ? 20
        : p.ipProto === IPPROTO_UDP || p.ipProto === IPPROTO_ICMP || p.ipProto === IPPROTO_ICMPV6
          ? 8
          : 0;
    if (p.fragPayloadLen < need) return R['defrag.tiny_first_fragment'];
    // L4 length fields describe the whole datagram, not this piece: decode ports only.
    return decodeFirstFragmentL4(p, b);
  }
  return decodeL4(p, b);
}

function decodeL4(p: PacketView, b: Uint8Array): number {
  switch (p.ipProto) {
    case IPPROTO_TCP:
      return decodeTcp(p, b);
    case IPPROTO_UDP:
      return decodeUdp(p, b);
    case IPPROTO_ICMP:
      return p.ipVersion === 4 ? decodeIcmpv4(p, b) : 0;
    case IPPROTO_ICMPV6:
      return p.ipVersion === 6 ? decodeIcmpv6(p, b) : 0;
    default:
      return 0;
  }
}

function decodeFirstFragmentL4(p: PacketView, b: Uint8Array): number {
  const o = p.l4Off;
  if (o + 8 > p.capEnd) return R['defrag.tiny_first_fragment'];
  const proto = p.ipProto;
  if (proto === IPPROTO_TCP) {
    // Treat the datagram as if the L4 length were unknown-but-large: the header checks
    // that matter (data offset, flags) still apply.
    const saved = p.l4Len;
    p.l4Len = 65535;
    const rc = decodeTcp(p, b);
    p.l4Len = saved;
    p.payloadLen = p.fragPayloadLen > 20 ? p.fragPayloadLen - 20 : 0;
    return rc;
  }
  if (proto === IPPROTO_UDP) {
    p.sport = (b[o]! << 8) | b[o + 1]!;
    p.dport = (b[o + 2]! << 8) | b[o + 3]!;
    p.payloadLen = p.fragPayloadLen - 8;
    return 0;
  }
  if (proto === IPPROTO_ICMP && p.ipVersion === 4) return decodeIcmpv4Fragment(p, b);
  if (proto === IPPROTO_ICMPV6 && p.ipVersion === 6) return decodeIcmpv6Fragment(p, b);
  return 0;
}

function decodeIcmpv4Fragment(p: PacketView, b: Uint8Array): number {
  const saved = p.l4Len;
  p.l4Len = p.fragPayloadLen;
  const rc = decodeIcmpv4(p, b);
  p.l4Len = saved;
  return rc;
}

function decodeIcmpv6Fragment(p: PacketView, b: Uint8Array): number {
  const saved = p.l4Len;
  p.l4Len = p.fragPayloadLen;
  const rc = decodeIcmpv6(p, b);
  p.l4Len = saved;
  return rc;
}

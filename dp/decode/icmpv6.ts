/**
 * ICMPv6: errors (types 1-4) quote the offending IPv6 packet and map onto its flow; echo
 * uses its identifier as the pseudo-session ports; ND/MLD and the rest are informational.
 */
import { R } from './reasons.js';
import { type PacketView, u16 } from './packet.js';
import { decodeInnerIpv6 } from './ipv6.js';

export function decodeIcmpv6(p: PacketView, b: Uint8Array): number {
  const o = p.l4Off;
  if (p.l4Len < 8 || o + 8 > p.capEnd) return R['decoder.icmpv6.pkt_too_small'];
  const type = b[o]!;
  p.icmpType = type;
  p.icmpCode = b[o + 1]!;
  p.payloadLen = p.l4Len - 8;
  if (type >= 1 && type <= 4) {
    const end = Math.min(p.capEnd, o + p.l4Len);
    if (!decodeInnerIpv6(p, b, o + 8, end)) return R['decoder.icmpv6.ipv6_trunc_pkt'];
    p.hasInner = true;
  } else if (type === 128 || type === 129) {
    const id = u16(b, o + 4);
    p.icmpId = id;
    p.sport = id;
    p.dport = id;
  }
  return 0;
}

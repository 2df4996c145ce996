/**
 * ICMPv4. Echo-like messages carry an identifier used as both "ports" of the pseudo
 * session; errors (unreachable, source quench, redirect, time exceeded, parameter problem)
 * quote the offending packet, whose tuple is recorded so the engine maps the error onto
 * that flow's session instead of creating a new one.
 */
import { R } from './reasons.js';
import { type PacketView, u16 } from './packet.js';
import { decodeInnerIpv4 } from './ipv4.js';

export function decodeIcmpv4(p: PacketView, b: Uint8Array): number {
  const o = p.l4Off;
  if (p.l4Len < 8 || o + 8 > p.capEnd) return R['decoder.icmpv4.pkt_too_small'];
  const type = b[o]!;
  p.icmpType = type;
  p.icmpCode = b[o + 1]!;
  p.payloadLen = p.l4Len - 8;
  switch (type) {
    case 0:
    case 8:
    case 13:
    case 14:
    case 15:
    case 16:
    case 17:
    case 18: {
      const id = u16(b, o + 4);
      p.icmpId = id;
      p.sport = id;
      p.dport = id;
      return 0;
    }
    case 3:
    case 4:
    case 5:
    case 11:
    case 12: {
      const end = Math.min(p.capEnd, o + p.l4Len);
      if (!decodeInnerIpv4(p, b, o + 8, end)) return R['decoder.icmpv4.ipv4_trunc_pkt'];
      p.hasInner = true;
      return 0;
    }
    default:
      return 0;
  }
}

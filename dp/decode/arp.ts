/** ARP: only checked for a complete fixed header; ARP is forwarded without a session. */
import { R } from './reasons.js';
import type { PacketView } from './packet.js';

export function decodeArp(p: PacketView, b: Uint8Array): number {
  const o = p.l3Off;
  if (o + 8 > p.capEnd) return R['decoder.arp.pkt_too_small'];
  const hlen = b[o + 4]!;
  const plen = b[o + 5]!;
  if (o + 8 + 2 * (hlen + plen) > p.capEnd) return R['decoder.arp.pkt_too_small'];
  return 0;
}

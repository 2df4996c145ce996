/** UDP header: the length field must agree with the IP payload it sits in. */
import { R } from './reasons.js';
import { type PacketView, u16 } from './packet.js';

export function decodeUdp(p: PacketView, b: Uint8Array): number {
  const o = p.l4Off;
  if (p.l4Len < 8 || o + 8 > p.capEnd) return R['decoder.udp.pkt_too_small'];
  const len = u16(b, o + 4);
  if (len < 8 || len > p.l4Len) return R['decoder.udp.hlen_invalid'];
  p.sport = u16(b, o);
  p.dport = u16(b, o + 2);
  p.payloadLen = len - 8;
  return 0;
}

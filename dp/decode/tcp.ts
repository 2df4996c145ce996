/** TCP header: ports, flags, sequence numbers. Options are not parsed (not needed yet). */
import { R } from './reasons.js';
import { type PacketView, TCP_FIN, TCP_RST, TCP_SYN, u16 } from './packet.js';

export function decodeTcp(p: PacketView, b: Uint8Array): number {
  const o = p.l4Off;
  if (p.l4Len < 20) return R['decoder.tcp.pkt_too_small'];
  // A snaplen cut may drop options/payload, but ports..flags must be there.
  if (o + 14 > p.capEnd) return R['decoder.tcp.pkt_too_small'];
  const hlen = (b[o + 12]! >> 4) << 2;
  if (hlen < 20) return R['decoder.tcp.hlen_too_small'];
  if (hlen > p.l4Len) return R['decoder.tcp.pkt_too_small'];
  const flags = b[o + 13]!;
  if ((flags & TCP_SYN) !== 0 && (flags & (TCP_RST | TCP_FIN)) !== 0) return R['decoder.tcp.invalid_flags'];
  p.sport = u16(b, o);
  p.dport = u16(b, o + 2);
  // Written out, not u32(): an unsigned value of 2^31 or more returned by a call V8 did not
  // inline is a heap number per packet; here it goes into the field's own box.
  p.tcpSeq = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
  p.tcpAck = ((b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!) >>> 0;
  p.tcpFlags = flags;
  p.payloadLen = p.l4Len - hlen;
  return 0;
}

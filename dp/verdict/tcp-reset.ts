/**
 * TCP resets that cut a session the policy no longer allows (NeuVector's mid-session
 * DENY): one RST toward the receiver of the offending packet and one RST|ACK back to its
 * sender, both built from that packet. The L2 header is the packet's own (toward the
 * receiver) or the packet's with the MACs swapped (toward the sender): the steering
 * restores the workload MAC from the "NeuV" MAC on either side, as for forwarded frames.
 * Runs once per cut session, with two preallocated buffers.
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type PacketView } from '../decode/packet.js';

const IPV4_HDR = 20;
const IPV6_HDR = 40;
const TCP_HDR = 20;
export const RESET_FRAME_MAX = 14 + 8 + IPV6_HDR + TCP_HDR;

function sum16(b: Uint8Array, off: number, len: number, acc: number): number {
  let i = 0;
  for (; i + 1 < len; i += 2) acc += (b[off + i]! << 8) | b[off + i + 1]!;
  if (i < len) acc += b[off + i]! << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/**
 * Writes one RST frame into `out`; `reverse` sends it back to the packet's sender.
 * Returns the frame length, or 0 when the packet is not a TCP packet over IPv4/IPv6.
 */
export function buildReset(buf: Uint8Array, p: PacketView, reverse: boolean, out: Uint8Array): number {
  const f0 = p.frameOff;
  const l2Len = p.l3Off - f0;
  if (l2Len < 14 || l2Len > 22 || (p.ipVersion !== 4 && p.ipVersion !== 6)) return 0;
  // L2: copy (with VLAN tags), swapping MACs when going back to the sender.
  for (let i = 0; i < l2Len; i++) out[i] = buf[f0 + i]!;
  if (reverse) {
    for (let i = 0; i < 6; i++) {
      out[i] = buf[f0 + 6 + i]!;
      out[6 + i] = buf[f0 + i]!;
    }
  }
  const srcOff = p.ipVersion === 4 ? p.l3Off + 12 : p.l3Off + 8;
  const alen = p.ipVersion === 4 ? 4 : 16;
  const dstOff = srcOff + alen;
  const [aOff, bOff] = reverse ? [dstOff, srcOff] : [srcOff, dstOff];
  let o = l2Len;
  const ipOff = o;
  if (p.ipVersion === 4) {
    out[o] = 0x45;
    out[o + 1] = 0;
    put16(out, o + 2, IPV4_HDR + TCP_HDR);
    put16(out, o + 4, 0);
    put16(out, o + 6, 0x4000);
    out[o + 8] = 64;
    out[o + 9] = 6;
    put16(out, o + 10, 0);
    for (let i = 0; i < 4; i++) {
      out[o + 12 + i] = buf[aOff + i]!;
      out[o + 16 + i] = buf[bOff + i]!;
    }
    put16(out, o + 10, fold(sum16(out, o, IPV4_HDR, 0)));
    o += IPV4_HDR;
  } else {
    put32(out, o, 0x60000000);
    put16(out, o + 4, TCP_HDR);
    out[o + 6] = 6;
    out[o + 7] = 64;
    for (let i = 0; i < 16; i++) {
      out[o + 8 + i] = buf[aOff + i]!;
      out[o + 24 + i] = buf[bOff + i]!;
    }
    o += IPV6_HDR;
  }
  const tcpOff = o;
  const f = p.tcpFlags;
  put16(out, o, reverse ? p.dport : p.sport);
  put16(out, o + 2, reverse ? p.sport : p.dport);
  if (reverse) {
    // Back to the sender: what it expects next from its peer, acknowledging its data.
    const consumed = p.payloadLen + ((f & TCP_SYN) !== 0 ? 1 : 0) + ((f & TCP_FIN) !== 0 ? 1 : 0);
    put32(out, o + 4, (f & TCP_ACK) !== 0 ? p.tcpAck : 0);
    put32(out, o + 8, (p.tcpSeq + consumed) >>> 0);
    out[o + 13] = TCP_RST | TCP_ACK;
  } else {
    // On to the receiver, in place of the dropped packet: its sequence number.
    put32(out, o + 4, p.tcpSeq);
    put32(out, o + 8, 0);
    out[o + 13] = TCP_RST;
  }
  out[o + 12] = 5 << 4;
  put16(out, o + 14, 0);
  put16(out, o + 16, 0);
  put16(out, o + 18, 0);
  // Pseudo-header checksum.
  let acc = sum16(out, p.ipVersion === 4 ? ipOff + 12 : ipOff + 8, alen * 2, 0);
  acc += 6 + TCP_HDR;
  acc = sum16(out, tcpOff, TCP_HDR, acc);
  put16(out, tcpOff + 16, fold(acc));
  return tcpOff + TCP_HDR;
}

/**
 * The one reusable, preallocated view of the frame being decoded. Decoders fill numeric
 * fields (offsets into the caller's buffer, never copies); nothing here is allocated per
 * packet. Addresses of both families live in `addr` as four u32 words each (IPv4 mapped
 * into ::ffff:0:0/96), so sessions hash and compare one representation.
 */
export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_ARP = 0x0806;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export class PacketView {
  /** Bytes of the frame present in the buffer (caplen) and its length on the wire. */
  frameOff = 0;
  capLen = 0;
  wireLen = 0;
  /** End offset (exclusive) of captured bytes in the buffer. */
  capEnd = 0;

  vlanCount = 0;
  vlanId = 0;
  etherType = 0;
  /** Destination MAC is group (multicast/broadcast). */
  l2Multicast = false;

  /** 0 (not IP), 4 or 6. */
  ipVersion = 0;
  l3Off = 0;
  /** Upper-layer protocol after IPv6 extension headers. */
  ipProto = 0;
  /** IP datagram length according to its header (total length / 40 + payload length). */
  ipLen = 0;
  /** src words 0..3, dst words 4..7. */
  readonly addr = new Uint32Array(8);

  isFragment = false;
  fragOffset = 0;
  moreFragments = false;
  fragId = 0;
  /**
   * Protocol that keys a fragmented datagram: IPv4's protocol field, or the next header
   * named by IPv6's fragment header (the same in every fragment, unlike the L4 protocol
   * found after further extension headers in the first fragment only).
   */
  fragProto = 0;
  /** Bytes of this fragment's IP payload (per the IP header). */
  fragPayloadLen = 0;

  /** Offset of the L4 header; l4Len = its length per the IP header (may exceed captured). */
  l4Off = 0;
  l4Len = 0;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  tcpSeq = 0;
  tcpAck = 0;
  /** L4 payload bytes per headers (not per capture). */
  payloadLen = 0;

  icmpType = 0;
  icmpCode = 0;
  icmpId = 0;
  /** ICMP error quoting an inner packet: its tuple, as the original sender saw it. */
  hasInner = false;
  innerProto = 0;
  readonly innerAddr = new Uint32Array(8);
  innerSport = 0;
  innerDport = 0;

  reset(buf: Uint8Array, off: number, capLen: number, wireLen: number): void {
    this.frameOff = off;
    this.capLen = capLen;
    this.wireLen = Math.max(wireLen, capLen);
    this.capEnd = off + capLen;
    this.vlanCount = 0;
    this.vlanId = 0;
    this.etherType = 0;
    this.l2Multicast = false;
    this.ipVersion = 0;
    this.ipProto = 0;
    this.ipLen = 0;
    this.isFragment = false;
    this.fragOffset = 0;
    this.moreFragments = false;
    this.fragId = 0;
    this.fragProto = 0;
    this.fragPayloadLen = 0;
    this.l4Off = 0;
    this.l4Len = 0;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.payloadLen = 0;
    this.icmpType = 0;
    this.icmpCode = 0;
    this.icmpId = 0;
    this.hasInner = false;
    this.innerProto = 0;
    this.innerSport = 0;
    this.innerDport = 0;
    void buf;
  }

  /** Bytes the wire had beyond what was captured (snaplen truncation). */
  get truncatedBy(): number {
    return this.wireLen - this.capLen;
  }
}

/** Big-endian reads without DataView (plain index loads are the fast path in V8). */
export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
/**
 * The same 32 bits as a signed integer, for stores into a Uint32Array (which keeps the
 * bits): always a small integer (Smi) in V8, where u32's result of 2^31 or more is a heap
 * number allocated per call wherever the optimizer did not inline the call.
 */
export function i32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

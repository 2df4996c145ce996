/**
 * A TCP conversation that keeps sequence numbers right while a case or the bench mix
 * asks for handshake, data, FIN and RST segments in either direction.
 */
import { type L2Options, TCP, frame, ipv4, ipv6, isV6, tcp } from './frames.js';

export type Side = 'c' | 's';

export class TcpConversation {
  private seq: Record<Side, number>;
  constructor(
    readonly client: string,
    readonly server: string,
    readonly cport: number,
    readonly sport: number,
    private readonly l2: L2Options = {},
    isn: [number, number] = [1000, 5000],
  ) {
    this.seq = { c: isn[0], s: isn[1] };
  }

  segment(from: Side, flags: number, data: Buffer = Buffer.alloc(0)): Buffer {
    const to: Side = from === 'c' ? 's' : 'c';
    const [src, dst, sp, dp] =
      from === 'c'
        ? [this.client, this.server, this.cport, this.sport]
        : [this.server, this.client, this.sport, this.cport];
    const seg = tcp(src, dst, sp, dp, this.seq[from], (flags & TCP.ACK) !== 0 ? this.seq[to] : 0, flags, data);
    this.seq[from] = (this.seq[from] + data.length + ((flags & (TCP.SYN | TCP.FIN)) !== 0 ? 1 : 0)) >>> 0;
    const l3 = isV6(src) ? ipv6(src, dst, 6, seg) : ipv4(src, dst, 6, seg, { df: true });
    const l2 = from === 'c' ? this.l2 : { ...this.l2, src: this.l2.dst, dst: this.l2.src };
    return frame(l3, l2);
  }

  handshake(): Buffer[] {
    return [this.segment('c', TCP.SYN), this.segment('s', TCP.SYN | TCP.ACK), this.segment('c', TCP.ACK)];
  }

  data(from: Side, bytes: Buffer): Buffer {
    return this.segment(from, TCP.ACK | TCP.PSH, bytes);
  }

  ack(from: Side): Buffer {
    return this.segment(from, TCP.ACK);
  }

  /** FIN from `first`, FIN+ACK back, final ACK. */
  close(first: Side = 'c'): Buffer[] {
    const other: Side = first === 'c' ? 's' : 'c';
    return [
      this.segment(first, TCP.FIN | TCP.ACK),
      this.segment(other, TCP.FIN | TCP.ACK),
      this.segment(first, TCP.ACK),
    ];
  }

  rst(from: Side): Buffer {
    return this.segment(from, TCP.RST | TCP.ACK);
  }
}

import { decodeFrame } from '../dp/decode/decode.js';
import { PacketView } from '../dp/decode/packet.js';
import { frame, ipv4, ipv6, TCP, tcp, udp } from '../scripts/pcapgen/frames.js';
import type { MicroCase } from './harness.js';

/**
 * Decoding a mix of frames (IPv4 TCP SYN and UDP, IPv6 TCP and UDP) into the one
 * reused PacketView, against a read-only loop over the same frames that reads the
 * EtherType, the IP protocol and the ports (the bytes the decoder must at least touch).
 */
export function decodeCase(): MicroCase {
  const a = '198.18.0.10';
  const b = '198.19.0.5';
  const frames = [
    frame(ipv4(b, a, 6, tcp(b, a, 40000, 80, 1, 0, TCP.SYN))),
    frame(ipv4(b, a, 17, udp(b, a, 40001, 53, Buffer.alloc(32)))),
    frame(ipv6('2001:db8::5', '2001:db8::10', 6, tcp('2001:db8::5', '2001:db8::10', 40002, 443, 1, 1, TCP.ACK))),
    frame(ipv6('2001:db8::5', '2001:db8::10', 17, udp('2001:db8::5', '2001:db8::10', 40003, 5000, Buffer.alloc(64)))),
  ];
  const p = new PacketView();
  const n = frames.length;
  return {
    name: 'decode (Ethernet → L4, 4-frame mix)',
    baselineName: 'read-only loop over the same header bytes',
    baseline: (i) => {
      const f = frames[i % n]!;
      const et = (f[12]! << 8) | f[13]!;
      const l3 = 14;
      const proto = et === 0x0800 ? f[l3 + 9]! : f[l3 + 6]!;
      const l4 = et === 0x0800 ? l3 + ((f[l3]! & 0x0f) << 2) : l3 + 40;
      return proto + ((f[l4]! << 8) | f[l4 + 1]!) + ((f[l4 + 2]! << 8) | f[l4 + 3]!);
    },
    subject: (i) => {
      const f = frames[i % n]!;
      return decodeFrame(p, f, 0, f.length, f.length) + p.ipProto + p.sport;
    },
  };
}

/**
 * Named synthetic cases (deterministic): each is a list of frames with timestamps, small
 * enough to reason about in a test. Addresses are in 198.18.0.0/15 (and 2001:db8::/32).
 */
import { Rng } from './rng.js';
import { TcpConversation } from './tcp-conversation.js';
import { TCP, fragmentIpv4, fragmentIpv6, frame, icmp4, icmp6, ipv4, ipv6, tcp, udp } from './frames.js';

export interface SyntheticFrame {
  tsMs: number;
  bytes: Buffer;
}

export interface SyntheticCase {
  name: string;
  description: string;
  build(seed: number): Buffer[];
}

const C4 = '198.18.0.10';
const S4 = '198.19.0.20';
const C6 = '2001:db8::10';
const S6 = '2001:db8::20';

function http(rng: Rng, n: number): Buffer {
  const head = `GET /item/${rng.int(1, 99999)} HTTP/1.1\r\nHost: svc.example\r\nUser-Agent: pcapgen\r\n\r\n`;
  return Buffer.from(head.padEnd(Math.max(n, head.length), 'x'));
}

export const CASES: SyntheticCase[] = [
  {
    name: 'tcp-full',
    description: 'TCP handshake, request, two response segments, FIN both ways',
    build: (seed) => {
      const r = new Rng(seed);
      const t = new TcpConversation(C4, S4, 40000, 80);
      return [
        ...t.handshake(),
        t.data('c', http(r, 120)),
        t.data('s', http(r, 600)),
        t.data('s', http(r, 300)),
        t.ack('c'),
        ...t.close('c'),
      ];
    },
  },
  {
    name: 'tcp-rst',
    description: 'TCP handshake, request, server resets',
    build: () => {
      const t = new TcpConversation(C4, S4, 40001, 8080);
      return [...t.handshake(), t.data('c', Buffer.from('hello')), t.rst('s')];
    },
  },
  {
    name: 'tcp-midstream',
    description: 'data of a connection already open (no handshake), both ways, then FIN',
    build: () => {
      const t = new TcpConversation(C4, S4, 40002, 443);
      return [t.data('s', Buffer.alloc(200, 1)), t.data('c', Buffer.alloc(50, 2)), ...t.close('s')];
    },
  },
  {
    name: 'tcp-retransmission',
    description: 'a data segment sent twice, then the exchange finishes',
    build: () => {
      const t = new TcpConversation(C4, S4, 40003, 80);
      const hs = t.handshake();
      const d = t.data('c', Buffer.alloc(100, 3));
      return [...hs, d, d, t.ack('s'), ...t.close('c')];
    },
  },
  {
    name: 'ipv4-fragments',
    description: 'a 3000-byte UDP datagram in three IPv4 fragments, the middle one duplicated',
    build: () => {
      const seg = udp(C4, S4, 5000, 5001, Buffer.alloc(2992, 7));
      const f = fragmentIpv4(C4, S4, 17, seg, 1200, 0x1234).map((p) => frame(p));
      return [f[0]!, f[1]!, f[1]!, f[2]!];
    },
  },
  {
    name: 'ipv6-fragments',
    description: 'an ICMPv6 echo of 3000 bytes in IPv6 fragments, and the reply',
    build: () => {
      const req = icmp6(C6, S6, 128, 0, (7 << 16) | 1, Buffer.alloc(2992, 9));
      const rep = icmp6(S6, C6, 129, 0, (7 << 16) | 1, Buffer.alloc(2992, 9));
      return [...fragmentIpv6(C6, S6, 58, req, 1232, 77), ...fragmentIpv6(S6, C6, 58, rep, 1232, 78)].map((p) =>
        frame(p),
      );
    },
  },
  {
    name: 'teardrop',
    description: 'IPv4 fragments whose second piece overlaps the first (teardrop)',
    build: () => {
      const seg = udp(C4, S4, 5002, 53, Buffer.alloc(100, 1));
      return [
        frame(ipv4(C4, S4, 17, seg.subarray(0, 48), { id: 99, more: true })),
        frame(ipv4(C4, S4, 17, seg.subarray(16, 108), { id: 99, fragOffset: 16 })),
      ];
    },
  },
  {
    name: 'vlan',
    description: 'a TCP exchange inside 802.1Q VLAN 100 and a UDP exchange inside QinQ 200/300',
    build: () => {
      const t = new TcpConversation(C4, S4, 40004, 80, { vlans: [100] });
      return [
        ...t.handshake(),
        t.data('c', Buffer.from('GET / HTTP/1.0\r\n\r\n')),
        ...t.close('c'),
        frame(ipv4(C4, S4, 17, udp(C4, S4, 6000, 53, Buffer.alloc(30))), { vlans: [200, 300] }),
        frame(ipv4(S4, C4, 17, udp(S4, C4, 53, 6000, Buffer.alloc(60))), { vlans: [200, 300] }),
      ];
    },
  },
  {
    name: 'icmp-errors',
    description:
      'UDP query answered by ICMP port unreachable; IPv6 TCP SYN answered by ICMPv6 unreachable; an error quoting an unknown flow',
    build: () => {
      const q = ipv4(C4, S4, 17, udp(C4, S4, 7000, 9999, Buffer.alloc(20)));
      const q6 = ipv6(C6, S6, 6, tcp(C6, S6, 7001, 443, 1, 0, TCP.SYN));
      const stray = ipv4(C4, '198.19.9.9', 17, udp(C4, '198.19.9.9', 7002, 9999, Buffer.alloc(8)));
      return [
        frame(q),
        frame(ipv4(S4, C4, 1, icmp4(3, 3, 0, q.subarray(0, 28)))),
        frame(q6),
        frame(ipv6(S6, C6, 58, icmp6(S6, C6, 1, 4, 0, q6))),
        frame(ipv4('198.19.9.9', C4, 1, icmp4(3, 3, 0, stray.subarray(0, 28)))),
      ];
    },
  },
  {
    name: 'malformed-lengths',
    description:
      'IPv4 total length beyond the frame, TCP data offset 4, UDP length beyond the IP payload, a frame of 10 bytes',
    build: () => [
      frame(ipv4(C4, S4, 17, udp(C4, S4, 1, 2, Buffer.alloc(10)), { totalLength: 400 })),
      frame(ipv4(C4, S4, 6, tcp(C4, S4, 1, 2, 0, 0, TCP.SYN, Buffer.alloc(0), 4))),
      frame(ipv4(C4, S4, 17, udp(C4, S4, 1, 2, Buffer.alloc(10), 300))),
      Buffer.alloc(10),
    ],
  },
];

/** One case's frames with timestamps 1 ms apart from a fixed epoch (2024-01-01). */
export function buildCase(name: string, seed = 1): SyntheticFrame[] {
  const c = CASES.find((x) => x.name === name);
  if (!c) throw new Error(`unknown case ${name} (known: ${CASES.map((x) => x.name).join(', ')})`);
  return c.build(seed).map((bytes, i) => ({ tsMs: 1_704_067_200_000 + i, bytes }));
}

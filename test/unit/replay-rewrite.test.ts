/**
 * Live-replay rewrite: addresses and MACs move onto the lab, sides follow the capture's
 * client/server, and every checksum that was right before is right after (recomputed
 * from scratch here, independently of the incremental update the rewrite uses).
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { SHARED_PCAPS } from '../replay-runner/case-file.js';
import {
  LIVE_HOST_V4,
  LIVE_HOST_V6,
  LIVE_WORKLOAD_V4,
  LIVE_WORKLOAD_V6,
  adjustChecksum,
  l4Checksum,
  readCapture,
  rewriteFrame,
} from '../replay-runner/live/rewrite.js';

const HOST_MAC = '02:aa:00:00:00:01';
const WL_MAC = '02:74:67:00:00:0a';

function ipv4HeaderOk(f: Buffer): boolean {
  const ihl = (f[14]! & 0x0f) * 4;
  let s = 0;
  for (let i = 14; i < 14 + ihl; i += 2) s += f.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

const CASES = [
  {
    file: 'tcp-http-get-full-session.pcap',
    client: '192.168.2.3',
    server: '209.85.225.105',
    host: 7,
    wl: 5,
    v6: false,
  },
  { file: 'dns-udp-a-aaaa-mx.pcap', client: '10.16.1.11', server: '8.8.8.8', host: 3, wl: 3, v6: false },
  {
    file: 'ipv6-tcp-http-atomic-fragments.pcap',
    client: '2001:db8:1::2',
    server: '2001:db8:1::1',
    host: 18,
    wl: 19,
    v6: true,
  },
];

describe('live replay rewrite', () => {
  for (const c of CASES) {
    it(`${c.file}: sides, addresses, MACs and checksums`, () => {
      const frames = readCapture(join(SHARED_PCAPS, c.file));
      let host = 0;
      let wl = 0;
      let verified = 0;
      frames.forEach((f, i) => {
        const r = rewriteFrame(f.bytes, i + 1, {
          client: c.client,
          server: c.server,
          hostMac: HOST_MAC,
          workloadMac: WL_MAC,
        });
        if (r === null) return;
        const b = r.bytes;
        expect(b.length).toBe(f.bytes.length);
        const aLen = c.v6 ? 16 : 4;
        const srcAt = c.v6 ? 22 : 26;
        const src = ipaddr.fromByteArray([...b.subarray(srcAt, srcAt + aLen)]).toString();
        const dst = ipaddr.fromByteArray([...b.subarray(srcAt + aLen, srcAt + 2 * aLen)]).toString();
        const [hostIp, wlIp] = c.v6 ? [LIVE_HOST_V6, LIVE_WORKLOAD_V6] : [LIVE_HOST_V4, LIVE_WORKLOAD_V4];
        if (r.side === 'host') {
          host++;
          expect([src, dst]).toEqual([hostIp, wlIp]);
          expect(b.subarray(0, 12).toString('hex')).toBe((WL_MAC + HOST_MAC).replaceAll(':', ''));
        } else {
          wl++;
          expect([src, dst]).toEqual([wlIp, hostIp]);
        }
        if (!c.v6) expect(ipv4HeaderOk(b)).toBe(true);
        // Payload beyond the addresses is untouched except checksum fields.
        const before = l4Checksum(f.bytes);
        const after = l4Checksum(b);
        if (before && after && before.stored === before.computed) {
          expect(after.stored).toBe(after.computed);
          verified++;
        }
      });
      expect([host, wl]).toEqual([c.host, c.wl]);
      expect(verified).toBeGreaterThan(0);
    });
  }

  it('RFC 1624 update equals a recomputation', () => {
    // Sum of words 0x1234 + 0xabcd + 0x0001 → checksum; change 0x1234 to 0x4321.
    const full = (ws: number[]) => {
      let s = ws.reduce((a, b) => a + b, 0);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      return ~s & 0xffff;
    };
    expect(adjustChecksum(full([0x1234, 0xabcd, 0x0001]), 0x1234, 0x4321)).toBe(full([0x4321, 0xabcd, 0x0001]));
  });

  it('frames of other hosts, ARP and VLAN-tagged frames are not replayed', () => {
    const frames = readCapture(join(SHARED_PCAPS, 'arp-request-reply-icmp.pcap'));
    const out = frames.map((f, i) =>
      rewriteFrame(f.bytes, i + 1, {
        client: '198.51.100.1',
        server: '198.51.100.2',
        hostMac: HOST_MAC,
        workloadMac: WL_MAC,
      }),
    );
    expect(out.every((x) => x === null)).toBe(true);
  });
});

/**
 * Session counts from runOffline on every shared capture, against MANIFEST.tsv's tshark
 * conversation counts. tshark counts address/port pairs over the whole file; we count
 * sessions, which is a different thing in two principled cases, so each file is checked
 * twice: the distinct address/port pairs among our sessions must equal tshark's count,
 * and the session count is asserted as our own number, with the reason where it differs.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runOffline, type OfflineSummary } from '../../dp/offline/run.js';
import { sharedPcapsDir } from '../../shared/repo-root.js';

const DIR = sharedPcapsDir();

interface Row {
  file: string;
  tcp: number;
  udp: number;
}
const rows: Row[] = readFileSync(join(DIR, 'MANIFEST.tsv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => {
    const c = l.split('\t');
    return { file: c[0]!, tcp: Number(c[12]), udp: Number(c[13]) };
  });

/** Where our session count differs from tshark's pair count, and why. */
const SESSION_COUNTS: Record<string, { tcp?: number; udp?: number; why: string }> = {
  'mixed-office-traffic-retrans-ooo.pcap': {
    tcp: 78,
    udp: 41,
    why: 'nine clients got a challenge ACK to their SYN, sent RST, and retried the same port 3 s later: a SYN on a reset tuple is a new session (port reuse); one handshake-only connection idled past the 30 s active-no-data timeout before its FIN (then a bare ACK is picked up mid-stream); one NetBIOS broadcast pair was silent > 30 s (UDP idle timeout)',
  },
  'ftp-data-lan-many-flows.pcap': {
    udp: 78,
    why: 'a Teredo (3544) pair and a DHCPv6 solicit pair are silent longer than the 30 s UDP idle timeout, so they are 3 extra sessions',
  },
  'malformed-ipv4-total-length-too-big.pcap': {
    udp: 0,
    why: 'the only frame claims an IPv4 total length larger than the frame: malformed (decoder.ipv4.trunc_pkt), no session; tshark still lists its UDP ports',
  },
};

/** Pair-count differences (tshark decodes what we reject as malformed). */
const PAIR_COUNTS: Record<string, { udp: number; why: string }> = {
  'malformed-ipv4-total-length-too-big.pcap': { udp: 0, why: 'see SESSION_COUNTS' },
};

async function run(file: string) {
  let text = '';
  const out = new Writable({
    write(c, _e, cb) {
      text += c.toString();
      cb();
    },
  });
  const summary = await runOffline({ inputs: [join(DIR, file)], out });
  const events = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { summary, events };
}

function pairs(events: Record<string, unknown>[], proto: string): number {
  const keys = new Set<string>();
  for (const e of events) {
    if (e.type !== 'session.start' || e.proto !== proto) continue;
    keys.add([`${e.client}|${e.clientPort}`, `${e.server}|${e.serverPort}`].sort().join(' '));
  }
  return keys.size;
}

describe('sessions from real captures', () => {
  for (const row of rows) {
    it(`${row.file}: tcp/udp sessions vs tshark conversations`, async () => {
      const { summary, events } = await run(row.file);
      const over = SESSION_COUNTS[row.file];
      expect(summary.sessions.tcp).toBe(over?.tcp ?? row.tcp);
      expect(summary.sessions.udp).toBe(over?.udp ?? row.udp);
      expect(pairs(events, 'tcp')).toBe(row.tcp);
      expect(pairs(events, 'udp')).toBe(PAIR_COUNTS[row.file]?.udp ?? row.udp);
      // Every session that started also ended (eof at the latest), with counters.
      const starts = events.filter((e) => e.type === 'session.start').length;
      const ends = events.filter((e) => e.type === 'session.end');
      expect(ends.length).toBe(starts);
      expect(ends.every((e) => (e.pktsToServer as number) + (e.pktsToClient as number) >= 1)).toBe(true);
      expect(events.at(-1)?.type).toBe('summary');
    });
  }
});

describe('malformed captures are reported, not crashed on', () => {
  const cases: [string, (s: OfflineSummary) => void][] = [
    ['malformed-tcp-short-header.pcap', (s) => expect(s.malformed['decoder.tcp.pkt_too_small']).toBe(2)],
    ['malformed-ipv4-total-length-too-big.pcap', (s) => expect(s.malformed['decoder.ipv4.trunc_pkt']).toBe(1)],
    [
      'malformed-icmp-fuzz-oversized.pcap',
      (s) => {
        expect(s.malformed['decoder.ipv4.trunc_pkt']).toBeGreaterThan(0);
        expect(s.counters.oversizeFrames).toBeGreaterThan(0);
      },
    ],
    // tshark flags the same 5 frames: "IPv4 total length exceeds packet length".
    ['tcp-retransmissions-gaps.pcap', (s) => expect(s.malformed['decoder.ipv4.trunc_pkt']).toBe(5)],
    // Frame 5 rewrites bytes 48..72 that frame 3 already carried: overlapping fragments.
    ['ipv4-fragments-tiny-tcp.pcap', (s) => expect(s.malformed['defrag.overlap']).toBe(1)],
    [
      'malformed-tcp-snaplen-truncated.pcap',
      (s) => {
        expect(s.malformed).toEqual({});
        expect(s.counters.truncatedCaptures).toBe(24);
      },
    ],
  ];
  for (const [file, check] of cases) {
    it(file, async () => {
      const { summary, events } = await run(file);
      check(summary);
      const malformed = events.filter((e) => e.type === 'malformed');
      expect(malformed.length).toBe(summary.counters.error);
      for (const m of malformed) expect(typeof m.reason).toBe('string');
    });
  }

  it('damaged pcap file: file.error naming the problem, packets before it processed', async () => {
    const { summary, events } = await run('corrupt-pcap-record-length.pcap');
    const fe = events.find((e) => e.type === 'file.error');
    expect(fe).toMatchObject({ code: 'pcap.record_too_large', packetsRead: 1 });
    expect(String(fe?.message)).toMatch(/record 2 claims \d+ captured bytes/);
    expect(summary.packets).toBe(1);
    expect(summary.fileErrors).toBe(1);
  });

  it('a whole directory in one run: every file read, sorted, nothing thrown', async () => {
    let n = 0;
    const out = new Writable({
      write(_c, _e, cb) {
        n++;
        cb();
      },
    });
    const s = await runOffline({ inputs: [DIR, '/nonexistent-dir'], out });
    expect(s.files.map((f) => f.file)).toEqual(['/nonexistent-dir', ...rows.map((r) => join(DIR, r.file)).sort()]);
    expect(s.fileErrors).toBe(2);
    expect(n).toBeGreaterThan(0);
  });
});

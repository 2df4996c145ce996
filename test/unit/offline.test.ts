import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runOffline } from '../../dp/offline/run.js';
import { PcapReader, isPcapError } from '../../shared/pcap/reader.js';
import { sharedPcapsDir } from '../../shared/repo-root.js';
import { PcapWriter } from '../../shared/pcap/writer.js';
import { frame, ipv4, udp } from '../../scripts/pcapgen/frames.js';

const DIR = sharedPcapsDir();

function collect() {
  const lines: string[] = [];
  let partial = '';
  const out = new Writable({
    write(c, _e, cb) {
      partial += c.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      cb();
    },
  });
  return { out, events: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('runOffline', () => {
  it('writes JSONL events with counters and a final summary', async () => {
    const { out, events } = collect();
    const s = await runOffline({ inputs: [join(DIR, 'tcp-http-get-full-session.pcap')], out });
    const ev = events();
    expect(ev.map((e) => e.type)).toEqual(['session.start', 'session.end', 'summary']);
    expect(ev[1]).toMatchObject({ proto: 'tcp', reason: 'fin', tcpState: 'closed', serverPort: 80 });
    expect((ev[1]!.pktsToServer as number) + (ev[1]!.pktsToClient as number)).toBe(12);
    expect(s).toMatchObject({ packets: 12, forwarded: 12, dropped: 0, mode: 'tap' });
    expect(ev[2]).toMatchObject({ type: 'summary', packets: 12 });
  });

  it('inline mode drops malformed frames and writes exactly them to the drop pcap', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tg-off-'));
    try {
      const drop = join(tmp, 'drops.pcap');
      const { out, events } = collect();
      const s = await runOffline({
        inputs: [join(DIR, 'malformed-tcp-short-header.pcap'), join(DIR, 'tcp-http-get-full-session.pcap')],
        out,
        mode: 'inline',
        dropPcap: drop,
      });
      expect(s.dropped).toBe(2);
      expect(s.forwarded).toBe(12);
      expect(
        events()
          .filter((e) => e.type === 'malformed')
          .every((e) => e.dropped === true),
      ).toBe(true);
      const r = PcapReader.open(drop);
      if (isPcapError(r)) throw new Error(r.message);
      let n = 0;
      while (r.next()) n++;
      expect(n).toBe(2);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a time jump of months expires the first flow by timeout instead of stretching it', async () => {
    const { out, events } = collect();
    await runOffline({ inputs: [join(DIR, 'icmp-errors-http-udp-time-jump.pcap')], out });
    const ends = events().filter((e) => e.type === 'session.end');
    expect(ends.some((e) => e.reason === 'timeout')).toBe(true);
    expect(ends.every((e) => (e.durationMs as number) < 3_600_000)).toBe(true);
  });

  it('non-monotonic timestamps are held, counted, and do not break sessions', async () => {
    const { out } = collect();
    const s = await runOffline({ inputs: [join(DIR, 'ipv6-tcp-http-atomic-fragments.pcap')], out });
    expect(s.counters.clockBackwards).toBeGreaterThan(0);
    expect(s.sessions.tcp).toBe(4);
  });
});

describe('runOffline output targets', () => {
  it('writes to a file path when out is a string', async () => {
    const { readFileSync } = await import('node:fs');
    const tmp = mkdtempSync(join(tmpdir(), 'tg-off-'));
    try {
      const file = join(tmp, 'events.jsonl');
      await runOffline({ inputs: [join(DIR, 'icmp-echo-ping.pcap')], out: file });
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.at(-1)).toMatchObject({ type: 'summary', packets: 10, sessions: { icmp: 1 } });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('end of a capture with many open sessions', () => {
  it('ends every one of them (written out in slices, not one string)', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tg-off-eof-'));
    try {
      const file = join(tmp, 'open.pcap');
      const w = new PcapWriter(file);
      const OPEN = 10_000;
      for (let i = 0; i < OPEN; i++) {
        const client = `198.19.${i >> 8}.${i & 255}`;
        const f = frame(ipv4(client, '198.18.0.10', 17, udp(client, '198.18.0.10', 40000, 53, Buffer.alloc(4))));
        w.write(f, 0, f.length, 1000 + i / 100);
      }
      w.close();
      const { out, events } = collect();
      const s = await runOffline({ inputs: [file], out, sessionStarts: false });
      const ends = events().filter((e) => e.type === 'session.end');
      expect(ends).toHaveLength(OPEN);
      expect(ends.every((e) => e.reason === 'eof')).toBe(true);
      expect(s.sessions.udp).toBe(OPEN);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { writeBenchMix } from '../../scripts/pcapgen/bench-mix.js';
import { CASES, buildCase } from '../../scripts/pcapgen/cases.js';
import { runOffline } from '../../dp/offline/run.js';
import { PcapWriter } from '../../shared/pcap/writer.js';

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

describe('pcapgen', () => {
  it('is deterministic: same seed, same bytes; another seed, other bytes', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tg-gen-'));
    try {
      const opts = { tcpFlows: 30, dnsPairs: 40, udpStreams: 3, udpStreamPackets: 20 };
      writeBenchMix(join(tmp, 'a.pcap'), { ...opts, seed: 7 });
      writeBenchMix(join(tmp, 'b.pcap'), { ...opts, seed: 7 });
      writeBenchMix(join(tmp, 'c.pcap'), { ...opts, seed: 8 });
      const [a, b, c] = ['a', 'b', 'c'].map((n) => readFileSync(join(tmp, `${n}.pcap`)));
      expect(a!.equals(b!)).toBe(true);
      expect(a!.equals(c!)).toBe(false);
      for (const cs of CASES)
        expect(
          Buffer.concat(buildCase(cs.name, 3).map((f) => f.bytes)).equals(
            Buffer.concat(buildCase(cs.name, 3).map((f) => f.bytes)),
          ),
        ).toBe(true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('bench mix (scaled down): the engine finds exactly the flows generated, all TCP closed by FIN, nothing malformed', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tg-gen-'));
    try {
      const file = join(tmp, 'mix.pcap');
      const r = writeBenchMix(file, { tcpFlows: 200, dnsPairs: 300, udpStreams: 10, udpStreamPackets: 50 });
      let text = '';
      const out = new Writable({
        write(c, _e, cb) {
          text += c.toString();
          cb();
        },
      });
      const s = await runOffline({ inputs: [file], out });
      expect(s.packets).toBe(r.packets);
      expect(s.sessions).toMatchObject({ tcp: 200, udp: 310, icmp: 0, ip: 0 });
      expect(s.malformed).toEqual({});
      const tcpEnds = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.type === 'session.end' && e.proto === 'tcp');
      expect(tcpEnds.every((e) => e.reason === 'fin' && e.tcpState === 'closed')).toBe(true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('every named case decodes with only the malformed frames it was built to have', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tg-gen-'));
    try {
      for (const c of CASES) {
        const file = join(tmp, `${c.name}.pcap`);
        const w = new PcapWriter(file);
        for (const f of buildCase(c.name)) w.write(f.bytes, 0, f.bytes.length, f.tsMs);
        w.close();
        const s = await runOffline({ inputs: [file], out: sink() });
        const bad = Object.keys(s.malformed);
        if (c.name === 'teardrop') expect(bad).toEqual(['defrag.overlap']);
        else if (c.name === 'malformed-lengths') expect(bad.length).toBe(4);
        else expect(bad).toEqual([]);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

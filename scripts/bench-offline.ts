/**
 * Offline engine benchmark: packets/s of the dp engine over the synthetic bench pcap
 * (generated into /tmp if missing) and over every shared capture, on one core, in
 * process. Baseline = the same loop reading pcap records without the engine (I/O cost).
 * The peer (NeuVector's C dp) is compared as a whole process on the same pcap in
 * bench-process.ts: it has no in-process engine loop to time.
 *   node dist/scripts/bench-offline.js [--runs N] [--pcap FILE]
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, Verdict } from '../dp/engine.js';
import { newCounters, type Endpoint } from '../dp/endpoints/endpoint.js';
import { PcapReader, isPcapError } from '../shared/pcap/reader.js';
import { writeBenchMix } from './pcapgen/bench-mix.js';
import { sharedPcapsDir } from '../shared/repo-root.js';

export const DEFAULT_BENCH_PCAP = '/tmp/tollgate-bench-mix.pcap';
const SHARED = sharedPcapsDir();

export interface OfflineBenchRow {
  name: string;
  packets: number;
  /** Median over runs. */
  readPps: number;
  enginePps: number;
  /** Spread of engine pps over runs (min..max). */
  engineMin: number;
  engineMax: number;
  vsRead: number;
  sessions: number;
  rssMiB: number;
}

function tapEndpoint(): Endpoint {
  return {
    id: 1,
    iface: 'bench',
    mac: '',
    ucmac: '',
    bcmac: '',
    macNum: 0,
    ucmacNum: 0,
    tap: true,
    counters: newCounters(),
  };
}

/** One pass: read records (and run the engine when given). Returns [packets, seconds]. */
function pass(files: string[], engine: Engine | null): [number, number] {
  const ep = tapEndpoint();
  let n = 0;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (const f of files) {
    const r = PcapReader.open(f);
    if (isPcapError(r)) continue;
    engine?.restartClock();
    let nextTick = -Infinity;
    while (r.next()) {
      n++;
      if (engine === null) {
        sink += r.capLen;
        continue;
      }
      const ts = r.tsMs;
      if (ts >= nextTick) {
        engine.tick(ts);
        nextTick = ts + 1000;
      }
      if (engine.processAt(r.buf, r.off, r.capLen, r.wireLen, ts, ep, true) === Verdict.Drop) sink++;
    }
    engine?.closeAll('eof');
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (sink < 0) console.log(sink);
  return [n, secs];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function benchFiles(name: string, files: string[], runs = 3): OfflineBenchRow {
  const read: number[] = [];
  const eng: number[] = [];
  let packets = 0;
  let sessions = 0;
  pass(files, new Engine()); // warm-up: JIT and page cache
  for (let i = 0; i < runs; i++) {
    const [n1, s1] = pass(files, null);
    read.push(n1 / s1);
    const e = new Engine({ emit: () => {} });
    const [n2, s2] = pass(files, e);
    eng.push(n2 / s2);
    packets = n2;
    sessions = e.counters.totalSessions;
  }
  const enginePps = median(eng);
  return {
    name,
    packets,
    readPps: median(read),
    enginePps,
    engineMin: Math.min(...eng),
    engineMax: Math.max(...eng),
    vsRead: enginePps / median(read),
    sessions,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
}

export function runOfflineBench(opts: { pcap?: string; runs?: number } = {}): OfflineBenchRow[] {
  const pcap = opts.pcap ?? DEFAULT_BENCH_PCAP;
  if (!existsSync(pcap)) {
    process.stderr.write(`generating ${pcap} (bench mix, seed 2024)...\n`);
    writeBenchMix(pcap);
  }
  const shared = readdirSync(SHARED)
    .filter((f) => /\.(pcap|pcapng)$/.test(f))
    .sort()
    .map((f) => join(SHARED, f));
  return [
    benchFiles('synthetic bench mix', [pcap], opts.runs ?? 3),
    benchFiles('shared captures (40 files)', shared, (opts.runs ?? 3) * 5),
  ];
}

export function formatOfflineTable(rows: OfflineBenchRow[]): string {
  const m = (x: number) => `${(x / 1e6).toFixed(2)} M`;
  const lines = [
    '| input | packets | read-only pps (baseline) | Tollgate engine pps (min..max) | engine/read | sessions | RSS MiB |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.packets} | ${m(r.readPps)} | ${m(r.enginePps)} (${m(r.engineMin)}..${m(r.engineMax)}) | ${r.vsRead.toFixed(2)} | ${r.sessions} | ${r.rssMiB.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const args = process.argv.slice(2);
  const get = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const runs = get('--runs');
  const pcap = get('--pcap');
  const rows = runOfflineBench({ ...(pcap ? { pcap } : {}), ...(runs ? { runs: Number(runs) } : {}) });
  process.stdout.write(`${formatOfflineTable(rows)}\n`);
}

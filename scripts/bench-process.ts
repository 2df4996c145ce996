/**
 * Whole-process offline comparison: `dp -p FILE` of Tollgate (dpCommand(): node, its flags, bin/dp.js; JSONL to
 * /dev/null) and of the peer (bench-peer.ts) on the same pcap, in the same run, alternated
 * run by run so both see the same machine load. Wall time, CPU time and peak RSS per run.
 *   node dist/scripts/bench-process.js [--runs N] [--pcap FILE]
 */
import { existsSync } from 'node:fs';
import { dpCommand } from '../shared/repo-root.js';
import { neuvectorDp, peerOffline, timedProcess, warnPeerMissing, type ProcessUsage } from './bench-peer.js';
import { DEFAULT_BENCH_PCAP } from './bench-offline.js';
import { writeBenchMix } from './pcapgen/bench-mix.js';

export interface ProcessBenchRow {
  pcap: string;
  tollgate: ProcessUsage[];
  /** Absent when the peer was not measured (`peerMissing` says why). */
  peer?: ProcessUsage[];
  peerMissing?: string;
}

/** Tollgate's whole `dp -p`, as a user runs it (events written, here to /dev/null). */
export function tollgateOffline(pcap: string, nodeArgs: string[] = []): ProcessUsage {
  const u = timedProcess([...dpCommand(nodeArgs), '-p', pcap, '-o', '/dev/null', '--log-level', 'warn']);
  if (u.status !== 0) throw new Error(`Tollgate dp -p ${pcap} exited ${u.status}`);
  return u;
}

export function runProcessBench(
  opts: { pcap?: string; runs?: number; log?: (s: string) => void } = {},
): ProcessBenchRow {
  const log = opts.log ?? ((s: string) => void process.stderr.write(`${s}\n`));
  const pcap = opts.pcap ?? DEFAULT_BENCH_PCAP;
  if (!existsSync(pcap)) {
    log(`generating ${pcap} (bench mix, seed 2024)...`);
    writeBenchMix(pcap);
  }
  const peer = neuvectorDp();
  if (!peer.path) warnPeerMissing(log, peer.why!);
  const row: ProcessBenchRow = { pcap, tollgate: [], ...(peer.path ? { peer: [] } : { peerMissing: peer.why! }) };
  // A first untimed pass of each puts the pcap in the page cache for both.
  tollgateOffline(pcap);
  if (peer.path) peerOffline(peer.path, pcap);
  for (let i = 0; i < (opts.runs ?? 3); i++) {
    const t = tollgateOffline(pcap);
    row.tollgate.push(t);
    let line = `  dp -p run ${i + 1}: Tollgate ${t.wallSecs.toFixed(2)} s wall, ${(t.userSecs + t.sysSecs).toFixed(2)} s CPU, ${t.maxRssMiB.toFixed(0)} MiB peak`;
    if (peer.path) {
      const p = peerOffline(peer.path, pcap);
      row.peer!.push(p);
      line += `; NeuVector ${p.wallSecs.toFixed(2)} s wall, ${(p.userSecs + p.sysSecs).toFixed(2)} s CPU, ${p.maxRssMiB.toFixed(0)} MiB peak`;
    }
    log(line);
  }
  return row;
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const args = process.argv.slice(2);
  const get = (k: string): string | undefined => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const pcap = get('--pcap');
  const runs = get('--runs');
  const row = runProcessBench({ ...(pcap ? { pcap } : {}), ...(runs ? { runs: Number(runs) } : {}) });
  process.stdout.write(`${JSON.stringify(row, null, 2)}\n`);
}

import { NEUVECTOR_OFFLINE_PPS, type OfflineBenchRow } from './bench-offline.js';
import { median } from './bench-iperf.js';
import type { LivePath, LiveResult } from './bench-live.js';
import type { PolicyBenchRow } from './bench-policy.js';
import type { MemoryBenchRow } from './bench-memory.js';

/**
 * Reference figures NOT measured in this run (shared/reference/platform-notes.md, same
 * machine type, same method): shown beside the same-run numbers, never divided into them
 * except as an indication.
 */
export const LIVE_REFERENCE: Record<LivePath, { tcp: string; udp: string }> = {
  kernel: { tcp: '5.45', udp: '231' },
  detour: { tcp: '3.64', udp: '182' },
  naive: { tcp: '1.14', udp: '100' },
  dp: { tcp: 'NeuVector C dp 1.35 (target); naive cap forwarder 1.14', udp: 'NeuVector C dp 99 (target 100); naive 100' },
};

export interface BenchReport {
  offline: OfflineBenchRow[];
  live: LiveResult[];
  policy?: PolicyBenchRow;
  memory?: MemoryBenchRow;
  machine: string;
  secs: number;
  tcpRuns: number;
  udpRuns: number;
  wallSecs: number;
}

const spread = (xs: number[], d: number): string =>
  xs.length > 1 ? ` (${Math.min(...xs).toFixed(d)}..${Math.max(...xs).toFixed(d)})` : '';

/** One markdown table: offline rows, then live TCP and UDP rows with ratios vs the same-run kernel path. */
export function formatBenchTable(r: BenchReport): string {
  const M = (x: number): string => `${(x / 1e6).toFixed(2)} M`;
  const rows: string[] = [
    `Tollgate bench: ${r.machine}; live: iperf3 ${r.secs} s host side -> workload, median of ${r.tcpRuns} TCP / ${r.udpRuns} UDP runs; whole run ${r.wallSecs.toFixed(0)} s`,
    '',
    '| test | path / input | result: median (min..max) | same-run baseline | ratio to baseline | reference (not this run) | forwarder CPU % of a core | forwarder RSS MiB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const o of r.offline) {
    rows.push(
      `| offline engine pkt/s | ${o.name} (${o.packets} pkts, ${o.sessions} sessions) | ${M(o.enginePps)} (${M(o.engineMin)}..${M(o.engineMax)}) | read-only loop ${M(o.readPps)} | ${o.vsRead.toFixed(2)} | NeuVector dp -p ${M(NEUVECTOR_OFFLINE_PPS)} (x${o.vsNeuVector.toFixed(2)}); target >= 2 M | ~100 (one core) | ${o.rssMiB.toFixed(0)} (bench process) |`,
    );
  }
  if (r.policy) {
    const p = r.policy;
    rows.push(
      `| policy lookups/s | ${p.rules} rules, one endpoint, half hits / half misses | ${M(p.indexedPerSec)} | first-match linear scan ${M(p.linearPerSec)} | ${(p.indexedPerSec / p.linearPerSec).toFixed(0)} | - | ~100 (one core) | - |`,
    );
  }
  if (r.memory) {
    const m = r.memory;
    rows.push(
      `| dp RSS MiB at ${m.sessions} sessions | real dp process, 2 tapped endpoints x 50,000 UDP flows | ${m.loadedMiB.toFixed(0)} (after one ctrl_list_session: ${m.afterListMiB.toFixed(0)}) | same dp idle ${m.idleMiB.toFixed(0)} | ${(m.loadedMiB / m.idleMiB).toFixed(2)} | NeuVector dp: not measured (no build on this machine); target <= 1.2 x NeuVector | - | ${m.loadedMiB.toFixed(0)} |`,
    );
  }
  const kernel = r.live.find((l) => l.path === 'kernel');
  const kTcp = kernel ? median(kernel.tcpGbps) : NaN;
  const kUdp = kernel ? median(kernel.udpKpps) : NaN;
  const ratio = (v: number, base: number): string => (Number.isFinite(v) && Number.isFinite(base) && base > 0 ? v / base : NaN).toFixed(2);
  const cpu = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(0));
  for (const [test, pick, unit, d] of [
    ['live TCP Gbit/s', (l: LiveResult) => l.tcpGbps, 'tcp', 2],
    ['live 64-byte UDP kpps delivered', (l: LiveResult) => l.udpKpps, 'udp', 0],
  ] as const) {
    const base = unit === 'tcp' ? kTcp : kUdp;
    for (const l of r.live) {
      const xs = pick(l);
      const v = median(xs);
      const result = l.error && !xs.length ? `failed: ${l.error.slice(0, 80)}` : `${v.toFixed(d)}${spread(xs, d)}`;
      const baseText = l.path === 'kernel' ? '(is the baseline)' : `kernel only ${base.toFixed(d)}`;
      rows.push(
        `| ${test} | ${l.label} | ${result} | ${baseText} | ${ratio(v, base)} | ${LIVE_REFERENCE[l.path][unit]} | ${l.path === 'dp' || l.path === 'naive' ? cpu(unit === 'tcp' ? l.tcpCpu : l.udpCpu) : '-'} | ${l.rssMiB !== undefined ? l.rssMiB.toFixed(0) : '-'} |`,
      );
    }
  }
  const dp = r.live.find((l) => l.path === 'dp');
  const naive = r.live.find((l) => l.path === 'naive');
  if (dp && naive) {
    rows.push(
      '',
      `dp / naive forwarder, same run: TCP ${ratio(median(dp.tcpGbps), median(naive.tcpGbps))}, 64-byte UDP ${ratio(median(dp.udpKpps), median(naive.udpKpps))}` +
        ` (the reference runs had NeuVector's C dp at 1.35/5.45 = 0.25 of the kernel-only TCP path and 99/231 = 0.43 of its UDP rate).`,
    );
  }
  return rows.join('\n');
}

import type { OfflineBenchRow } from './bench-offline.js';
import { median } from './bench-iperf.js';
import { MANY_FLOWS, type LivePath, type LiveResult } from './bench-live.js';
import type { PolicyBenchRow } from './bench-policy.js';
import type { MemoryBenchRow } from './bench-memory.js';
import type { ProcessBenchRow } from './bench-process.js';
import { PEER_NAME } from './bench-peer.js';
import type { ProcessUsage } from './bench-peer.js';

/**
 * The last column holds the peer (NeuVector's C dp) as measured in THIS run on the same
 * input, or a target; a figure of another run is never quoted. Targets per live path:
 */
const LIVE_TARGET: Record<LivePath, { tcp: string; udp: string }> = {
  kernel: { tcp: '-', udp: '-' },
  detour: { tcp: '-', udp: '-' },
  naive: { tcp: '-', udp: '-' },
  dp: { tcp: '-', udp: `target >= ${PEER_NAME}` },
  neuvector: { tcp: '(is the peer)', udp: '(is the peer)' },
  dpfast: { tcp: 'target >= 0.8 x kernel only', udp: '-' },
  learn: { tcp: 'target >= 0.8 x kernel only', udp: '-' },
};

export interface BenchReport {
  offline: OfflineBenchRow[];
  live: LiveResult[];
  policy?: PolicyBenchRow;
  memory?: MemoryBenchRow;
  /** Whole-process dp -p, Tollgate and the peer on the same pcap. */
  process?: ProcessBenchRow;
  machine: string;
  /** os.loadavg() at the start and at the end of the run. */
  loadStart: number[];
  loadEnd: number[];
  secs: number;
  tcpRuns: number;
  udpRuns: number;
  wallSecs: number;
}

/** One row of the bench, as printed and as written by --json. */
export interface BenchRow {
  test: string;
  path: string;
  unit: string;
  /** Every run's figure (offline: min, median, max). */
  runs: number[];
  median: number;
  baseline: string;
  baselineValue: number | null;
  /** median / baselineValue, or null without a same-run baseline. */
  ratio: number | null;
  reference: string;
  cpuPct: number | null;
  rssMiB: number | null;
  error?: string;
}

const num = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);
const ratioOf = (v: number, base: number): number | null =>
  Number.isFinite(v) && Number.isFinite(base) && base > 0 ? v / base : null;

/** Every row of the run: offline, policy lookups, then live rows with ratios to the same-run kernel-only path. */
export function benchRows(r: BenchReport): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const o of r.offline) {
    rows.push({
      test: 'offline engine pkt/s',
      path: `${o.name} (${o.packets} pkts, ${o.sessions} sessions)`,
      unit: 'pkt/s',
      runs: [o.engineMin, o.enginePps, o.engineMax],
      median: o.enginePps,
      baseline: 'read-only loop',
      baselineValue: o.readPps,
      ratio: o.vsRead,
      reference: 'target >= 2 M (the peer: whole-process rows below)',
      cpuPct: 100,
      rssMiB: o.rssMiB,
    });
  }
  if (r.policy) {
    const p = r.policy;
    rows.push({
      test: 'policy lookups/s',
      path: `${p.rules} rules, one endpoint, half hits / half misses`,
      unit: 'lookups/s',
      runs: [p.indexedPerSec],
      median: p.indexedPerSec,
      baseline: 'first-match linear scan',
      baselineValue: p.linearPerSec,
      ratio: p.indexedPerSec / p.linearPerSec,
      reference: '-',
      cpuPct: 100,
      rssMiB: null,
    });
  }
  if (r.process) rows.push(...processRows(r.process));
  const kernel = r.live.find((l) => l.path === 'kernel');
  const peerLive = r.live.find((l) => l.path === 'neuvector');
  const pick = {
    tcp: (l: LiveResult) => l.tcpGbps,
    udp: (l: LiveResult) => l.udpKpps,
    many: (l: LiveResult) => l.tcpManyGbps,
  } as const;
  const tests = [
    ['live TCP Gbit/s', 'tcp', 'Gbit/s'],
    ['live 64-byte UDP kpps delivered', 'udp', 'kpps'],
    [`live TCP Gbit/s, ${MANY_FLOWS} concurrent flows`, 'many', 'Gbit/s'],
  ] as const;
  for (const [test, kind, unit] of tests) {
    const base = kernel ? median(pick[kind](kernel)) : NaN;
    for (const l of r.live) {
      const xs = pick[kind](l);
      if (l.notMeasured) {
        rows.push({
          test,
          path: l.label,
          unit,
          runs: [],
          median: NaN,
          baseline: '-',
          baselineValue: null,
          ratio: null,
          reference: '-',
          cpuPct: null,
          rssMiB: null,
          error: `not measured: ${l.notMeasured}`,
        });
        continue;
      }
      if (!xs.length && !l.error) continue;
      const v = median(xs);
      const user = l.path !== 'kernel' && l.path !== 'detour';
      // Paired runs: the median of run / the kernel-only run right after it.
      const pk = l.paired?.[kind] ?? [];
      const paired = pk.length === xs.length && pk.length > 0;
      rows.push({
        test,
        path: l.label,
        unit,
        runs: xs,
        median: v,
        baseline:
          l.path === 'kernel'
            ? '(is the baseline)'
            : paired
              ? 'kernel only, same offloads, paired runs'
              : 'kernel only, same offloads',
        baselineValue: num(paired ? median(pk) : base),
        ratio: paired ? median(xs.map((x, i) => x / pk[i]!)) : ratioOf(v, base),
        reference: peerReference(l, peerLive, kind) ?? (kind === 'many' ? '-' : LIVE_TARGET[l.path][kind]),
        cpuPct: user && kind !== 'many' ? num(kind === 'tcp' ? l.tcpCpu : l.udpCpu) : null,
        rssMiB: user ? num(l.rssMiB) : null,
        ...(l.error && !xs.length ? { error: l.error } : {}),
      });
    }
  }
  for (const l of r.live) {
    if (!l.policyDropMs.length) continue;
    rows.push({
      test: 'policy change -> first drop, ms',
      path: `${l.label}; deny-all pushed under a running TCP stream`,
      unit: 'ms',
      runs: l.policyDropMs,
      median: median(l.policyDropMs),
      baseline: '-',
      baselineValue: null,
      ratio: null,
      reference: '-',
      cpuPct: null,
      rssMiB: null,
    });
  }
  if (r.memory) rows.push(...memoryRows(r.memory));
  return rows;
}

/** The dp row's comparison with the peer's row of the same run (dp median / peer median). */
function peerReference(l: LiveResult, peer: LiveResult | undefined, kind: 'tcp' | 'udp' | 'many'): string | undefined {
  if (l.path !== 'dp') return undefined;
  if (!peer || peer.notMeasured) return `${PEER_NAME}: not measured in this run`;
  const xs = kind === 'tcp' ? peer.tcpGbps : kind === 'udp' ? peer.udpKpps : peer.tcpManyGbps;
  const mine = kind === 'tcp' ? l.tcpGbps : kind === 'udp' ? l.udpKpps : l.tcpManyGbps;
  if (!xs.length || !mine.length) return `${PEER_NAME}: no figure`;
  const v = median(xs);
  return `${PEER_NAME} ${v.toFixed(kind === 'udp' ? 0 : 2)} this run (dp/peer ${(median(mine) / v).toFixed(2)})${kind === 'udp' ? '; target >= 1' : ''}`;
}

function processRows(p: ProcessBenchRow): BenchRow[] {
  const name = p.pcap.split('/').pop();
  const rows: BenchRow[] = [];
  const kinds = [
    ['dp -p whole process, wall s', 's', (u: ProcessUsage) => u.wallSecs, 'target <= 1.0 x peer'],
    ['dp -p whole process, CPU s (user+sys)', 's', (u: ProcessUsage) => u.userSecs + u.sysSecs, '-'],
    ['dp -p whole process, peak RSS MiB', 'MiB', (u: ProcessUsage) => u.maxRssMiB, 'target <= 1.2 x peer'],
  ] as const;
  for (const [test, unit, f, target] of kinds) {
    const mine = p.tollgate.map(f);
    const peer = p.peer?.map(f) ?? [];
    const base = peer.length ? median(peer) : null;
    rows.push({
      test,
      path: `Tollgate dp -p ${name}, JSONL to /dev/null`,
      unit,
      runs: mine,
      median: median(mine),
      baseline: base === null ? `${PEER_NAME}: not measured` : `${PEER_NAME} dp -p, same run`,
      baselineValue: base,
      ratio: base === null ? null : median(mine) / base,
      reference: target,
      cpuPct: null,
      rssMiB: null,
    });
    if (peer.length) {
      rows.push({
        test,
        path: `${PEER_NAME} dp -p ${name} (output to /dev/null)`,
        unit,
        runs: peer,
        median: median(peer),
        baseline: '(is the peer)',
        baselineValue: null,
        ratio: null,
        reference: '-',
        cpuPct: null,
        rssMiB: null,
      });
    }
  }
  return rows;
}

function memoryRows(m: MemoryBenchRow): BenchRow[] {
  const t = m.tollgate;
  const p = m.peer;
  const list =
    t.afterListMiB !== undefined
      ? ` (after one ctrl_list_session: ${t.afterListMiB.toFixed(0)}, peak ${t.peakAfterListMiB?.toFixed(0)})`
      : '';
  const rows: BenchRow[] = [
    {
      test: `dp RSS MiB at ${t.sessions} sessions`,
      path: `Tollgate dp, 2 tapped endpoints x 50,000 UDP flows${list}; peak ${t.peakMiB.toFixed(0)}, idle ${t.idleMiB.toFixed(0)}`,
      unit: 'MiB',
      runs: [t.loadedMiB],
      median: t.loadedMiB,
      baseline: p ? `${PEER_NAME} at ${p.sessions} sessions, same run` : `${PEER_NAME}: not measured`,
      baselineValue: p ? p.loadedMiB : null,
      ratio: p ? t.loadedMiB / p.loadedMiB : null,
      reference: 'target <= 1.2 x peer',
      cpuPct: null,
      rssMiB: t.loadedMiB,
    },
    {
      test: `dp peak RSS MiB, start to ${t.sessions} sessions`,
      path: 'Tollgate dp, VmHWM over the same steps as the peer (start, configuration, the flows)',
      unit: 'MiB',
      runs: [t.peakMiB],
      median: t.peakMiB,
      baseline: p ? `${PEER_NAME} peak, same steps, same run` : `${PEER_NAME}: not measured`,
      baselineValue: p ? p.peakMiB : null,
      ratio: p ? t.peakMiB / p.peakMiB : null,
      reference: 'target <= 1.2 x peer',
      cpuPct: null,
      rssMiB: t.peakMiB,
    },
  ];
  if (p) {
    rows.push({
      test: `dp RSS MiB at ${p.sessions} sessions`,
      path: `${PEER_NAME}, the same flows; peak ${p.peakMiB.toFixed(0)}, idle ${p.idleMiB.toFixed(0)}`,
      unit: 'MiB',
      runs: [p.loadedMiB],
      median: p.loadedMiB,
      baseline: '(is the peer)',
      baselineValue: null,
      ratio: null,
      reference: '-',
      cpuPct: null,
      rssMiB: p.loadedMiB,
    });
  }
  return rows;
}

/** The rows as ONE markdown table, with the machine and load in the header line. */
export function formatBenchTable(r: BenchReport, rows = benchRows(r)): string {
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const out: string[] = [
    `Tollgate bench: ${r.machine}; load average ${load(r.loadStart)} at start, ${load(r.loadEnd)} at end; live: iperf3 ${r.secs} s host side -> workload, median of ${r.tcpRuns} TCP / ${r.udpRuns} UDP runs; whole run ${r.wallSecs.toFixed(0)} s`,
    '',
    '| test | path / input | result: median (min..max) | same-run baseline | ratio to baseline | peer in this run / target | forwarder CPU % of a core | forwarder RSS MiB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const d = row.unit === 'kpps' || row.unit === 'MiB' ? 0 : row.unit === 'pkt/s' || row.unit === 'lookups/s' ? -1 : 2;
    const fmt = (x: number): string => (d < 0 ? `${(x / 1e6).toFixed(2)} M` : x.toFixed(d));
    const range = row.runs.length > 1 ? ` (${fmt(Math.min(...row.runs))}..${fmt(Math.max(...row.runs))})` : '';
    const result = row.error
      ? row.error.startsWith('not measured')
        ? row.error
        : `failed: ${row.error.slice(0, 80)}`
      : `${fmt(row.median)}${range}`;
    const base =
      row.baselineValue === null || row.baseline.startsWith('(')
        ? row.baseline
        : `${row.baseline} ${fmt(row.baselineValue)}`;
    out.push(
      `| ${row.test} | ${row.path} | ${result} | ${base} | ${row.ratio === null ? '-' : row.ratio.toFixed(2)} | ${row.reference} | ${row.cpuPct === null ? '-' : row.cpuPct.toFixed(0)} | ${row.rssMiB === null ? '-' : row.rssMiB.toFixed(0)} |`,
    );
  }
  const med = (p: LivePath, k: 'tcpGbps' | 'udpKpps'): number => {
    const l = r.live.find((x) => x.path === p);
    return l ? median(l[k]) : NaN;
  };
  const dpTcp = med('dp', 'tcpGbps');
  const notes: string[] = [];
  const naiveTcp = med('naive', 'tcpGbps');
  if (Number.isFinite(dpTcp) && Number.isFinite(naiveTcp)) {
    notes.push(
      `dp / naive forwarder, same run: TCP ${(dpTcp / naiveTcp).toFixed(2)}, 64-byte UDP ${(med('dp', 'udpKpps') / med('naive', 'udpKpps')).toFixed(2)}`,
    );
  }
  const fastTcp = med('dpfast', 'tcpGbps');
  if (Number.isFinite(dpTcp) && Number.isFinite(fastTcp))
    notes.push(
      `fast path / no fast path, same run: TCP ${(fastTcp / dpTcp).toFixed(2)}, 64-byte UDP ${(med('dpfast', 'udpKpps') / med('dp', 'udpKpps')).toFixed(2)}`,
    );
  if (notes.length) out.push('', `${notes.join('; ')}.`);
  return out.join('\n');
}

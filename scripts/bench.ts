/**
 * `npm run bench` (as root): offline engine packets/s and live inline throughput,
 * with the baselines measured in the same run, printed as ONE markdown table.
 *   node dist/scripts/bench.js [--secs 5] [--tcp-runs 3] [--udp-runs 3]
 *        [--paths kernel,detour,naive,dp,neuvector,dpfast,learn] [--no-offline] [--no-live] [--dp-prof DIR]
 *        [--process-runs 3]     (whole-process dp -p runs, Tollgate and the peer alternated)
 *        [--offloads on|off]    (workload links: on = as the topology leaves them, off = off everywhere)
 *        [--many-runs 1]        (runs of the 100-concurrent-flows row per path)
 *        [--policy-runs 3]      (policy change -> first drop measurements per dp path)
 *        [--json FILE]          (the rows as JSON too)
 *        [--no-paired]          (dp rows: no kernel-only run right after each run)
 *        [--forwarder-nice N]   (both user-space forwarders under nice -n N)
 *        [--dp-workers N]       (dp -n N; default 1)
 *        [--containers N | --no-scale]  (control-plane rows with N real podman containers; default 100)
 *        [--no-memory]          (skip the dp RSS at 100k sessions row)
 * The peer, NeuVector's C dp ($NEUVECTOR_DP, default /tmp/neuvector-dp/dp/dp), runs in the
 * same run on the same inputs (dp -p, the live paths, the memory row); without a build the
 * bench says loudly that it was not measured and quotes no figure of it.
 * Everything live runs in namespaces of its own (prefix tgb<hex>-, 198.18.0.0/15),
 * taken down at the end, on an error and on Ctrl-C.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { runOfflineBench, type OfflineBenchRow } from './bench-offline.js';
import { runProcessBench, type ProcessBenchRow } from './bench-process.js';
import { LIVE_PATHS, runLiveBench, type LivePath, type LiveResult } from './bench-live.js';
import { downAllBenchLabs, setBenchOffloads, type BenchOffloads } from './bench-lab.js';
import { median } from './bench-iperf.js';
import { benchRows, formatBenchTable, type BenchReport } from './bench-table.js';
import { runPolicyBench, type PolicyBenchRow } from './bench-policy.js';
import { formatScaleRows, runScaleBench, type ScaleRow } from './bench-agent-scale.js';
import { runMemoryBench, type MemoryBenchRow } from './bench-memory.js';

interface Args {
  secs: number;
  tcpRuns: number;
  udpRuns: number;
  manyRuns: number;
  paired: boolean;
  policyRuns: number;
  json?: string;
  paths: LivePath[];
  offline: boolean;
  live: boolean;
  dpProf?: string;
  forwarderNice?: number;
  dpWorkers?: number;
  /** Containers for the control-plane scale rows (0: skip them). */
  containers: number;
  memory: boolean;
  processRuns: number;
  offloads: BenchOffloads;
}

function parseArgs(argv: string[]): Args {
  const get = (k: string): string | undefined => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (k: string, d: number): number => {
    const v = get(k);
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 60) throw new Error(`${k} must be an integer in 0..60, got ${v}`);
    return n;
  };
  const paths = (get('--paths') ?? LIVE_PATHS.join(',')).split(',').map((p) => p.trim());
  for (const p of paths)
    if (!(LIVE_PATHS as readonly string[]).includes(p))
      throw new Error(`--paths: unknown path "${p}" (${LIVE_PATHS.join(', ')})`);
  const json = get('--json');
  if (argv.includes('--json') && !json) throw new Error('--json needs a file name');
  const dpProf = get('--dp-prof');
  const niceText = get('--forwarder-nice');
  const nice = niceText === undefined ? undefined : Number(niceText);
  if (nice !== undefined && (!Number.isInteger(nice) || nice < -20 || nice > 19))
    throw new Error(`--forwarder-nice must be an integer in -20..19, got ${niceText}`);
  const workersText = get('--dp-workers');
  const dpWorkers = workersText === undefined ? undefined : Number(workersText);
  if (dpWorkers !== undefined && (!Number.isInteger(dpWorkers) || dpWorkers < 1 || dpWorkers > 64))
    throw new Error(`--dp-workers must be an integer in 1..64, got ${workersText}`);
  return {
    secs: num('--secs', 5),
    tcpRuns: num('--tcp-runs', 3),
    udpRuns: num('--udp-runs', 3),
    manyRuns: num('--many-runs', 1),
    paired: !argv.includes('--no-paired'),
    policyRuns: num('--policy-runs', 3),
    processRuns: num('--process-runs', 3),
    offloads: offloadsArg(get('--offloads')),
    ...(json ? { json } : {}),
    paths: paths as LivePath[],
    offline: !argv.includes('--no-offline'),
    live: !argv.includes('--no-live'),
    memory: !argv.includes('--no-memory') && !argv.includes('--no-live'),
    ...(dpProf ? { dpProf } : {}),
    ...(nice !== undefined ? { forwarderNice: nice } : {}),
    ...(dpWorkers !== undefined ? { dpWorkers } : {}),
    containers: argv.includes('--no-scale') ? 0 : Number(get('--containers') ?? 100),
  };
}

function offloadsArg(v: string | undefined): BenchOffloads {
  if (v === undefined || v === 'on' || v === 'off') return v ?? 'on';
  throw new Error(`--offloads must be on or off, got ${v}`);
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.live && process.getuid?.() !== 0)
    throw new Error('the live bench builds namespaces: run as root (or pass --no-live)');
  let interrupted = false;
  const onSignal = (sig: string): void => {
    if (interrupted) return;
    interrupted = true;
    log(`bench: ${sig}, taking the labs down`);
    void downAllBenchLabs().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));

  setBenchOffloads(args.offloads);
  const t0 = Date.now();
  const loadStart = loadavg();
  let offline: OfflineBenchRow[] = [];
  if (args.offline) {
    log('offline: engine over the synthetic mix and the shared captures...');
    offline = runOfflineBench({ runs: 3 });
  }
  let proc: ProcessBenchRow | undefined;
  if (args.offline && args.processRuns > 0) {
    log('offline: whole-process dp -p, Tollgate and NeuVector alternated on the same pcap...');
    proc = runProcessBench({ runs: args.processRuns, log });
  }
  let policy: PolicyBenchRow | undefined;
  if (args.offline) {
    log('policy: lookups with 5000 rules, index vs linear scan...');
    policy = runPolicyBench();
  }
  let memory: MemoryBenchRow | undefined;
  if (args.memory) {
    log('memory: dp RSS with 100,000 sessions...');
    memory = await runMemoryBench(log);
  }
  let live: LiveResult[] = [];
  if (args.live) {
    live = await runLiveBench({
      secs: args.secs,
      tcpRuns: args.tcpRuns,
      udpRuns: args.udpRuns,
      manyRuns: args.manyRuns,
      paired: args.paired,
      policyRuns: args.policyRuns,
      paths: args.paths,
      ...(args.forwarderNice !== undefined ? { forwarderNice: args.forwarderNice } : {}),
      ...(args.dpWorkers !== undefined ? { dpWorkers: args.dpWorkers } : {}),
      ...(args.dpProf ? { dpNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${args.dpProf}`] } : {}),
      log,
    });
  }
  let scale: ScaleRow[] = [];
  if (args.containers > 0 && args.live) {
    log(`scale: the agent with ${args.containers} real podman containers...`);
    scale = await runScaleBench(args.containers);
  }
  const machine = `${cpus()[0]?.model ?? 'cpu?'}, ${cpus().length} cores, Linux ${release()}, Node ${process.version}`;
  const report: BenchReport = {
    offline,
    live,
    ...(policy ? { policy } : {}),
    ...(memory ? { memory } : {}),
    ...(proc ? { process: proc } : {}),
    machine,
    loadStart,
    loadEnd: loadavg(),
    secs: args.secs,
    tcpRuns: args.tcpRuns,
    udpRuns: args.udpRuns,
    wallSecs: (Date.now() - t0) / 1000,
  };
  const rows = benchRows(report);
  process.stdout.write(`${formatBenchTable(report, rows)}\n`);
  if (args.json) {
    const { offline: _o, live: _l, policy: _p, memory: _m, process: _pr, ...meta } = report;
    writeFileSync(args.json, `${JSON.stringify({ ...meta, at: new Date(t0).toISOString(), rows }, null, 2)}\n`);
    log(`bench: rows written to ${args.json}`);
  }
  if (scale.length) process.stdout.write(`\n${formatScaleRows(scale).join('\n')}\n`);
  const failed = live.filter((r) => r.error);
  for (const r of failed) log(`bench: ${r.path} failed: ${r.error}`);
  return failed.length ? 1 : 0;
}

export { median };

main().then(
  async (code) => {
    await downAllBenchLabs();
    process.exit(code);
  },
  async (e: Error) => {
    log(`bench: ${e.message}`);
    await downAllBenchLabs();
    process.exit(1);
  },
);

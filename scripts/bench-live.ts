import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { netnsArgv } from '../shared/exec.js';
import { benchLabUp, type BenchLab } from './bench-lab.js';
import { BenchCtrl, inlineConfig } from './bench-ctrl.js';
import { median, rssMiB, stopChild, tcpGbps, udp64Kpps, withCpu } from './bench-iperf.js';
import { resolveIoBackend, type IoBackend } from '../dp/io/live.js';

/**
 * Live bench: iperf3 from the host side to the workload through three paths, built
 * and measured in this run, one after the other so they never share the CPU:
 *   kernel   u32 match-all + mirred redirect vex<->vin in the enforcer (offloads off)
 *   detour   BPF steering vex/vin -> vbr -> vth, an in-kernel mirred reflector on vth
 *   naive    BPF steering, a naive Node cap forwarder on vth (frame in, same frame out)
 *   dp       BPF steering, the Tollgate dp inline on vth (configured by the 4 datagrams)
 */
export type LivePath = 'kernel' | 'detour' | 'naive' | 'dp';

export interface LiveResult {
  path: LivePath;
  label: string;
  tcpGbps: number[];
  udpKpps: number[];
  /** dp only: CPU % of one core (median over runs) and RSS after the runs. */
  tcpCpu?: number;
  udpCpu?: number;
  rssMiB?: number;
  error?: string;
}

export interface LiveOptions {
  secs: number;
  tcpRuns: number;
  udpRuns: number;
  paths: LivePath[];
  /** Extra node flags for the dp (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  dpNodeArgs?: string[];
  /** Run both user-space forwarders (naive and dp) under `nice -n N` (e.g. -5). */
  forwarderNice?: number;
  /** dp -n N (default 1); N ≥ 2 runs worker threads sharing vth by flow hash. */
  dpWorkers?: number;
  log?: (s: string) => void;
}

const DP_MAIN = fileURLToPath(new URL('../dp/main.js', import.meta.url));
const NAIVE = fileURLToPath(new URL('./bench-naive-forwarder.js', import.meta.url));

export const PATH_LABELS: Record<LivePath, string> = {
  kernel: 'kernel only: u32 + mirred vex<->vin, offloads off',
  detour: 'vbr/vth detour, BPF steering + in-kernel reflector on vth',
  naive: 'naive Node forwarder on vth (cap, frame straight back)',
  dp: `Tollgate dp inline (protect, ${dpIoLabel()} on vth)`,
};

/** The I/O backend the dp will pick (dp --io auto, or TOLLGATE_DP_IO), for the table label. */
function dpIoLabel(): string {
  try {
    const io = (process.env.TOLLGATE_DP_IO ?? 'auto') as IoBackend;
    return resolveIoBackend(io) === 'ring' ? 'AF_PACKET ring backend' : 'cap backend';
  } catch {
    return 'backend?';
  }
}

const tcBatch = (lab: BenchLab, lines: string[]) => lab.exec(lab.agentNs, ['tc', '-batch', '-'], { input: lines.join('\n') + '\n' });

/** A match-all u32 filter that redirects every frame arriving on `from` out of `to`. */
const redirect = (from: string, to: string): string[] => [
  `qdisc add dev ${from} clsact`,
  `filter add dev ${from} ingress prio 1 protocol all u32 match u8 0 0 action mirred egress redirect dev ${to}`,
];

async function measure(lab: BenchLab, opts: LiveOptions, res: LiveResult, pid?: number): Promise<void> {
  const tcpCpu: number[] = [];
  const udpCpu: number[] = [];
  for (let i = 0; i < opts.tcpRuns; i++) {
    const [g, cpu] = await withCpu(pid, () => tcpGbps(lab.hostNs, lab.wlNs, lab.wlIp, opts.secs));
    res.tcpGbps.push(g);
    if (cpu !== undefined) tcpCpu.push(cpu);
    opts.log?.(`  ${res.path} tcp run ${i + 1}: ${g.toFixed(2)} Gbit/s${cpu !== undefined ? `, forwarder ${cpu.toFixed(0)}% CPU` : ''}`);
  }
  for (let i = 0; i < opts.udpRuns; i++) {
    const [k, cpu] = await withCpu(pid, () => udp64Kpps(lab.hostNs, lab.wlNs, lab.wlIp, opts.secs));
    res.udpKpps.push(k);
    if (cpu !== undefined) udpCpu.push(cpu);
    opts.log?.(`  ${res.path} udp64 run ${i + 1}: ${k.toFixed(0)} kpps${cpu !== undefined ? `, forwarder ${cpu.toFixed(0)}% CPU` : ''}`);
  }
  if (pid !== undefined) {
    res.tcpCpu = median(tcpCpu);
    res.udpCpu = median(udpCpu);
    res.rssMiB = rssMiB(pid);
  }
}

/** `nice -n N` in front of a forwarder's argv (nice execs, so the pid stays node's). */
const niced = (nice: number | undefined, argv: string[]): string[] => (nice === undefined ? argv : ['nice', '-n', String(nice), ...argv]);

async function startNaive(lab: BenchLab, nice?: number): Promise<ChildProcess> {
  const [cmd, ...args] = netnsArgv(lab.agentNs, niced(nice, ['node', NAIVE, 'vth']));
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`naive forwarder exited (${c})`)));
  });
  return child;
}

async function startDp(lab: BenchLab, ctrl: string, nodeArgs: string[], nice?: number, workers = 1): Promise<ChildProcess> {
  const [cmd, ...args] = netnsArgv(lab.agentNs, niced(nice, ['node', ...nodeArgs, DP_MAIN, '-n', String(workers), '--ctrl', ctrl, '--log-level', 'warn']));
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100 && !existsSync(ctrl); i++) {
    if (child.exitCode !== null) throw new Error(`dp exited (${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!existsSync(ctrl)) throw new Error('dp control socket did not appear in 10 s');
  return child;
}

/** kernel-only path: a lab without steering, vex and vin joined by mirred. */
async function kernelPath(opts: LiveOptions, res: LiveResult): Promise<void> {
  const lab = await benchLabUp('none');
  try {
    await tcBatch(lab, [...redirect(lab.vex, lab.vin), ...redirect(lab.vin, lab.vex)]);
    await measure(lab, opts, res);
  } finally {
    await lab.down();
  }
}

/** detour then dp, on one BPF-steered protect-mode lab. */
async function steeredPaths(opts: LiveOptions, results: Map<LivePath, LiveResult>): Promise<void> {
  const lab = await benchLabUp('bpf');
  let dp: ChildProcess | undefined;
  const ctrlPath = `/tmp/tg-bench-dp-${process.pid}.sock`;
  let ctrl: BenchCtrl | undefined;
  try {
    const detour = results.get('detour');
    if (detour) {
      try {
        await tcBatch(lab, redirect('vth', 'vth'));
        await measure(lab, opts, detour);
      } catch (e) {
        detour.error = (e as Error).message;
      } finally {
        await lab.exec(lab.agentNs, ['tc', 'qdisc', 'del', 'dev', 'vth', 'clsact'], { allowFail: true });
      }
    }
    const naive = results.get('naive');
    if (naive) {
      let fwd: ChildProcess | undefined;
      try {
        fwd = await startNaive(lab, opts.forwarderNice);
        await measure(lab, opts, naive, fwd.pid);
      } catch (e) {
        naive.error = (e as Error).message;
      } finally {
        await stopChild(fwd);
      }
    }
    const dpRes = results.get('dp');
    if (dpRes) {
      try {
        dp = await startDp(lab, ctrlPath, opts.dpNodeArgs ?? [], opts.forwarderNice, opts.dpWorkers);
        ctrl = new BenchCtrl(ctrlPath);
        for (const m of inlineConfig(lab.wlMac, lab.ucMac)) await ctrl.call(m);
        await measure(lab, opts, dpRes, dp.pid);
      } catch (e) {
        dpRes.error = (e as Error).message;
      }
      if (ctrl && (dpRes.error || process.env.TG_BENCH_VERBOSE)) {
        const c = await ctrl.call('{"ctrl_counter_device":{}}').catch((e: Error) => e.message);
        opts.log?.(`  dp counters: ${JSON.stringify(c)}`);
      }
    }
  } finally {
    ctrl?.close();
    await stopChild(dp); // SIGTERM: a --cpu-prof dp writes its profile on a clean exit
    await lab.down();
  }
}

export async function runLiveBench(opts: LiveOptions): Promise<LiveResult[]> {
  const results = new Map<LivePath, LiveResult>();
  for (const p of opts.paths) results.set(p, { path: p, label: PATH_LABELS[p], tcpGbps: [], udpKpps: [] });
  const k = results.get('kernel');
  if (k) {
    opts.log?.('live: kernel-only path');
    await kernelPath(opts, k).catch((e: Error) => (k.error = e.message));
  }
  if (results.has('detour') || results.has('naive') || results.has('dp')) {
    opts.log?.('live: steered lab (detour, naive, dp)');
    await steeredPaths(opts, results).catch((e: Error) => {
      for (const p of ['detour', 'naive', 'dp'] as const) {
        const r = results.get(p);
        if (r && !r.error && !r.tcpGbps.length) r.error = e.message;
      }
    });
  }
  return [...results.values()];
}

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { netnsArgv } from '../shared/exec.js';
import { dpCommand } from '../shared/repo-root.js';
import { benchLabUp, offloadLabel, type BenchLab } from './bench-lab.js';
import { BenchCtrl, inlineConfig } from './bench-ctrl.js';
import {
  median,
  rssMiB,
  startIperfServer,
  stopChild,
  tcpFlowsGbps,
  tcpGbps,
  udp64Kpps,
  withCpu,
  IPERF_PORT,
} from './bench-iperf.js';
import { applyLab } from '../agent/topology/reconcile.js';
import { openSteering } from '../agent/topology/steering-bridge.js';
import { MAP_FLOWS, mapPath } from '../agent/steering/bpf-maps.js';
import { pinDirFor } from '../agent/topology/names.js';
import { resolveIoBackend, type IoBackend } from '../dp/io/live.js';
import { neuvectorDp, startPeerInline, warnPeerMissing, PEER_NAME } from './bench-peer.js';

import { type LiveOptions, type LivePath, type LiveResult, MANY_FLOWS, PAIRED_PATHS } from './bench-live-types.js';

export { LIVE_PATHS, type LiveOptions, type LivePath, type LiveResult, MANY_FLOWS } from './bench-live-types.js';

const NAIVE = fileURLToPath(new URL('./bench-naive-forwarder.js', import.meta.url));

export const PATH_LABELS: Record<LivePath, string> = {
  kernel: 'kernel only: u32 + mirred vex<->vin',
  detour: 'vbr/vth detour, BPF steering + in-kernel reflector on vth',
  naive: 'naive Node forwarder on vth (cap, frame straight back)',
  dp: `Tollgate dp inline (protect, ${dpIoLabel()} on vth), no fast path`,
  neuvector: `${PEER_NAME} inline (protect, dp -n 1 on vth, same steering and datagrams)`,
  dpfast: `Tollgate dp inline (protect, ${dpIoLabel()}) + kernel fast path`,
  learn: `Tollgate learn mode (tap + dp copies, ${dpIoLabel()}) + kernel fast path`,
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

const tcBatch = (lab: BenchLab, lines: string[]) =>
  lab.exec(lab.agentNs, ['tc', '-batch', '-'], { input: `${lines.join('\n')}\n` });

/** A match-all u32 filter that redirects every frame arriving on `from` out of `to`. */
const redirect = (from: string, to: string): string[] => [
  `qdisc add dev ${from} clsact`,
  `filter add dev ${from} ingress prio 1 protocol all u32 match u8 0 0 action mirred egress redirect dev ${to}`,
];

/** The kernel-only lab, kept up while the dp paths run when runs are paired. */
let pairLab: BenchLab | undefined;

async function measure(lab: BenchLab, opts: LiveOptions, res: LiveResult, pid?: number): Promise<void> {
  const tcpCpu: number[] = [];
  const udpCpu: number[] = [];
  const pair = pairLab !== undefined && lab !== pairLab && PAIRED_PATHS.includes(res.path) ? pairLab : undefined;
  if (pair) res.paired = { tcp: [], udp: [], many: [] };
  const pairRun = async (kind: 'tcp' | 'udp' | 'many', f: (l: BenchLab) => Promise<number>): Promise<void> => {
    if (!pair || !res.paired) return;
    const v = await f(pair);
    res.paired[kind].push(v);
    opts.log?.(`    paired kernel-only ${kind} run: ${v.toFixed(2)}`);
  };
  for (let i = 0; i < opts.tcpRuns; i++) {
    const [g, cpu] = await withCpu(pid, () => tcpGbps(lab.hostNs, lab.wlNs, lab.wlIp, opts.secs));
    res.tcpGbps.push(g);
    if (cpu !== undefined) tcpCpu.push(cpu);
    opts.log?.(
      `  ${res.path} tcp run ${i + 1}: ${g.toFixed(2)} Gbit/s${cpu !== undefined ? `, forwarder ${cpu.toFixed(0)}% CPU` : ''}`,
    );
    await pairRun('tcp', (l) => tcpGbps(l.hostNs, l.wlNs, l.wlIp, opts.secs));
  }
  for (let i = 0; i < opts.udpRuns; i++) {
    const [k, cpu] = await withCpu(pid, () => udp64Kpps(lab.hostNs, lab.wlNs, lab.wlIp, opts.secs));
    res.udpKpps.push(k);
    if (cpu !== undefined) udpCpu.push(cpu);
    opts.log?.(
      `  ${res.path} udp64 run ${i + 1}: ${k.toFixed(0)} kpps${cpu !== undefined ? `, forwarder ${cpu.toFixed(0)}% CPU` : ''}`,
    );
    await pairRun('udp', (l) => udp64Kpps(l.hostNs, l.wlNs, l.wlIp, opts.secs));
  }
  for (let i = 0; i < opts.manyRuns; i++) {
    const g = await tcpFlowsGbps(lab.hostNs, lab.wlNs, lab.wlIp, opts.secs, MANY_FLOWS);
    res.tcpManyGbps.push(g);
    opts.log?.(`  ${res.path} tcp x${MANY_FLOWS} run ${i + 1}: ${g.toFixed(2)} Gbit/s`);
    await pairRun('many', (l) => tcpFlowsGbps(l.hostNs, l.wlNs, l.wlIp, opts.secs, MANY_FLOWS));
  }
  if (pid !== undefined) {
    res.tcpCpu = median(tcpCpu);
    res.udpCpu = median(udpCpu);
    res.rssMiB = rssMiB(pid);
  }
}

/** `nice -n N` in front of a forwarder's argv (nice execs, so the pid stays node's). */
const niced = (nice: number | undefined, argv: string[]): string[] =>
  nice === undefined ? argv : ['nice', '-n', String(nice), ...argv];

async function startNaive(lab: BenchLab, nice?: number): Promise<ChildProcess> {
  const [cmd, ...args] = netnsArgv(lab.agentNs, niced(nice, ['node', NAIVE, 'vth']));
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`naive forwarder exited (${c})`)));
  });
  return child;
}

async function startDp(
  lab: BenchLab,
  ctrl: string,
  nodeArgs: string[],
  nice?: number,
  workers = 1,
  dpArgs: string[] = [],
): Promise<ChildProcess> {
  const [cmd, ...args] = netnsArgv(
    lab.agentNs,
    niced(nice, [...dpCommand(nodeArgs), '-n', String(workers), '--ctrl', ctrl, '--log-level', 'warn', ...dpArgs]),
  );
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
  let keep = false;
  try {
    await tcBatch(lab, [...redirect(lab.vex, lab.vin), ...redirect(lab.vin, lab.vex)]);
    await measure(lab, opts, res);
    keep = opts.paired === true;
    if (keep) pairLab = lab;
  } finally {
    if (!keep) await lab.down();
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
    const fastMap = ['--fast-path-map', mapPath(pinDirFor(lab.agentNs), MAP_FLOWS)];
    for (const [path, dpArgs, learn] of [
      ['dp', ['--no-fast-path'], false],
      ['neuvector', [], false],
      ['dpfast', fastMap, false],
      ['learn', fastMap, true],
    ] as const) {
      const dpRes = results.get(path);
      if (!dpRes || dpRes.notMeasured) continue;
      if (path === 'neuvector') {
        await peerPath(lab, opts, dpRes);
        continue;
      }
      try {
        if (learn) await setLabMode(lab, 'learn');
        dp = await startDp(lab, ctrlPath, opts.dpNodeArgs ?? [], opts.forwarderNice, opts.dpWorkers, [...dpArgs]);
        ctrl = new BenchCtrl(ctrlPath);
        for (const m of inlineConfig(lab.wlMac, lab.ucMac)) await ctrl.call(m);
        if (learn) for (const m of learnConfig(lab.wlMac)) await ctrl.call(m);
        await measure(lab, opts, dpRes, dp.pid);
        if (!learn) await policyDropLatency(lab, ctrl, opts, dpRes);
      } catch (e) {
        dpRes.error = (e as Error).message;
      }
      if (ctrl && (dpRes.error || process.env.TG_BENCH_VERBOSE)) {
        const c = await ctrl.call('{"ctrl_counter_device":{}}').catch((e: Error) => e.message);
        opts.log?.(`  ${path} counters: ${JSON.stringify(c)}`);
      }
      ctrl?.close();
      ctrl = undefined;
      await stopChild(dp); // SIGTERM: a --cpu-prof dp writes its profile on a clean exit
      dp = undefined;
    }
  } finally {
    ctrl?.close();
    await stopChild(dp);
    await lab.down();
  }
}

/** The peer inline on the protect-mode lab, configured with the same four datagrams. */
async function peerPath(lab: BenchLab, opts: LiveOptions, res: LiveResult): Promise<void> {
  const bin = neuvectorDp().path!;
  const peer = await startPeerInline(bin, lab.agentNs).catch((e: Error) => {
    res.error = e.message;
    return undefined;
  });
  if (!peer) return;
  try {
    for (const m of inlineConfig(lab.wlMac, lab.ucMac)) await peer.ctrl.send(m);
    await peer.ctrl.sync();
    await measure(lab, opts, res, peer.pid);
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    await peer.stop();
  }
}

/** Switches the bench lab's workload steering (protect = inline, learn = tap) with the agent's code. */
async function setLabMode(lab: BenchLab, mode: 'learn' | 'protect'): Promise<void> {
  lab.spec.workloads[0]!.mode = mode;
  await applyLab(lab.spec, await openSteering(lab.spec.steering, pinDirFor(lab.agentNs)));
}

/** Learn mode in the dp: tapped endpoint, default action LEARN. */
function learnConfig(wlMac: string): string[] {
  return [
    `{"ctrl_cfg_mac":{"tap":true,"macs":["${wlMac}"]}}`,
    `{"ctrl_cfg_policy":{"cmd":1,"flag":3,"defact":1,"dir":3,"mac":["${wlMac}"],"rules":[]}}`,
  ];
}

const policyAll = (wlMac: string, defact: number): string =>
  `{"ctrl_cfg_policy":{"cmd":1,"flag":3,"defact":${defact},"dir":3,"mac":["${wlMac}"],"rules":[]}}`;

/**
 * Policy change to first drop: a running TCP stream (allowed, offloaded with the fast
 * path), then a deny-all policy; the time from sending it to the first frame the dp
 * dropped, seen by polling its device counters over the control socket (each poll is a
 * round trip through the dp's loop, well under a millisecond on an idle socket).
 */
async function policyDropLatency(lab: BenchLab, ctrl: BenchCtrl, opts: LiveOptions, res: LiveResult): Promise<void> {
  const drops = async (): Promise<number> => {
    const r = (await ctrl.call('{"ctrl_counter_device":{}}')) as {
      dp_counter_device?: { pipeline?: { dropPackets?: number } };
    };
    return r.dp_counter_device?.pipeline?.dropPackets ?? 0;
  };
  for (let i = 0; i < opts.policyRuns; i++) {
    await ctrl.call(policyAll(lab.wlMac, 2));
    const server = await startIperfServer(lab.wlNs);
    const [cmd, ...args] = netnsArgv(lab.hostNs, ['iperf3', '-c', lab.wlIp, '-p', String(IPERF_PORT), '-t', '30']);
    const client = spawn(cmd!, args, { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const d0 = await drops();
      const t0 = process.hrtime.bigint();
      await ctrl.call(policyAll(lab.wlMac, 7));
      let ms = NaN;
      while (Number(process.hrtime.bigint() - t0) / 1e6 < 5000) {
        if ((await drops()) > d0) {
          ms = Number(process.hrtime.bigint() - t0) / 1e6;
          break;
        }
      }
      res.policyDropMs.push(ms);
      opts.log?.(`  ${res.path} policy change -> first drop run ${i + 1}: ${ms.toFixed(2)} ms`);
    } finally {
      await stopChild(client);
      await stopChild(server);
    }
  }
  await ctrl.call(policyAll(lab.wlMac, 2));
}

export async function runLiveBench(opts: LiveOptions): Promise<LiveResult[]> {
  const results = new Map<LivePath, LiveResult>();
  for (const p of opts.paths)
    results.set(p, {
      path: p,
      label: `${PATH_LABELS[p]}; ${offloadLabel()}`,
      tcpGbps: [],
      udpKpps: [],
      tcpManyGbps: [],
      policyDropMs: [],
    });
  const nv = results.get('neuvector');
  const peerBin = neuvectorDp();
  if (nv && !peerBin.path) {
    nv.notMeasured = peerBin.why!;
    warnPeerMissing(opts.log ?? ((s) => void process.stderr.write(`${s}\n`)), peerBin.why!);
  }
  const k = results.get('kernel');
  if (k) {
    opts.log?.('live: kernel-only path');
    await kernelPath(opts, k).catch((e: Error) => (k.error = e.message));
  }
  if (['detour', 'naive', 'dp', 'neuvector', 'dpfast', 'learn'].some((p) => results.has(p as LivePath))) {
    opts.log?.('live: steered lab (detour, naive, dp, neuvector, dpfast, learn)');
    await steeredPaths(opts, results).catch((e: Error) => {
      for (const p of ['detour', 'naive', 'dp', 'neuvector', 'dpfast', 'learn'] as const) {
        const r = results.get(p);
        if (r && !r.error && !r.notMeasured && !r.tcpGbps.length) r.error = e.message;
      }
    });
  }
  if (pairLab) {
    await pairLab.down();
    pairLab = undefined;
  }
  return [...results.values()];
}

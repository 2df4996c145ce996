import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { netnsArgv, runIn } from '../shared/exec.js';

/** iperf3 and /proc helpers of the live bench. */

export const IPERF_PORT = 5201;
/** 18 bytes of UDP payload: 14 + 20 + 8 + 18 = 60 bytes on the wire, 64 with the FCS. */
export const UDP64_PAYLOAD = 18;

/** Starts a one-test `iperf3 -s -1` in `ns`; resolves once it listens. A fresh server per
 *  run: a long-lived one was seen refusing or resetting the next test after a UDP flood. */
export function startIperfServer(ns: string): Promise<ChildProcess> {
  const [cmd, ...args] = netnsArgv(ns, ['iperf3', '-s', '-1', '--forceflush', '-p', String(IPERF_PORT)]);
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('Server listening')) resolve(child);
    });
    child.on('exit', (c) => reject(new Error(`iperf3 -s exited (${c})`)));
    setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('iperf3 -s did not report listening in 10 s'));
    }, 10_000).unref();
  });
}

export function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    child.kill('SIGTERM');
  });
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second?: number; seconds?: number };
    sum?: { packets?: number; lost_packets?: number; seconds?: number; bits_per_second?: number };
  };
}

/** One client run; retried once after a pause when the server is still busy with the
 *  previous test (after a UDP flood it drains its socket before accepting again). */
async function iperfClient(ns: string, serverNs: string, argv: string[], secs: number): Promise<IperfJson> {
  try {
    return await iperfOnce(ns, serverNs, argv, secs);
  } catch {
    await new Promise((r) => setTimeout(r, 1000));
    return iperfOnce(ns, serverNs, argv, secs);
  }
}

async function iperfOnce(clientNs: string, serverNs: string, argv: string[], secs: number): Promise<IperfJson> {
  const server = await startIperfServer(serverNs);
  try {
    return await iperfClientRun(clientNs, argv, secs);
  } finally {
    await stopChild(server);
  }
}

async function iperfClientRun(ns: string, argv: string[], secs: number): Promise<IperfJson> {
  const r = await runIn(ns, ['iperf3', '-J', '-p', String(IPERF_PORT), '-t', String(secs), ...argv], {
    allowFail: true,
    timeoutMs: (secs + 15) * 1000,
  });
  let j: IperfJson;
  try {
    j = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 ${argv.join(' ')}: no JSON (${r.code}): ${r.stderr.trim()}`);
  }
  if (j.error) throw new Error(`iperf3 ${argv.join(' ')}: ${j.error}`);
  return j;
}

/** TCP goodput received by the server, Gbit/s. */
export async function tcpGbps(ns: string, serverNs: string, server: string, secs: number): Promise<number> {
  const j = await iperfClient(ns, serverNs, ['-c', server], secs);
  return (j.end?.sum_received?.bits_per_second ?? 0) / 1e9;
}

/** TCP goodput of `flows` parallel streams (iperf3 -P), Gbit/s. */
export async function tcpFlowsGbps(
  ns: string,
  serverNs: string,
  server: string,
  secs: number,
  flows: number,
): Promise<number> {
  const j = await iperfClient(ns, serverNs, ['-c', server, '-P', String(flows)], secs);
  return (j.end?.sum_received?.bits_per_second ?? 0) / 1e9;
}

/** 64-byte UDP, sender unthrottled: packets the server got per second, in thousands. */
export async function udp64Kpps(ns: string, serverNs: string, server: string, secs: number): Promise<number> {
  const j = await iperfClient(ns, serverNs, ['-c', server, '-u', '-b', '0', '-l', String(UDP64_PAYLOAD)], secs);
  const s = j.end?.sum;
  if (!s?.packets || !s.seconds) return 0;
  return (s.packets - (s.lost_packets ?? 0)) / s.seconds / 1e3;
}

/** utime+stime of a process in clock ticks (USER_HZ = 100 on Linux). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" of comm: state is field 3; utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Runs `fn` and returns its result with `pid`'s CPU use over it, % of one core. */
export async function withCpu<T>(pid: number | undefined, fn: () => Promise<T>): Promise<[T, number | undefined]> {
  if (pid === undefined) return [await fn(), undefined];
  const t0 = process.hrtime.bigint();
  const c0 = cpuTicks(pid);
  const v = await fn();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return [v, ((cpuTicks(pid) - c0) / 100 / secs) * 100];
}

export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiSocketPath, callDaemon } from '../../agent/daemon/api.js';
import type { DaemonStatus } from '../../agent/daemon/daemon.js';
import { run } from '../../shared/exec.js';

const agentBin = fileURLToPath(new URL('../../bin/agent.js', import.meta.url));

export interface AgentLabSpec {
  prefix: string;
  workloads: { name: string; ip: string; mac: string; mode?: string }[];
  steering?: 'u32' | 'bpf' | 'auto';
}

/** Writes a lab spec file for `agent run --config`. */
export function writeSpec(
  spec: AgentLabSpec,
  dir = mkdtempSync(join(tmpdir(), 'tg-agent-')),
): { path: string; dir: string } {
  const path = join(dir, 'lab.json');
  writeFileSync(
    path,
    JSON.stringify(
      {
        prefix: spec.prefix,
        hostSide: { name: 'host', address: '198.18.0.1/24' },
        agentNs: 'agent',
        steering: spec.steering ?? 'auto',
        workloads: spec.workloads,
      },
      null,
      2,
    ),
  );
  return { path, dir };
}

/** A real `agent run` process (the compiled agent, which starts the real dp). */
export class AgentProcess {
  proc: ChildProcess | undefined;
  log = '';
  readonly apiPath: string;

  readonly reportInterval: string;
  /** How long start() waits for a healthy dp (the kernel lane's emulated guest needs
   *  minutes where this machine needs seconds). */
  readonly readyMs: number;
  /** Extra `agent run` options (e.g. --dp-start-timeout for the emulated guest, --no-fast-path). */
  readonly runArgs: string[];
  /** How long one API call may take. */
  readonly callMs: number;
  /** `--config SPEC`, or `--name N` and the instance's arguments. */
  private readonly baseArgs: string[];

  /**
   * A lab agent (`--config SPEC`), or with `instance` an agent of that name run with
   * `instance.args` (e.g. a runtime socket and selectors) and no lab. `o` is the report
   * interval, or the options; `extraArgs` go to `agent run` either way.
   */
  constructor(
    readonly specPath: string | null,
    readonly rulesPath: string,
    prefix: string,
    o: string | { reportInterval?: string; readyMs?: number; runArgs?: string[]; callMs?: number } = {},
    extraArgs: string[] = [],
    instance?: { name: string; args: string[] },
  ) {
    const opts = typeof o === 'string' ? { reportInterval: o } : o;
    this.reportInterval = opts.reportInterval ?? '0.5';
    this.readyMs = opts.readyMs ?? 60_000;
    this.runArgs = [...(opts.runArgs ?? []), ...extraArgs];
    this.callMs = opts.callMs ?? 20_000;
    this.apiPath = apiSocketPath(instance ? instance.name : `${prefix}agent`);
    this.baseArgs = instance ? ['--name', instance.name, ...instance.args] : ['--config', specPath!];
  }

  async start(): Promise<void> {
    const p = spawn(
      'node',
      [
        agentBin,
        'run',
        ...this.baseArgs,
        '--rules',
        this.rulesPath,
        '--report-interval',
        this.reportInterval,
        ...this.runArgs,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TOLLGATE_LOG_LEVEL: 'info' },
      },
    );
    this.proc = p;
    p.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    const deadline = Date.now() + this.readyMs;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`agent exited (${p.exitCode}):\n${this.log.slice(-3000)}`);
      const s = (await this.call('status').catch(() => null)) as DaemonStatus | null;
      if (s?.dp.healthy) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`agent did not become ready:\n${this.log.slice(-3000)}`);
  }

  call(cmd: string, args: Record<string, unknown> = {}, timeoutMs = this.callMs): Promise<unknown> {
    return callDaemon(this.apiPath, cmd, args, timeoutMs);
  }

  status(): Promise<DaemonStatus> {
    return this.call('status') as Promise<DaemonStatus>;
  }

  /** Runs the agent CLI (a separate process, as a user would). */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(['node', agentBin, ...args], { allowFail: true });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 8000);
    await done;
    clearTimeout(t);
  }
}

/** Polls `fn` until it returns a truthy value or `ms` pass; returns the last value. */
export async function waitFor<T>(fn: () => Promise<T>, ms = 10_000, stepMs = 200): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await fn();
  while (!v && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, stepMs));
    v = await fn();
  }
  return v;
}

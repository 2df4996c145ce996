import { spawn } from 'node:child_process';
import { TollgateError } from './errors.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  /** Text written to the child's stdin (for `tc -batch -` / `ip -batch -`). */
  input?: string;
  /** Do not throw on a non-zero exit; return the result instead. */
  allowFail?: boolean;
  timeoutMs?: number;
}

/** Runs argv[0] with the rest as arguments (no shell); throws EEXEC with stderr on failure. */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new TollgateError('EEXEC', 'empty command');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new TollgateError('EEXEC', `${argv.join(' ')}: ${e.message}`));
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const res = { stdout, stderr, code: code ?? -1 };
      if (res.code !== 0 && !opts.allowFail) {
        reject(new TollgateError('EEXEC', `${argv.join(' ')} failed (${res.code}): ${stderr.trim() || stdout.trim()}`));
      } else resolve(res);
    });
    child.stdin.on('error', () => {}); // child may exit before reading all input
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * argv prefix that runs a command inside a named network namespace. nsenter switches
 * only the network namespace; `ip netns exec` / `tc -n` also remount /sys, which hides
 * /sys/fs/bpf and with it the pinned steering programs and maps.
 */
export function netnsArgv(ns: string | undefined, argv: readonly string[]): string[] {
  if (!ns) return [...argv];
  const path = ns.startsWith('/') ? ns : `/run/netns/${ns}`;
  return ['nsenter', `--net=${path}`, '--', ...argv];
}

export function runIn(ns: string | undefined, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
  return run(netnsArgv(ns, argv), opts);
}

/** Runs `ip -json ...` / `tc -json ...` in a namespace and parses the output. */
export async function runJson<T = unknown>(ns: string | undefined, argv: readonly string[]): Promise<T> {
  const { stdout } = await runIn(ns, argv);
  const text = stdout.trim();
  return (text ? JSON.parse(text) : []) as T;
}

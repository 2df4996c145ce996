import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { DpClient as SharedDpClient, type DpReply } from '../../shared/ctrl/client.js';

export type ReplyObject = DpReply;

/** A unique socket path under /tmp for one test. */
export function tempSockPath(tag: string): string {
  return `/tmp/tg-${tag}-${process.pid}-${randomBytes(3).toString('hex')}.sock`;
}

/**
 * The dp control client (shared/ctrl/client.ts, the agent's own) as the tests use it: bound
 * at construction, a longer default timeout, and `call()` for the final reply. `request()`
 * takes any object or raw text, so tests can send what the schemas refuse; `sendRaw()` +
 * `sync()` collect the replies of a datagram sent outside a request (several keys, or bytes
 * that are not JSON).
 */
export class DpClient extends SharedDpClient {
  constructor(readonly server: string) {
    super(server, { localPath: tempSockPath('cli') });
    this.open();
  }

  get path(): string {
    return this.localPath;
  }

  /** Sends `msg` (object or raw text) and resolves with every reply to it. */
  override request(msg: unknown, timeoutMs = 5000): Promise<ReplyObject[]> {
    return super.request(msg as object, timeoutMs);
  }

  /** Sends `msg` and returns its final reply. */
  async call(msg: unknown): Promise<ReplyObject> {
    const rs = await this.request(msg);
    return rs[rs.length - 1]!;
  }
}

export const DP_BIN = fileURLToPath(new URL('../../bin/dp.js', import.meta.url));

export interface DpProcess {
  child: ChildProcess;
  ctrl: string;
  /** stderr lines so far (pino JSON). */
  logs: string[];
  exited: Promise<number | null>;
}

/** Starts the compiled dp (`node bin/dp.js`), optionally inside a netns, and waits for its socket. */
export async function startDp(opts: { ctrl?: string; netns?: string; args?: string[] } = {}): Promise<DpProcess> {
  const ctrl = opts.ctrl ?? tempSockPath('dp');
  const argv = ['node', DP_BIN, '--ctrl', ctrl, ...(opts.args ?? [])];
  const full = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv;
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    logs.push(...lines);
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  while (!logs.some((l) => l.includes('control socket listening'))) {
    if (child.exitCode !== null) throw new Error(`dp exited (${child.exitCode}): ${logs.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`dp did not start: ${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, ctrl, logs, exited };
}

/** SIGTERM, then wait for exit; returns the exit code. */
export async function stopDp(dp: DpProcess): Promise<number | null> {
  if (dp.child.exitCode === null) dp.child.kill('SIGTERM');
  const code = await Promise.race([dp.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000))]);
  if (code === 'timeout') {
    dp.child.kill('SIGKILL');
    return dp.exited;
  }
  return code;
}

export function socketExists(path: string): boolean {
  return existsSync(path);
}

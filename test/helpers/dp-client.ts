import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { createUnixDgramSocket, type UnixDgramSocket } from '../../shared/unix-dgram.js';

export type ReplyObject = Record<string, any>;

/** A unique socket path under /tmp for one test. */
export function tempSockPath(tag: string): string {
  return `/tmp/tg-${tag}-${process.pid}-${randomBytes(3).toString('hex')}.sock`;
}

/**
 * A small control-socket client bound to its own path (so the dp can reply). Replies are
 * queued; `request()` sends one datagram and resolves once a final reply arrives (any
 * reply that is not a chunk with "more":true), returning every reply it collected.
 */
export class DpClient {
  readonly path = tempSockPath('cli');
  private readonly sock: UnixDgramSocket;
  private queue: ReplyObject[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly server: string) {
    this.sock = createUnixDgramSocket();
    this.sock.on('error', () => {});
    this.sock.on('message', (buf) => {
      this.queue.push(JSON.parse(buf.toString('utf8')) as ReplyObject);
      this.waiter?.();
    });
    this.sock.bind(this.path);
  }

  sendRaw(data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return new Promise((resolve, reject) =>
      this.sock.send(buf, 0, buf.length, this.server, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Next reply (waits up to timeoutMs). */
  async next(timeoutMs = 5000): Promise<ReplyObject> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no reply from dp');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** Sends `msg` (object or raw text) and collects replies until a final one. */
  async request(msg: unknown, timeoutMs = 5000): Promise<ReplyObject[]> {
    await this.sendRaw(typeof msg === 'string' || Buffer.isBuffer(msg) ? (msg as string) : JSON.stringify(msg));
    const out: ReplyObject[] = [];
    for (;;) {
      const r = await this.next(timeoutMs);
      out.push(r);
      const body = Object.values(r)[0] as { more?: boolean } | undefined;
      if (!(body && body.more === true)) return out;
    }
  }

  /** Sends `msg` and returns its single final reply. */
  async call(msg: unknown): Promise<ReplyObject> {
    const rs = await this.request(msg);
    return rs[rs.length - 1]!;
  }

  /**
   * Barrier: sends a keep-alive with a fresh seq and discards every reply up to its echo,
   * so replies of earlier datagrams (extra keys) are never mistaken for later ones.
   */
  async sync(): Promise<ReplyObject[]> {
    const seq = (this.seq = (this.seq + 1) % 0xffff_ffff);
    await this.sendRaw(JSON.stringify({ ctrl_keep_alive: { seq_num: seq } }));
    const skipped: ReplyObject[] = [];
    for (;;) {
      const r = await this.next();
      if (r.dp_keep_alive?.seq_num === seq) return skipped;
      skipped.push(r);
    }
  }

  private seq = 3_000_000_000 + Math.floor(Math.random() * 1e6);

  /** Drops queued replies. */
  drain(): ReplyObject[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
    try {
      unlinkSync(this.path);
    } catch {
      /* gone */
    }
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

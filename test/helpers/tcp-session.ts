import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { netnsArgv } from '../../shared/exec.js';

const sessionPy = fileURLToPath(new URL('./tcp-session.py', import.meta.url));
const echoPy = fileURLToPath(new URL('./tcp-echo.py', import.meta.url));

export interface SessionReport {
  sent?: number;
  received?: number;
  equal?: boolean;
  error?: string | null;
}

/** A long-lived TCP client (test/helpers/tcp-session.py) inside a namespace. */
export class TcpSession {
  private proc: ChildProcess;
  private lines: string[] = [];
  private waiters: (() => void)[] = [];

  constructor(ns: string, host: string, port: number) {
    const [cmd, ...args] = netnsArgv(ns, ['python3', sessionPy, host, String(port)]);
    this.proc = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.proc.on('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** 15 s, times TG_TEST_WAIT_SCALE (see tcp-session.py): the client's own waits are scaled too. */
  private async nextLine(ms = 15_000 * Number(process.env.TG_TEST_WAIT_SCALE || 1)): Promise<string | undefined> {
    const deadline = Date.now() + ms;
    while (!this.lines.length && this.proc.exitCode === null && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.lines.shift();
  }

  /** "connected", or the error report when the connection could not be made. */
  async opened(): Promise<boolean> {
    const l = await this.nextLine();
    return l === 'connected';
  }

  /** Echo caught up? (the client keeps sending meanwhile) */
  async check(): Promise<SessionReport> {
    // An error may already have been printed.
    if (this.lines.length) return JSON.parse(this.lines.shift()!) as SessionReport;
    this.proc.stdin!.write('check\n');
    const l = await this.nextLine();
    return l ? (JSON.parse(l) as SessionReport) : { error: 'no answer' };
  }

  /** Waits for the client to report an error (e.g. ECONNRESET) within `ms`. */
  async errorWithin(ms: number): Promise<string | null> {
    const l = await this.nextLine(ms);
    if (!l) return null;
    const r = JSON.parse(l) as SessionReport;
    return r.error ?? null;
  }

  async close(): Promise<SessionReport> {
    if (this.proc.exitCode !== null)
      return this.lines.length ? (JSON.parse(this.lines.shift()!) as SessionReport) : { error: 'exited' };
    this.proc.stdin!.end();
    const l = await this.nextLine();
    return l ? (JSON.parse(l) as SessionReport) : { error: 'no answer' };
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** An echo server (test/helpers/tcp-echo.py server PORT) inside a namespace; resolves once listening. */
export async function startEchoServer(ns: string, port: number): Promise<ChildProcess> {
  const [cmd, ...args] = netnsArgv(ns, ['python3', echoPy, 'server', String(port)]);
  const p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
  });
  return p;
}

/** One short connection: connect, exchange a few counters, close. true when all bytes echoed. */
export async function tcpWorks(ns: string, host: string, port: number): Promise<boolean> {
  const s = new TcpSession(ns, host, port);
  if (!(await s.opened())) {
    s.kill();
    return false;
  }
  await new Promise((r) => setTimeout(r, 100));
  const r = await s.close();
  return r.equal === true && (r.sent ?? 0) > 0;
}

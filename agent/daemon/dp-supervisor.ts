/**
 * Starts the dp inside the enforcer namespace and keeps it alive, as NeuVector's monitor
 * and agent do together: a keep-alive every 2 s; when the dp exits, or misses a
 * keep-alive (3 s timeout by default), it is killed if needed and started again, and the caller's
 * `replay` pushes the full state (service port, internal nets, endpoints, modes,
 * policies) into the fresh process, because a dp keeps no state across restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../shared/log.js';
import { errorMessage } from '../../shared/errors.js';
import { DpClient } from '../../shared/ctrl/client.js';

export interface DpSupervisorOptions {
  agentNs: string;
  ctrlPath: string;
  eventsEndpoint: string;
  /** argv to start the dp; default: ip netns exec <agentNs> dp -n 1 --ctrl … --events … */
  command?: string[];
  keepAliveMs?: number;
  keepAliveTimeoutMs?: number;
  /** How long a starting dp has to answer on its control socket (default 15 s). */
  startTimeoutMs?: number;
  log: Logger;
  /** Pushes the full desired state into a freshly started dp. */
  replay: (client: DpClient) => Promise<void>;
}

export class DpSupervisor extends EventEmitter {
  private child: ChildProcess | undefined;
  readonly client: DpClient;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private restarting: Promise<void> | undefined;
  restarts = 0;
  lastKeepAlive = 0;
  healthy = false;

  constructor(private readonly o: DpSupervisorOptions) {
    super();
    this.client = new DpClient(o.ctrlPath, 'agent');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private argv(): string[] {
    return (
      this.o.command ?? [
        'ip',
        'netns',
        'exec',
        this.o.agentNs,
        'dp',
        '-n',
        '1',
        '--ctrl',
        this.o.ctrlPath,
        '--events',
        this.o.eventsEndpoint,
      ]
    );
  }

  async start(): Promise<void> {
    this.client.open();
    await this.launch();
    this.timer = setInterval(() => void this.check(), this.o.keepAliveMs ?? 2000);
  }

  private async launch(): Promise<void> {
    const [cmd, ...args] = this.argv();
    const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n'))
        if (line.trim()) this.o.log.debug({ dp: line.slice(0, 2000) }, 'dp log');
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.healthy = false;
      this.child = undefined;
      if (this.stopping) return;
      this.o.log.warn({ code, signal }, 'dp exited; restarting');
      void this.restart('exit');
    });
    // Wait until the control socket answers, then push the state.
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 15_000);
    while (Date.now() < deadline) {
      if (this.child !== child) throw new Error('dp exited during start');
      if (await this.client.ping(500)) break;
    }
    if (!(await this.client.ping(1000))) throw new Error(`dp did not answer on ${this.o.ctrlPath}`);
    await this.o.replay(this.client);
    this.healthy = true;
    this.lastKeepAlive = Date.now();
    this.emit('ready');
  }

  private async check(): Promise<void> {
    if (this.stopping || this.restarting) return;
    const t0 = process.hrtime.bigint();
    const ok = await this.client.ping(this.o.keepAliveTimeoutMs ?? 3000);
    if (ok) {
      this.lastKeepAlive = Date.now();
      this.healthy = true;
      this.emit('keepalive', Number(process.hrtime.bigint() - t0) / 1e9);
      return;
    }
    if (this.stopping || this.restarting) return;
    this.o.log.warn('dp missed a keep-alive; restarting it');
    await this.restart('keepalive');
  }

  /**
   * Resolves once no restart is under way (or after `timeoutMs`): a change made while the
   * dp restarts is pushed after its replay, never into the gap before it.
   */
  async settled(timeoutMs = 10_000): Promise<void> {
    const r = this.restarting;
    if (!r) return;
    await Promise.race([r, new Promise((res) => setTimeout(res, timeoutMs))]);
  }

  /** Kills (if alive) and starts the dp again, then replays state. Concurrent calls share one restart. */
  restart(reason: string): Promise<void> {
    if (this.restarting) return this.restarting;
    this.restarting = (async () => {
      this.healthy = false;
      this.restarts++;
      const old = this.child;
      this.child = undefined;
      if (old && old.exitCode === null) {
        old.kill('SIGKILL');
        await new Promise((r) => old.once('exit', r));
      }
      for (let attempt = 1; !this.stopping; attempt++) {
        try {
          await this.launch();
          this.o.log.info({ reason, restarts: this.restarts }, 'dp restarted and state replayed');
          this.emit('restarted', reason);
          return;
        } catch (e) {
          this.o.log.error({ err: errorMessage(e), attempt }, 'dp restart failed');
          await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
        }
      }
    })().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null) {
      c.kill('SIGTERM');
      const done = new Promise((r) => c.once('exit', r));
      const t = setTimeout(() => c.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(t);
    }
    this.client.close();
  }
}

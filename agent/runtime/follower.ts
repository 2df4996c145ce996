/**
 * Following a runtime: the running containers at start, then the event stream. When the
 * API goes away, enforcement goes on untouched (ports, steering and the dp do not depend
 * on it); the follower reconnects with backoff and resyncs everything on reconnect, so a
 * container started behind its back is enrolled and one removed meanwhile is swept.
 */
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { ContainerInfo, ContainerRuntime, RuntimeEvent } from './runtime.js';

export interface FollowerTarget {
  /** Every running container, after start and after each reconnect. */
  resync(running: ContainerInfo[]): Promise<void>;
  /** A container event (create carries identity; start, restart, die, destroy, connect, disconnect change ports). */
  event(e: RuntimeEvent): void;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];

export class RuntimeFollower {
  private stopFollow: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempt = 0;
  connected = false;
  lastError: string | null = null;
  reconnects = 0;

  constructor(
    readonly runtime: ContainerRuntime,
    private readonly target: FollowerTarget,
    private readonly log: Logger,
  ) {}

  /** Connects once (throws when the runtime does not answer), then keeps itself connected. */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    // Events first, then the list: a container that starts between the two is seen twice, never missed.
    this.stopFollow = await this.runtime.follow(
      (e) => this.target.event(e),
      (reason) => this.lost(reason),
    );
    const running = await this.runtime.list();
    this.connected = true;
    this.attempt = 0;
    this.lastError = null;
    await this.target.resync(running);
  }

  private lost(reason: string): void {
    if (this.stopped) return;
    this.connected = false;
    this.lastError = reason;
    this.stopFollow = undefined;
    this.log.warn(
      { runtime: this.runtime.kind, socket: this.runtime.socketPath, reason },
      'runtime API lost; enforcement continues, reconnecting',
    );
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!;
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect().then(
        () => {
          this.reconnects++;
          this.log.info({ runtime: this.runtime.kind, socket: this.runtime.socketPath }, 'runtime API back; resynced');
        },
        (e) => {
          this.stopFollow?.();
          this.stopFollow = undefined;
          this.connected = false;
          this.lastError = errorMessage(e);
          this.schedule();
        },
      );
    }, delay);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.stopFollow?.();
  }
}

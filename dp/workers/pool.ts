import { Worker } from 'node:worker_threads';
import type { Logger } from '../../shared/log.js';
import { CtrlCounters } from '../ctrl/counters.js';
import { mergeReplies } from './merge-replies.js';
import { MAIN_THREAD_CTRL_COUNTERS } from '../../shared/names/counters.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const WORKER_URL = new URL('./worker-main.js', import.meta.url);
/** How long a worker may take to close its ports on stop before it is terminated. */
const STOP_GRACE_MS = 3000;

interface Pending {
  replies: (string[] | undefined)[];
  left: number;
  resolve: (r: string[]) => void;
}

/**
 * The dp -n N data workers, seen from the main thread (which owns the control socket).
 * dispatch() posts a datagram to every worker and resolves with the merged replies once
 * all have answered; workers answer in order, so promises resolve in datagram order.
 * A worker that dies is fatal for the dp (onFatal): never a half-alive data plane; the
 * agent's supervisor restarts the dp and replays its configuration.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopping = false;
  /** The main thread's control counters (replies sent/failed; the socket lives here). */
  readonly ctrlCounters = new CtrlCounters();

  constructor(
    private readonly n: number,
    private readonly init: Omit<WorkerInit, 'worker' | 'workers'>,
    private readonly log: Logger,
    private readonly onFatal: (reason: string) => void,
  ) {}

  /** Starts the workers; resolves when all are ready (rejects if one fails to start). */
  start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let w = 0; w < this.n; w++) {
      const worker = new Worker(WORKER_URL, {
        workerData: { ...this.init, worker: w, workers: this.n } satisfies WorkerInit,
      });
      this.workers.push(worker);
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.on('message', (m: FromWorker) => {
            if (m.type === 'ready') resolve();
            else if (m.type === 'fatal') {
              reject(new Error(`worker ${w}: ${m.message}`));
              this.fail(`worker ${w} failed: ${m.message}`);
            } else if (m.type === 'replies') this.onReplies(w, m.id, m.replies);
          });
          worker.on('error', (e) => {
            reject(e);
            this.fail(`worker ${w} crashed: ${e.message}`);
          });
          worker.on('exit', (code) => {
            reject(new Error(`worker ${w} exited (${code})`));
            if (!this.stopping) this.fail(`worker ${w} exited with code ${code}`);
          });
        }),
      );
    }
    return Promise.all(ready).then(() =>
      this.log.info({ workers: this.n, fanoutGroup: this.init.fanoutGroup }, 'data workers ready'),
    );
  }

  /** Every worker applies `buf`; resolves with the merged replies. */
  dispatch(buf: Buffer): Promise<string[]> {
    const id = this.nextId++;
    return new Promise<string[]>((resolve) => {
      this.pending.set(id, { replies: new Array<string[] | undefined>(this.n), left: this.n, resolve });
      const msg: ToWorker = { type: 'ctrl', id, buf: new Uint8Array(buf) };
      for (const w of this.workers) w.postMessage(msg);
    });
  }

  private onReplies(w: number, id: number, replies: string[]): void {
    const p = this.pending.get(id);
    if (!p || p.replies[w]) return;
    p.replies[w] = replies;
    if (--p.left > 0) return;
    this.pending.delete(id);
    const c = this.ctrlCounters;
    p.resolve(
      mergeReplies(
        p.replies as string[][],
        Object.fromEntries(MAIN_THREAD_CTRL_COUNTERS.map((k) => [k, c[k as keyof typeof c]])),
      ),
    );
  }

  private fail(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log.fatal({ reason }, 'data worker lost: dp exits');
    for (const w of this.workers) void w.terminate();
    this.onFatal(reason);
  }

  /** Asks every worker to close its ports and stop; terminates stragglers. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => void w.terminate().then(() => resolve()), STOP_GRACE_MS);
            w.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.postMessage({ type: 'stop' } satisfies ToWorker);
          }),
      ),
    );
  }
}

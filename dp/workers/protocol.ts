import type { IoBackend } from '../io/live.js';
import type { RingTx } from '../io/ring-port.js';
import type { FailSafeOptions } from '../verdict/fail-safe.js';

/** What a data worker is started with (workerData). */
export interface WorkerInit {
  worker: number;
  /** How many workers there are (session ids are unique across them). */
  workers: number;
  fanoutGroup: number;
  eventsEndpoint?: string;
  reportIntervalMs: number;
  io: IoBackend;
  ringTx: RingTx;
  rxCoalesceUs: number;
  logLevel: string;
  /** The engine's fail-safe choices (dp --policy-error, --session-quota). */
  failSafe?: FailSafeOptions;
  /** dp -i: open this service port at start. */
  iface?: string;
}

/** Main thread → worker. */
export type ToWorker = { type: 'ctrl'; id: number; buf: Uint8Array } | { type: 'stop' };

/** Worker → main thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'replies'; id: number; replies: string[] }
  | { type: 'stopped' };

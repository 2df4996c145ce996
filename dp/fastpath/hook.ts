import type { Endpoint } from '../endpoints/endpoint.js';
import type { SessionTable } from '../session/table.js';

/**
 * What the engine calls on the fast path (dp/fastpath/fast-path.ts), at three points:
 * after a packet was accounted to a session, before a session ends, and before idle
 * expiry. Without a hook the engine behaves exactly as without a fast path.
 */
export interface FastPathHook {
  /** Called once by the engine's constructor with its session table. */
  attach(t: SessionTable): void;
  /** A packet was accounted to slot s and its decision is current. */
  afterAccount(s: number, ep: Endpoint | null): void;
  /** Slot s is about to end: fold in the kernel's counts and remove its entry. */
  beforeEnd(s: number): void;
  /** Before idle expiry: fold in the kernel's counts and last-seen times. */
  sync(nowMs: number): void;
}

import type { EngineEvent, PolicyHook } from './engine-types.js';
import type { FastPathHook } from './fastpath/hook.js';
import type { FragmentLimits } from './session/fragments.js';
import type { FailSafeOptions } from './verdict/fail-safe.js';

export interface EngineOptions {
  emit?: (ev: EngineEvent) => void;
  policy?: PolicyHook;
  /** Session table capacity (default 131072). */
  maxSessions?: number;
  /** Fragment tracking bounds (dp/session/fragments.ts). */
  fragments?: FragmentLimits;
  /** What the engine does when it cannot decide normally (dp/verdict/fail-safe.ts). */
  failSafe?: FailSafeOptions;
  /**
   * Session ids are offset + n × stride (n = 0, 1, …): dp -n N gives worker w offset w + 1
   * and stride N, so an id names one session across all workers.
   */
  sessionIdStride?: number;
  sessionIdOffset?: number;
  /**
   * Per-packet events (malformed, policy.deny) allowed per second of engine clock; the
   * rest are counted (eventsSuppressed) and not built, so a flood of bad or denied frames
   * allocates nothing. Default: unlimited (offline replays report every frame).
   */
  eventsPerSecond?: number;
  /**
   * Sends a frame out of the port the current frame came in on: frames the engine made
   * (TCP resets) and held fragments released when their first fragment is allowed.
   */
  inject?: (frame: Buffer, len: number) => void;
  /** Kernel fast path (dp/fastpath/): offloads established allowed sessions. */
  fastPath?: FastPathHook;
}

import type { EngineEvent } from '../engine-types.js';
import type { DeviceCounters } from '../stats/counters.js';

/**
 * The engine's one way out for events (per session or per bad frame, never per good
 * packet): a listener that throws never breaks the data path, and per-packet events
 * (malformed, policy.deny) stop at a budget per second of engine clock, so a flood of bad
 * or denied frames builds no objects.
 */
export class EngineEmitter {
  private budgetLeft = 0;
  private budgetEndMs = -Infinity;

  constructor(
    private readonly listener: ((ev: EngineEvent) => void) | null,
    private readonly counters: DeviceCounters,
    private readonly eventsPerSecond: number,
  ) {}

  /** Someone listens: only then are events built. */
  get on(): boolean {
    return this.listener !== null;
  }

  fire(ev: EngineEvent): void {
    try {
      this.listener!(ev);
    } catch {
      this.counters.emitErrors++;
    }
  }

  /** True while this second's budget of per-packet events lasts (counted when it does not). */
  perPacket(now: number): boolean {
    // A window of one second from its first event; no division, so no intermediate
    // fractional number (a heap number in code V8 has not optimized yet) per packet.
    if (now >= this.budgetEndMs) {
      this.budgetEndMs = now + 1000;
      this.budgetLeft = this.eventsPerSecond;
    }
    if (this.budgetLeft > 0) {
      this.budgetLeft--;
      return true;
    }
    this.counters.eventsSuppressed++;
    return false;
  }
}

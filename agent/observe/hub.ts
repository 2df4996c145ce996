/**
 * The daemon's events for observers (metrics, the connection graph): every dp record as
 * it arrives, rules as they are learned, and each keep-alive round trip. The daemon calls
 * the three emit methods; observers subscribe. A listener that throws is logged by the
 * caller's process, never breaks the daemon's event path (errors are caught here).
 */
import { EventEmitter } from 'node:events';
import type { EventRecord } from '../../shared/events/schema.js';
import type { AllowRule } from '../learn/rule.js';

interface HubEvents {
  record: [EventRecord];
  learned: [readonly AllowRule[]];
  keepalive: [number];
}

export class ObserveHub {
  private readonly ee = new EventEmitter();
  /** Listener exceptions caught (a bug in an observer must not stop learning). */
  listenerErrors = 0;

  on<K extends keyof HubEvents>(ev: K, fn: (...a: HubEvents[K]) => void): () => void {
    const safe = (...a: HubEvents[K]) => {
      try {
        fn(...a);
      } catch {
        this.listenerErrors++;
      }
    };
    this.ee.on(ev, safe as (...args: unknown[]) => void);
    return () => this.ee.off(ev, safe as (...args: unknown[]) => void);
  }

  record(r: EventRecord): void {
    this.ee.emit('record', r);
  }

  learned(rules: readonly AllowRule[]): void {
    if (rules.length) this.ee.emit('learned', rules);
  }

  /** One answered keep-alive, round trip in seconds. */
  keepAlive(seconds: number): void {
    this.ee.emit('keepalive', seconds);
  }
}

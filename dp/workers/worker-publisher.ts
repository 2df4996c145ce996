import type { EventRecord } from '../../shared/events/schema.js';
import { EventPublisher, type PublisherOptions } from '../events/publisher.js';

/**
 * The event publisher of one dp -n N data worker: every worker publishes its own
 * records on its own PUSH socket; its counters records carry `worker` so the agent can
 * keep the latest per worker and sum them (agent/daemon/daemon.ts).
 */
export class WorkerEventPublisher extends EventPublisher {
  constructor(
    opts: PublisherOptions,
    private readonly worker: number,
  ) {
    super(opts);
  }

  override publish(r: EventRecord): void {
    if (r.type === 'counters') r.worker = this.worker;
    super.publish(r);
  }
}

/**
 * From engine events to agent records: session starts and ends become aggregated
 * connection reports, violating or denied sessions become violation records with a
 * sample of the packet, and every interval a counters record goes out. Everything is
 * flushed to the publisher on a timer; the data path only hands over events.
 */
import { isViolation } from '../../shared/policy-actions.js';
import { EVENT_SCHEMA_VERSION, type CountersRecord } from '../../shared/events/schema.js';
import type { Logger } from '../../shared/log.js';
import type { EngineEvent } from '../engine-types.js';
import type { EndpointRegistry } from '../endpoints/registry.js';
import type { PolicyTable } from '../policy/policy-table.js';
import { parseAddr } from '../policy/address.js';
import { ConnectionAggregator, type ConnectionSample } from './connection-aggregator.js';
import { endpointRecord } from './counters-record.js';
import type { EventPublisher } from './publisher.js';

export interface FrameRef {
  /** The frame being processed when the engine emitted (for violation samples). */
  buf: Uint8Array | null;
  len: number;
}

/**
 * Distinct connection and violation entries held between flushes. A burst of new flows
 * (a scan, a flood, 100k clients at once) sends what is held early instead of holding one
 * entry per flow until the timer: the agent merges reports, so an early report changes
 * nothing but its timing, and the dp's memory stays bounded whatever the burst.
 */
export const MAX_HELD_REPORTS = 1024;

export class EventBridge {
  readonly agg = new ConnectionAggregator();
  private readonly epMac = new Map<number, string>();
  reports = 0;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly policy: PolicyTable,
    private readonly publisher: EventPublisher | null,
    private readonly frame: FrameRef,
    private readonly counters: () => Record<string, number>,
    private readonly log?: Logger,
  ) {}

  private macOf(epId: number): string {
    let m = this.epMac.get(epId);
    if (m === undefined) {
      m = this.registry.list().find((e) => e.id === epId)?.mac ?? '';
      if (m) this.epMac.set(epId, m);
    }
    return m;
  }

  private sample(
    ev: {
      ep: number;
      client: string;
      server: string;
      serverPort: number;
      ipProto: number;
      ingress: boolean;
      ruleId: number;
      action: number;
    },
    nowSec: number,
  ): ConnectionSample {
    const peer = ev.ingress ? ev.client : ev.server;
    let external = false;
    try {
      external = !this.policy.isInternal(parseAddr(peer, 'peer'));
    } catch {
      /* unparsable peer: report as internal */
    }
    const port = ev.ipProto === 1 || ev.ipProto === 58 ? 0 : ev.serverPort;
    return {
      ep: this.macOf(ev.ep),
      client: ev.client,
      server: ev.server,
      serverPort: port,
      proto: ev.ipProto,
      ingress: ev.ingress,
      external,
      ruleId: ev.ruleId,
      action: ev.action,
      nowSec,
    };
  }

  /** Engine listener (called synchronously inside process()). */
  onEngineEvent = (ev: EngineEvent): void => {
    this.account(ev);
    if (this.agg.pending >= MAX_HELD_REPORTS) this.sendHeld();
  };

  private account(ev: EngineEvent): void {
    switch (ev.type) {
      case 'session.start': {
        const s = this.sample(ev, Math.floor(ev.ts / 1000));
        this.agg.sessionStarted(s);
        if (isViolation(ev.action)) this.agg.violation(s, false, this.frame.buf ?? new Uint8Array(0), this.frame.len);
        return;
      }
      case 'session.end': {
        this.agg.addBytes(this.sample(ev, Math.floor(ev.ts / 1000)), ev.bytesToServer + ev.bytesToClient);
        return;
      }
      case 'policy.deny': {
        const s = this.sample(ev, Math.floor(ev.ts / 1000));
        this.agg.violation(s, true, this.frame.buf ?? new Uint8Array(0), this.frame.len);
        return;
      }
      case 'session.policy': {
        const s = this.sample(ev, Math.floor(ev.ts / 1000));
        if (isViolation(ev.action))
          this.agg.violation(s, ev.dropped, this.frame.buf ?? new Uint8Array(0), this.frame.len);
        return;
      }
      default:
        return;
    }
  }

  /** Endpoint removed or re-added: forget its cached MAC. */
  forget(epId: number): void {
    this.epMac.delete(epId);
  }

  /** Sends the connection and violation reports held so far (none without a publisher). */
  private sendHeld(): number {
    const records = this.agg.flush();
    const pub = this.publisher;
    if (!pub) return 0;
    for (const r of records) pub.publish(r);
    this.reports += records.length;
    return records.length;
  }

  /** Sends everything gathered since the last flush, plus a counters record. */
  flush(nowMs = Date.now()): void {
    const pub = this.publisher;
    const sent = this.sendHeld();
    if (!pub) return;
    const device = this.counters();
    const counters: CountersRecord = {
      type: 'counters',
      v: EVENT_SCHEMA_VERSION,
      at: Math.floor(nowMs / 1000),
      device,
      endpoints: this.registry.list().map(endpointRecord),
      eventsDropped: device.eventsDropped ?? pub.dropped,
    };
    pub.publish(counters);
    if (sent) this.log?.debug({ records: sent }, 'events flushed');
  }
}

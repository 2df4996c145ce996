/**
 * Aggregates session outcomes into connection reports and violations between flushes,
 * keyed per (ep, client, server, server port, proto, direction, rule, action), the way
 * NeuVector's dp_ctrl_connect_report does. Called per session start/end and per denied
 * packet, never per forwarded packet, so building a string key here is acceptable.
 */
import { isViolation } from '../../shared/policy-actions.js';
import {
  EVENT_SCHEMA_VERSION,
  type ConnectionRecord,
  type EventRecord,
  type FlowDecision,
  type ViolationRecord,
} from '../../shared/events/schema.js';

/** A session outcome to account: the flow and decision, whether the peer is external, and when. */
export interface ConnectionSample extends FlowDecision {
  external: boolean;
  nowSec: number;
}

const SAMPLE_BYTES = 256;

export class ConnectionAggregator {
  private conns = new Map<string, ConnectionRecord>();
  private violations = new Map<string, ViolationRecord>();

  private key(s: ConnectionSample): string {
    return `${s.ep}|${s.client}|${s.server}|${s.serverPort}|${s.proto}|${s.ingress ? 1 : 0}|${s.ruleId}|${s.action}`;
  }

  private entry(s: ConnectionSample): ConnectionRecord {
    const k = this.key(s);
    let c = this.conns.get(k);
    if (!c) {
      c = {
        type: 'connection',
        v: EVENT_SCHEMA_VERSION,
        ep: s.ep,
        client: s.client,
        server: s.server,
        serverPort: s.serverPort,
        proto: s.proto,
        ingress: s.ingress,
        external: s.external,
        ruleId: s.ruleId,
        action: s.action,
        bytes: 0,
        sessions: 0,
        violates: 0,
        firstSeen: s.nowSec,
        lastSeen: s.nowSec,
      };
      this.conns.set(k, c);
    }
    if (s.nowSec > c.lastSeen) c.lastSeen = s.nowSec;
    return c;
  }

  /** A session was admitted (or, tapped, merely observed). */
  sessionStarted(s: ConnectionSample): void {
    const c = this.entry(s);
    c.sessions++;
    if (isViolation(s.action)) c.violates++;
  }

  /** Bytes a session carried since it was last accounted. */
  addBytes(s: ConnectionSample, bytes: number): void {
    this.entry(s).bytes += bytes;
  }

  /** A packet hit a violation (VIOLATE reported, or DENY dropped); keeps the first frame as a sample. */
  violation(s: ConnectionSample, dropped: boolean, frame: Uint8Array, len: number): void {
    const k = `${this.key(s)}|${dropped ? 1 : 0}`;
    const v = this.violations.get(k);
    if (v) {
      v.count++;
      return;
    }
    this.violations.set(k, {
      type: 'violation',
      v: EVENT_SCHEMA_VERSION,
      ep: s.ep,
      client: s.client,
      server: s.server,
      serverPort: s.serverPort,
      proto: s.proto,
      ingress: s.ingress,
      ruleId: s.ruleId,
      action: s.action,
      dropped,
      count: 1,
      reportedAt: s.nowSec,
      packet: Uint8Array.prototype.slice.call(frame, 0, Math.min(len, SAMPLE_BYTES)),
      pktLen: len,
    });
    if (dropped) this.entry(s).violates++;
  }

  /** Everything gathered since the last flush, then a fresh interval. */
  flush(): EventRecord[] {
    const out: EventRecord[] = [...this.violations.values(), ...this.conns.values()];
    this.conns = new Map();
    this.violations = new Map();
    return out;
  }

  get pending(): number {
    return this.conns.size + this.violations.size;
  }
}

/**
 * Records the dp streams to the agent: ZeroMQ PUSH (dp) → PULL (agent), one
 * msgpack-encoded record per message, plain maps (no msgpackr record extension), so any
 * msgpack reader can consume them. Documented in docs/EVENTS.md; `v` is the schema version.
 */
import type { RECORD_ENDPOINT_FIELDS } from '../names/counters.js';

export const EVENT_SCHEMA_VERSION = 1;

export type RecordEndpointField = (typeof RECORD_ENDPOINT_FIELDS)[number];

/** The flow a connection or violation record is about, and the policy decision on it. */
export interface FlowDecision {
  /** Workload MAC of the endpoint the session belongs to ("" offline). */
  ep: string;
  client: string;
  server: string;
  serverPort: number;
  /** IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6). */
  proto: number;
  /** true: the workload is the server (traffic came in to it). */
  ingress: boolean;
  ruleId: number;
  /** PolicyAction code (0 open, 1 learn, 2 allow, 6 violate, 7 deny). */
  action: number;
}

/** Connections aggregated per (ep, client, server, server port, proto, direction, rule, action). */
export interface ConnectionRecord extends FlowDecision {
  type: 'connection';
  v: number;
  /** Peer outside ctrl_cfg_internal_net. */
  external: boolean;
  /** Bytes since the previous report of this key, both directions. */
  bytes: number;
  /** Sessions started since the previous report of this key. */
  sessions: number;
  /** Denied or violating first packets / sessions since the previous report. */
  violates: number;
  /** Unix seconds (dp clock). */
  firstSeen: number;
  lastSeen: number;
}

/** One policy violation (action ≥ VIOLATE), deduplicated per key within a report interval. */
export interface ViolationRecord extends FlowDecision {
  type: 'violation';
  v: number;
  /** true when the packet was dropped (inline endpoint, DENY). */
  dropped: boolean;
  /** How many packets hit this violation in the interval. */
  count: number;
  reportedAt: number;
  /** First bytes of the first violating frame (≤ 256), and its wire length. */
  packet: Uint8Array;
  pktLen: number;
}

/** Periodic counters: device, per endpoint, and the event stream's own health. */
export interface CountersRecord {
  type: 'counters';
  v: number;
  at: number;
  device: Record<string, number>;
  /** Per endpoint: its MAC, tap flag and the counters RECORD_ENDPOINT_FIELDS names (shared/names/counters.ts). */
  endpoints: ({ mac: string; tap: boolean } & Record<RecordEndpointField, number>)[];
  /** Records dropped because the agent was slow or absent (bounded queue full). */
  eventsDropped: number;
  /** dp -n N: the data worker (0..N-1) whose counters these are; absent with one worker. */
  worker?: number;
}

export type EventRecord = ConnectionRecord | ViolationRecord | CountersRecord;

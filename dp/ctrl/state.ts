import type { Logger } from '../../shared/log.js';
import type { EndpointRegistry } from '../endpoints/registry.js';
import type { ServicePorts } from '../io/live.js';
import type { Engine } from '../engine.js';
import type { PipelineCounters } from '../pipeline.js';
import type { CtrlCounters } from './counters.js';
import type { InternalNets } from './internal-net.js';
import type { PolicyTable } from '../policy/policy-table.js';
import type { PolicyChunks } from '../policy/policy-chunks.js';
import type { EventBridge } from '../events/event-bridge.js';
import type { FastPath } from '../fastpath/fast-path.js';

/** Everything the control handlers may read or change: the dp's configuration and live parts. */
export interface DpState {
  registry: EndpointRegistry;
  engine: Engine;
  /** Open service ports; absent when the dp runs without live I/O (unit tests, offline). */
  ports: ServicePorts | undefined;
  internalNets: InternalNets;
  /** Per-endpoint policy handles (ctrl_cfg_policy) and the ICMP switch. */
  policy: PolicyTable;
  policyChunks: PolicyChunks;
  /** Connection/violation reporting; absent without an events endpoint. */
  events: EventBridge | undefined;
  pipelineCounters: PipelineCounters;
  ctrlCounters: CtrlCounters;
  debugCategories: Set<string>;
  log: Logger;
  /** Level the logger returns to when debug categories are cleared. */
  baseLogLevel: string;
  startedAtMs: number;
  /** Kernel fast path; absent when off (--no-fast-path, no map, or no addon). */
  fastPath?: FastPath | undefined;
}

/** A reply datagram: one JSON object `{"dp_xxx": {...}}`. */
export type Reply = Record<string, unknown>;

/**
 * What a handler returns: nothing (the dispatcher replies dp_ok), one reply, several
 * (objects or ready JSON text), or a lazy sequence of JSON texts (built as they are sent;
 * its building must change nothing).
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that replies nothing returns nothing
export type HandlerOutput = void | Reply | readonly (Reply | string)[] | LazyReplies;

/** Reply datagrams built on demand (a streamed list). */
export interface LazyReplies {
  [Symbol.iterator](): Iterator<string>;
}

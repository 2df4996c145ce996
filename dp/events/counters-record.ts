/**
 * The device and endpoint parts of the periodic `counters` record (docs/EVENTS.md), built
 * from the counter tables (shared/names/counters.ts): which counter goes under which key is
 * decided there, once, so an engine counter can never stand in for the live path's
 * counter of the same name (the engine's is `engine.<name>`).
 */
import {
  ENGINE_RECORD_KEYS,
  FAST_PATH_COUNTERS,
  namesOf,
  PIPELINE_COUNTERS,
  RECORD_ENDPOINT_FIELDS,
} from '../../shared/names/counters.js';
import type { CountersRecord } from '../../shared/events/schema.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import type { FastPathCounters } from '../fastpath/fast-path.js';
import type { PipelineCounters } from '../pipeline.js';
import type { DeviceCounters } from '../stats/counters.js';

const PIPELINE = namesOf(PIPELINE_COUNTERS);
const FAST_PATH = namesOf(FAST_PATH_COUNTERS);

export interface DeviceSources {
  pipeline: PipelineCounters;
  engine: DeviceCounters;
  fastPath?: FastPathCounters | undefined;
  /** Records the publisher dropped at its full queue. */
  publisherDropped: number;
}

/** The flat `device` map: live path, engine (by ENGINE_RECORD_KEYS), NeuVector's names, fast path. */
export function deviceRecord(s: DeviceSources): Record<string, number> {
  const out: Record<string, number> = {};
  const p = s.pipeline;
  for (const k of PIPELINE) out[k] = p[k];
  const e = s.engine;
  for (const [name, key] of ENGINE_RECORD_KEYS) out[key] = e[name] ?? 0;
  for (const [r, n] of Object.entries(e.malformed ?? {})) if (n > 0) out[`malformed.${r}`] = n;
  out.rx = p.rxPackets;
  out.tx = p.txPackets;
  out.rxDrop = p.dropPackets;
  // Records the agent never gets: dropped at the publisher's full queue, or never built
  // (per-packet engine events over the per-second budget).
  out.eventsDropped = s.publisherDropped + (e.eventsSuppressed ?? 0);
  const fp = s.fastPath;
  if (fp) for (const k of FAST_PATH) out[k] = fp[k];
  return out;
}

/** One endpoint of the record: its MAC, tap flag and the counters of RECORD_ENDPOINT_FIELDS. */
export function endpointRecord(e: Endpoint): CountersRecord['endpoints'][number] {
  const r = { mac: e.mac, tap: e.tap } as CountersRecord['endpoints'][number];
  for (const k of RECORD_ENDPOINT_FIELDS) r[k] = e.counters[k];
  return r;
}

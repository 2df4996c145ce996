/**
 * Metric names, derived from the counter tables that exist rather than listed again:
 *  - dp device counters: the keys of the counters record's `device` map (the tables of
 *    shared/names/counters.ts, flattened by dp/events/counters-record.ts) →
 *    `tollgate_dp_<snake_case>_total`; keys of a nested table (`malformed.<reason>`)
 *    become one metric with a `reason` label; other dotted keys (`engine.rx`) join with `_`;
 *  - per-endpoint counters: the keys of a counters record endpoint (RECORD_ENDPOINT_FIELDS)
 *    → `tollgate_workload_<snake_case>_total` and `tollgate_group_<snake_case>_total`.
 * Prometheus conventions: counters end in `_total`, sizes are bytes, times seconds.
 */
import { newDeviceCounters } from '../../dp/stats/counters.js';
import type { RecordEndpointField } from '../../shared/events/schema.js';
import { ENDPOINT_COUNTERS as ENDPOINT_COUNTER_TABLE, RECORD_ENDPOINT_FIELDS } from '../../shared/names/counters.js';

export const PREFIX = 'tollgate_';

export function snakeCase(s: string): string {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase();
}

/** Tables nested in DeviceCounters (malformed by reason): one labelled metric each. */
export const NESTED_DEVICE_TABLES: readonly string[] = Object.entries(newDeviceCounters())
  .filter(([, v]) => typeof v === 'object')
  .map(([k]) => k);

/** Metric name (and label, for nested tables) of one device-counter key. */
export function deviceMetric(key: string): { name: string; reason?: string } {
  const dot = key.indexOf('.');
  if (dot > 0 && NESTED_DEVICE_TABLES.includes(key.slice(0, dot))) {
    return { name: `${PREFIX}dp_${snakeCase(key.slice(0, dot))}_total`, reason: key.slice(dot + 1) };
  }
  return { name: `${PREFIX}dp_${snakeCase(key)}_total` };
}

/** Per-endpoint fields that count (curSessions is a level, exported as a gauge). */
export type EndpointCounter = {
  [K in RecordEndpointField]: (typeof ENDPOINT_COUNTER_TABLE)[K] extends { level: true } ? never : K;
}[RecordEndpointField];
export const ENDPOINT_COUNTERS: readonly EndpointCounter[] = RECORD_ENDPOINT_FIELDS.filter(
  (k): k is EndpointCounter => !('level' in ENDPOINT_COUNTER_TABLE[k]),
);

export function workloadMetric(key: EndpointCounter): string {
  return `${PREFIX}workload_${snakeCase(key)}_total`;
}

export function groupMetric(key: EndpointCounter): string {
  return `${PREFIX}group_${snakeCase(key)}_total`;
}

export function fastPathMetric(key: string): string {
  return `${PREFIX}fastpath_${snakeCase(key)}_total`;
}

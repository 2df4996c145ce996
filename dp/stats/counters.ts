/**
 * Device counters: NeuVector's DEVICE_COUNTER names where they apply, plus Tollgate's
 * own (malformed by reason, capture truncation, table-full failure policy). Plain numbers
 * mutated in place on the hot path.
 */
import { REASONS, type ReasonName } from '../decode/reasons.js';
import { ENGINE_RECORD_KEYS, zeroed, type EngineCounterName } from '../../shared/names/counters.js';

/** The engine's counters; names, merge rule and meaning: shared/names/counters.ts. */
export type DeviceCounters = Record<Exclude<EngineCounterName, 'malformed'>, number> & {
  malformed: Record<ReasonName, number>;
};

export function newDeviceCounters(): DeviceCounters {
  const malformed = {} as Record<ReasonName, number>;
  for (const r of REASONS) if (r !== 'ok') malformed[r] = 0;
  return { ...zeroed(ENGINE_RECORD_KEYS.map(([n]) => n)), malformed };
}

/** Only the reasons that occurred (for summaries). */
export function nonZeroMalformed(c: DeviceCounters): Partial<Record<ReasonName, number>> {
  const out: Partial<Record<ReasonName, number>> = {};
  for (const [k, v] of Object.entries(c.malformed)) if (v > 0) out[k as ReasonName] = v;
  return out;
}

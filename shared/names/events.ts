/**
 * Every event name, defined once with its scope and doc line:
 *  - 'engine': what the engine emits (dp/engine-types.ts EngineEvent), per session or per bad
 *    frame, never per good packet; `dp -p` writes them as JSONL and replay cases check them;
 *  - 'offline': what only `dp -p` writes (dp/offline/run.ts);
 *  - 'record': the records the dp streams to the agent (shared/events/schema.ts, docs/EVENTS.md).
 * test/unit/names.test.ts checks the types and docs against this table.
 */
export const EVENTS = {
  'session.start': { scope: 'engine', doc: 'a session was created (its first packet was not denied)' },
  'session.end': { scope: 'engine', doc: 'a session ended (fin, rst, timeout, purge, clear, eof, reuse, evict)' },
  malformed: { scope: 'engine', doc: 'a frame failed to decode (reason: dp/decode/reasons.ts)' },
  'policy.deny': {
    scope: 'engine',
    doc: "a new session's first packet was denied on an inline endpoint: dropped, no session created",
  },
  'session.policy': {
    scope: 'engine',
    doc: "a live session's decision changed, or an inline session that is DENY was cut",
  },
  'file.error': { scope: 'offline', doc: 'an input file could not be read, or only in part' },
  summary: { scope: 'offline', doc: 'the last line of a `dp -p` run: counters and session counts' },
  connection: { scope: 'record', doc: 'sessions aggregated per flow key between flushes' },
  violation: { scope: 'record', doc: 'one policy violation per key and interval, with a packet sample' },
  counters: { scope: 'record', doc: 'device and per-endpoint counters, every report interval' },
} as const satisfies Record<string, { scope: 'engine' | 'offline' | 'record'; doc: string }>;

export type EventName = keyof typeof EVENTS;
type NamesOfScope<S extends string> = {
  [K in EventName]: (typeof EVENTS)[K]['scope'] extends S ? K : never;
}[EventName];
export type EngineEventName = NamesOfScope<'engine'>;
export type OfflineEventName = NamesOfScope<'offline'>;
export type RecordName = NamesOfScope<'record'>;

function ofScope<S extends 'engine' | 'offline' | 'record'>(scope: S): NamesOfScope<S>[] {
  return (Object.keys(EVENTS) as EventName[]).filter((k) => EVENTS[k].scope === scope) as NamesOfScope<S>[];
}

export const ENGINE_EVENT_NAMES = ofScope('engine');
export const OFFLINE_EVENT_NAMES = ofScope('offline');
export const RECORD_NAMES = ofScope('record');

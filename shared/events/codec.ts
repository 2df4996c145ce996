import { Packr } from 'msgpackr';
import type { EventRecord } from './schema.js';

// Plain msgpack maps (no record extension) so the stream is readable by any msgpack library.
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeEvent(r: EventRecord): Buffer {
  return packr.pack(r);
}

/** Decodes one message; returns null (never throws) for bytes that are not a record. */
export function decodeEvent(b: Uint8Array): EventRecord | null {
  try {
    const v = packr.unpack(b) as { type?: unknown } | null;
    if (!v || typeof v !== 'object' || typeof v.type !== 'string') return null;
    return v as EventRecord;
  } catch {
    return null;
  }
}

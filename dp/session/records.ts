import type { SessionRecord } from '../engine-types.js';
import { describeTuple, tcpStateName } from './describe.js';
import type { SessionTable } from './table.js';

/**
 * Session records one at a time, so a listing of the whole table never holds it all as
 * objects. Lazy: sessions that end or start while it runs may be missed or listed.
 */
export function* sessionRecords(t: SessionTable, max = Infinity): Generator<SessionRecord> {
  let n = 0;
  for (let s = 0; s < t.highWater && n < max; s++) {
    if (t.inUse[s] !== 1) continue;
    const rec: SessionRecord = {
      ...describeTuple(t, s),
      startMs: t.startMs[s]!,
      lastMs: t.lastMs[s]!,
      pktsToServer: t.pkts[s * 2]!,
      pktsToClient: t.pkts[s * 2 + 1]!,
      bytesToServer: t.bytes[s * 2]!,
      bytesToClient: t.bytes[s * 2 + 1]!,
      action: t.action[s]!,
      ruleId: t.ruleId[s]!,
    };
    const st = tcpStateName(t, s);
    if (st !== undefined) rec.tcpState = st;
    n++;
    yield rec;
  }
}

import type { EventRecord } from '../../shared/events/schema.js';

/**
 * Waits (bounded) for a record matching `pred` among `records`, which the test's consumer
 * keeps appending to; records seen before count too. Reaching the bound fails with the
 * records that did arrive (counters left out).
 */
export async function waitForRecordIn<T extends EventRecord>(
  records: readonly EventRecord[],
  pred: (r: EventRecord) => r is T,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = records.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline)
      throw new Error(
        `no matching event record; got ${records
          .filter((r) => r.type !== 'counters')
          .map((r) => JSON.stringify({ ...r, packet: undefined }))
          .join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

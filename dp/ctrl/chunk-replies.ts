import { DP_MSG_SIZE } from './limits.js';

/**
 * Packs items into as few reply datagrams as fit in DP_MSG_SIZE bytes each, returned
 * as JSON text: `{"<kind>":{"more":true,"<listKey>":[...]}}` ... and a last one with
 * "more":false (possibly with an empty list). An item too large for any datagram is
 * skipped and counted in the last reply's "skipped". `extra` fields go in the last one.
 */
export function chunkReplies(
  kind: string,
  listKey: string,
  items: Iterable<unknown>,
  extra: Record<string, number> = {},
): string[] {
  return [...streamReplies(kind, listKey, items, () => extra)];
}

/** Largest value an `extra` field is budgeted for (room is kept in every datagram). */
const EXTRA_DIGITS = 999_999_999;

/**
 * chunkReplies one datagram at a time: items are read only as datagrams are taken, so a
 * long list (ctrl_list_session) is never held whole. `extra` is asked for when the last
 * datagram is built (a count of what was listed).
 */
export function* streamReplies(
  kind: string,
  listKey: string,
  items: Iterable<unknown>,
  extra: () => Record<string, number>,
): Generator<string> {
  const extraJson = (e: Record<string, number>) =>
    Object.entries(e)
      .map(([k, v]) => `"${k}":${v},`)
      .join('');
  const envelope = (more: boolean, json: string[], skipped: number, e: Record<string, number>): string =>
    `{"${kind}":{"more":${more},${more ? '' : extraJson(e)}${skipped ? `"skipped":${skipped},` : ''}"${listKey}":[${json.join(',')}]}}`;
  // Room for the largest envelope (last one, with extra fields and a skipped count).
  const sizing = Object.fromEntries(Object.keys(extra()).map((k) => [k, EXTRA_DIGITS]));
  const budget = DP_MSG_SIZE - envelope(false, [], 999_999, sizing).length;
  let batch: string[] = [];
  let used = 0;
  let skipped = 0;
  for (const item of items) {
    const j = JSON.stringify(item) ?? 'null';
    const size = Buffer.byteLength(j);
    if (size > budget) {
      skipped++;
      continue;
    }
    if (used + size + (batch.length ? 1 : 0) > budget) {
      yield envelope(true, batch, 0, {});
      batch = [];
      used = 0;
    }
    used += size + (batch.length ? 1 : 0);
    batch.push(j);
  }
  yield envelope(false, batch, skipped, extra());
}

import { DP_MSG_SIZE } from './limits.js';

/**
 * Packs items into as few reply datagrams as fit in DP_MSG_SIZE bytes each, returned
 * as JSON text: `{"<kind>":{"more":true,"<listKey>":[...]}}` ... and a last one with
 * "more":false (possibly with an empty list). An item too large for any datagram is
 * skipped and counted in the last reply's "skipped". `extra` fields go in the last one.
 */
export function chunkReplies(kind: string, listKey: string, items: readonly unknown[], extra: Record<string, number> = {}): string[] {
  const extraJson = Object.entries(extra).map(([k, v]) => `"${k}":${v},`).join('');
  const envelope = (more: boolean, json: string[], skipped: number): string =>
    `{"${kind}":{"more":${more},${more ? '' : extraJson}${skipped ? `"skipped":${skipped},` : ''}"${listKey}":[${json.join(',')}]}}`;
  // Room for the largest envelope (last one, with extra fields and a skipped count).
  const budget = DP_MSG_SIZE - envelope(false, [], 999_999).length;
  const out: string[] = [];
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
      out.push(envelope(true, batch, 0));
      batch = [];
      used = 0;
    }
    used += size + (batch.length ? 1 : 0);
    batch.push(j);
  }
  out.push(envelope(false, batch, skipped));
  return out;
}

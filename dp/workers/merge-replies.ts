import { chunkReplies } from '../ctrl/chunk-replies.js';
import { MAX_LISTED_SESSIONS } from '../ctrl/limits.js';
import { REPLY_FIELDS, worker0Fields, type MergedReply } from '../../shared/names/counters.js';

/**
 * Merging the replies of N data workers to one control datagram into what a one-worker
 * dp would have replied. Every worker applies the same datagram to the same
 * configuration, so replies line up message by message: each message yields zero or
 * more chunks ("more":true) and exactly one final reply. Per message:
 * - traffic statistics (session count, device counters/stats, per-MAC stats): numeric
 *   fields summed across workers, recursively; configuration-sized fields (uptime,
 *   endpoint/port/net counts, the MAC lists) and the control socket's own counters are
 *   worker 0's, because every worker holds the same configuration and sees the same
 *   datagrams (summing them would multiply them by N);
 * - the session list: every worker's sessions (each session lives in exactly one
 *   worker), re-chunked into datagrams of at most DP_MSG_SIZE bytes;
 * - everything else (dp_ok, dp_error, keep-alive, the MAC list, which is configuration):
 *   worker 0's reply, unless worker 0 succeeded where another worker failed, then that
 *   worker's error (a half-applied change must not be reported as done).
 */

type Obj = Record<string, unknown>;

/** The replies summed across workers, each with its fields taken from worker 0 (shared/names/counters.ts REPLY_FIELDS). */
const FROM_WORKER0 = new Map(Object.keys(REPLY_FIELDS).map((k) => [k, worker0Fields(k as MergedReply)]));

/** One message's replies (chunks then the final one), parsed. */
interface Group {
  kind: string;
  bodies: Obj[];
  texts: string[];
}

function parse(text: string): { kind: string; body: Obj } {
  try {
    const doc = JSON.parse(text) as Obj;
    const kind = Object.keys(doc)[0] ?? '';
    const body = doc[kind];
    return { kind, body: body !== null && typeof body === 'object' ? (body as Obj) : {} };
  } catch {
    return { kind: '', body: {} };
  }
}

/** Splits one worker's replies into per-message groups (a group ends with a reply that is not "more":true). */
export function groupReplies(replies: readonly string[]): Group[] {
  const out: Group[] = [];
  let cur: Group | undefined;
  for (const text of replies) {
    const { kind, body } = parse(text);
    if (!cur) cur = { kind, bodies: [], texts: [] };
    cur.bodies.push(body);
    cur.texts.push(text);
    if (body.more !== true) {
      out.push(cur);
      cur = undefined;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** a + b for numbers, recursively for objects (keys of either); other values from a. */
function sumValues(a: unknown, b: unknown): unknown {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (isObj(a) && isObj(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? sumValues(a[k], v) : v;
    return out;
  }
  return a;
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Sums the traffic fields of per-worker bodies; configuration fields (`fromWorker0`) from worker 0. */
export function sumBodies(bodies: readonly Obj[], fromWorker0: ReadonlySet<string>): Obj {
  const first = bodies[0] ?? {};
  const out: Obj = {};
  for (const [k, v] of Object.entries(first)) {
    if (fromWorker0.has(k)) {
      out[k] = v;
      continue;
    }
    let acc: unknown = v;
    for (let i = 1; i < bodies.length; i++) acc = sumValues(acc, bodies[i]![k]);
    out[k] = acc;
  }
  return out;
}

/** The per-worker breakdown shown beside the sums in dp_counter_device (traffic parts only). */
function workerBreakdown(bodies: readonly Obj[], fromWorker0: ReadonlySet<string>): Obj[] {
  return bodies.map((b, worker) => {
    const w: Obj = { worker };
    for (const [k, v] of Object.entries(b)) if (!fromWorker0.has(k)) w[k] = v;
    return w;
  });
}

function mergeSessionLists(groups: readonly Group[]): string[] {
  const sessions: unknown[] = [];
  let truncated = 0;
  let skipped = 0;
  for (const g of groups) {
    for (const b of g.bodies) if (Array.isArray(b.sessions)) for (const s of b.sessions) sessions.push(s);
    const last = g.bodies[g.bodies.length - 1] ?? {};
    truncated = Math.max(truncated, typeof last.truncated === 'number' ? last.truncated : 0);
    skipped += typeof last.skipped === 'number' ? last.skipped : 0;
  }
  // Dropped before re-chunking: an item no worker could fit is not retried here.
  if (sessions.length > MAX_LISTED_SESSIONS) {
    sessions.length = MAX_LISTED_SESSIONS;
    truncated = 1;
  }
  const out = chunkReplies('dp_session_list', 'sessions', sessions, { total: sessions.length, truncated });
  if (skipped) {
    // Items a worker already skipped (too large for any datagram) stay counted.
    const last = JSON.parse(out[out.length - 1]!) as { dp_session_list: Obj };
    last.dp_session_list.skipped = ((last.dp_session_list.skipped as number | undefined) ?? 0) + skipped;
    out[out.length - 1] = JSON.stringify(last);
  }
  return out;
}

/**
 * Merges per-worker reply lists (index = worker id) to one datagram into the replies the
 * client gets. `ctrlOverride` replaces fields of dp_counter_device.ctrl (the reply
 * counters live in the main thread, which owns the socket).
 */
export function mergeReplies(perWorker: readonly (readonly string[])[], ctrlOverride?: Obj): string[] {
  if (perWorker.length === 1 && !ctrlOverride) return [...perWorker[0]!];
  const grouped = perWorker.map(groupReplies);
  const base = grouped[0] ?? [];
  const out: string[] = [];
  base.forEach((g0, i) => {
    const same = grouped.map((gs) => gs[i]).filter((g): g is Group => g !== undefined && g.kind === g0.kind);
    if (g0.kind === 'dp_session_list') {
      out.push(...mergeSessionLists(same));
      return;
    }
    const fromWorker0 = FROM_WORKER0.get(g0.kind);
    if (fromWorker0) {
      const bodies = same.map((g) => g.bodies[g.bodies.length - 1]!);
      const merged = sumBodies(bodies, fromWorker0);
      if (g0.kind === 'dp_counter_device') {
        merged.workers = workerBreakdown(bodies, fromWorker0);
        if (ctrlOverride && isObj(merged.ctrl)) merged.ctrl = { ...merged.ctrl, ...ctrlOverride };
      }
      out.push(JSON.stringify({ [g0.kind]: merged }));
      return;
    }
    if (g0.kind === 'dp_ok') {
      const failed = grouped.map((gs) => gs[i]).find((g) => g !== undefined && g.kind === 'dp_error');
      if (failed) {
        out.push(...failed.texts);
        return;
      }
    }
    out.push(...g0.texts);
  });
  return out;
}

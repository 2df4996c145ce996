/**
 * The check language of replay cases, evaluated over one offline run (JSONL events and
 * the summary). Every check yields one or more results, each with the YAML path of the
 * expected value (`checks[3].count`), so a failure points at the line to look at and
 * --update knows which node to rewrite.
 *
 *   - summary: {packets: 12, forwarded: 12, sessions: {tcp: 1}}   subset of the summary
 *   - sessions: {tcp: 1, udp: 0}                                   summary.sessions subset
 *   - malformed: {}                                                exact reason → count map
 *   - fileErrors: [pcap.record_too_large]                          codes of file.error events
 *   - event: policy.deny                                           events of a type ...
 *     where: {serverPort: 22, action: deny}                        ... whose fields match (a list = any of)
 *     count: 3                                                     how many
 *     distinct: [proto, serverPort]                                and/or the distinct values
 *     values: [[tcp, 22]]                                          of these fields, sorted
 */
import { isDeepStrictEqual } from 'node:util';
import type { Check } from './case-file.js';
import { actionNumber } from './case-file.js';

export type Ev = Record<string, unknown>;

export interface CheckResult {
  /** YAML path of the expected value, e.g. ['checks', 2, 'count']. */
  path: (string | number)[];
  /** What was checked, in words. */
  label: string;
  expected: unknown;
  actual: unknown;
  ok: boolean;
}

export function pathText(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

const ACTION_FIELDS = new Set(['action', 'prevAction']);

function fieldMatches(ev: Ev, key: string, want: unknown): boolean {
  const wants = Array.isArray(want) ? want : [want];
  return wants.some((w) => {
    const v = ACTION_FIELDS.has(key) && typeof w === 'string' ? actionNumber(w) : w;
    return isDeepStrictEqual(ev[key], v);
  });
}

export function matchEvents(events: readonly Ev[], type: string, where: Record<string, unknown> | undefined): Ev[] {
  return events.filter((e) => e.type === type && Object.entries(where ?? {}).every(([k, w]) => fieldMatches(e, k, w)));
}

const byJson = (a: unknown, b: unknown): number => {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

export function distinctValues(events: readonly Ev[], fields: string | string[]): unknown[] {
  const seen = new Map<string, unknown>();
  for (const e of events) {
    const v = Array.isArray(fields) ? fields.map((f) => e[f] ?? null) : (e[fields] ?? null);
    seen.set(JSON.stringify(v), v);
  }
  return [...seen.values()].sort(byJson);
}

function leaves(
  obj: unknown,
  base: (string | number)[],
  out: Array<{ path: (string | number)[]; value: unknown }>,
): void {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) leaves(v, [...base, k], out);
  } else {
    out.push({ path: base, value: obj });
  }
}

function get(obj: unknown, path: readonly (string | number)[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

function result(path: (string | number)[], label: string, expected: unknown, actual: unknown): CheckResult {
  return { path, label, expected, actual, ok: isDeepStrictEqual(expected, actual) };
}

/** Evaluates every check; `summary` is the run's final summary record. */
export function evaluateChecks(checks: readonly Check[], events: readonly Ev[], summary: Ev): CheckResult[] {
  const out: CheckResult[] = [];
  checks.forEach((c, i) => {
    const at = ['checks', i] as (string | number)[];
    if ('summary' in c) {
      const ls: Array<{ path: (string | number)[]; value: unknown }> = [];
      leaves(c.summary, [], ls);
      for (const l of ls)
        out.push(
          result([...at, 'summary', ...l.path], `summary.${l.path.join('.')}`, l.value, get(summary, l.path) ?? null),
        );
    } else if ('sessions' in c) {
      for (const [k, v] of Object.entries(c.sessions)) {
        out.push(result([...at, 'sessions', k], `sessions.${k}`, v, get(summary, ['sessions', k]) ?? null));
      }
    } else if ('malformed' in c) {
      const actual = Object.fromEntries(
        Object.entries((summary.malformed ?? {}) as Record<string, number>).sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      const expected = Object.fromEntries(Object.entries(c.malformed).sort(([a], [b]) => (a < b ? -1 : 1)));
      out.push(result([...at, 'malformed'], 'malformed reasons', expected, actual));
    } else if ('fileErrors' in c) {
      const actual = events.filter((e) => e.type === 'file.error').map((e) => e.code);
      out.push(result([...at, 'fileErrors'], 'file.error codes', c.fileErrors, actual));
    } else {
      const matched = matchEvents(events, c.event, c.where);
      const what = `event ${c.event}${c.where ? ` where ${JSON.stringify(c.where)}` : ''}`;
      if (c.count !== undefined) out.push(result([...at, 'count'], `${what}: count`, c.count, matched.length));
      if (c.distinct !== undefined) {
        const expected = [...(c.values ?? [])].sort(byJson);
        out.push(
          result(
            [...at, 'values'],
            `${what}: distinct ${JSON.stringify(c.distinct)}`,
            expected,
            distinctValues(matched, c.distinct),
          ),
        );
      }
    }
  });
  return out;
}

/** A readable diff of the failed results: one block per check, expected vs actual. */
export function formatFailures(caseName: string, results: readonly CheckResult[]): string {
  const failed = results.filter((r) => !r.ok);
  const lines = [`replay case ${caseName}: ${failed.length} of ${results.length} checks failed`];
  for (const r of failed) {
    lines.push(`  ${pathText(r.path)}  (${r.label})`);
    lines.push(`    expected: ${JSON.stringify(r.expected)}`);
    lines.push(`    actual:   ${JSON.stringify(r.actual)}`);
    if (Array.isArray(r.expected) && Array.isArray(r.actual)) {
      const exp = new Set(r.expected.map((x) => JSON.stringify(x)));
      const act = new Set(r.actual.map((x) => JSON.stringify(x)));
      const missing = [...exp].filter((x) => !act.has(x));
      const extra = [...act].filter((x) => !exp.has(x));
      if (missing.length) lines.push(`    - missing: ${missing.join(', ')}`);
      if (extra.length) lines.push(`    + extra:   ${extra.join(', ')}`);
    }
  }
  return lines.join('\n');
}

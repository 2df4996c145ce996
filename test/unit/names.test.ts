/**
 * Names are defined once and the docs and types say what the tables say: error codes
 * (shared/errors.ts) against docs/ERRORS.md and docs/CONTROL.md; counter and event names
 * (shared/names/) against docs/CONTROL.md, docs/EVENTS.md, docs/METRICS.md, docs/FASTPATH.md,
 * the engine's and the records' types, the replies the dp really sends, and replay cases.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ERRORS, TollgateError } from '../../shared/errors.js';
import {
  CTRL_COUNTERS,
  DEVICE_RECORD_KEYS,
  ENGINE_COUNTERS,
  FAST_PATH_COUNTERS,
  PIPELINE_COUNTERS,
  RECORD_COUNTERS,
  RECORD_ENDPOINT_FIELDS,
  REPLY_FIELDS,
  worker0Fields,
  type MergedReply,
} from '../../shared/names/counters.js';
import {
  ENGINE_EVENT_NAMES,
  EVENTS,
  RECORD_NAMES,
  type EngineEventName,
  type OfflineEventName,
  type RecordName,
} from '../../shared/names/events.js';
import type { EventRecord } from '../../shared/events/schema.js';
import type { EngineEvent } from '../../dp/engine-types.js';
import type { FileErrorEvent, OfflineSummary } from '../../dp/offline/run.js';
import { deviceMetric } from '../../agent/metrics/names.js';
import { DpRuntime } from '../../dp/runtime.js';
import { dispatchDatagram } from '../../dp/ctrl/dispatch.js';
import { loadCase } from '../replay-runner/case-file.js';
import { tempSockPath } from '../helpers/dp-client.js';

const doc = (name: string): string => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** The rows of a markdown table whose first cell is a backquoted name. */
function rows(text: string): string[] {
  return text.split('\n').filter((l) => /^\| `[^`]+` \|/.test(l));
}

describe('error codes', () => {
  it('docs/ERRORS.md lists every code with its meaning, and nothing else', () => {
    const want = Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.ctrl ? 'yes' : ''} | ${e.meaning} |`);
    expect(rows(doc('ERRORS.md')).sort()).toEqual(want.sort());
  });

  it('docs/CONTROL.md lists exactly the codes a dp_error reply can carry', () => {
    const want = Object.entries(ERRORS)
      .filter(([, e]) => e.ctrl)
      .map(([code, e]) => `| \`${code}\` | ${e.meaning} |`);
    const control = doc('CONTROL.md');
    const table = control.slice(control.indexOf('| code | meaning |'), control.indexOf('Every rejection is logged'));
    expect(rows(table).sort()).toEqual(want.sort());
  });

  it('a TollgateError carries a code of the table', () => {
    const e = new TollgateError('EBADFIELD', 'bad', 'x');
    expect(Object.hasOwn(ERRORS, e.code)).toBe(true);
    // @ts-expect-error a code that is not in the table does not compile
    expect(new TollgateError('ENOPE', 'x').code).toBe('ENOPE');
  });
});

/** A section of a doc: from its heading line to the next heading of the same or a higher level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no section ${heading}`);
  const level = heading.match(/^#+/)![0];
  const rest = text.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\n#{1,${level.length}} `));
  return end < 0 ? rest : rest.slice(0, end);
}

/** The table rows right after `intro` in `text`. */
function tableAfter(text: string, intro: string): string[] {
  const at = text.indexOf(intro);
  if (at < 0) throw new Error(`no "${intro}"`);
  const lines = text.slice(at).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const out: string[] = [];
  for (const l of lines.slice(first)) {
    if (!l.startsWith('|')) break;
    out.push(l);
  }
  return rows(out.join('\n'));
}

const docRows = (table: Record<string, { doc: string }>): string[] =>
  Object.entries(table).map(([k, v]) => `| \`${k}\` | ${v.doc} |`);

describe('counter names', () => {
  const control = doc('CONTROL.md');

  it("docs/CONTROL.md has one row per pipeline, engine and ctrl counter, with the table's doc line", () => {
    expect(tableAfter(control, '`pipeline` (live path, dp/pipeline.ts):')).toEqual(docRows(PIPELINE_COUNTERS));
    expect(tableAfter(control, "`engine`: the engine's own counters")).toEqual(docRows(ENGINE_COUNTERS));
    expect(tableAfter(control, '`ctrl`:')).toEqual(docRows(CTRL_COUNTERS));
  });

  it('docs/FASTPATH.md names every fast path counter', () => {
    const fp = doc('FASTPATH.md');
    expect(Object.keys(FAST_PATH_COUNTERS).filter((k) => !fp.includes(`\`${k}\``))).toEqual([]);
  });

  it('docs/CONTROL.md says which reply fields come from worker 0', () => {
    const row = control.split('\n').find((l) => l.startsWith('| `dp_session_count`'))!;
    const fields = new Set(Object.keys(REPLY_FIELDS).flatMap((r) => [...worker0Fields(r as MergedReply)]));
    expect([...fields].filter((f) => !row.includes(`\`${f}\``))).toEqual([]);
  });

  it("docs/EVENTS.md names the counters record's own keys and endpoint fields", () => {
    const counters = section(doc('EVENTS.md'), '## `counters`');
    const names = [...Object.keys(RECORD_COUNTERS), ...RECORD_ENDPOINT_FIELDS, 'mac', 'tap'];
    expect(names.filter((k) => !counters.includes(`\`${k}\``))).toEqual([]);
  });

  it('docs/METRICS.md documents the metric of every device key of the counters record', () => {
    const metrics = doc('METRICS.md');
    const missing = [...DEVICE_RECORD_KEYS, 'malformed.x']
      .map((k) => deviceMetric(k).name)
      .filter((n) => !metrics.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });

  it('the replies dp -n N merges have exactly the fields the table says', () => {
    const rt = new DpRuntime({
      ctrlPath: tempSockPath('names'),
      log: pino({ level: 'silent' }),
      live: false,
    });
    try {
      const ask = (m: object): Record<string, Record<string, unknown>> =>
        JSON.parse(dispatchDatagram(Buffer.from(JSON.stringify(m)), rt.state).at(-1)!);
      ask({
        ctrl_add_mac: {
          iface: 'vth',
          mac: '02:74:67:00:00:0a',
          ucmac: '4e:65:75:56:00:0a',
          bcmac: 'ff:ff:ff:00:00:0a',
          oldmac: '',
          pmac: '',
          pips: null,
        },
      });
      const replies: Record<MergedReply, Record<string, unknown>> = {
        dp_stats_device: ask({ ctrl_stats_device: {} }).dp_stats_device!,
        dp_stats_macs: ask({ ctrl_stats_macs: { macs: ['02:74:67:00:00:0a'] } }).dp_stats_macs!,
        dp_session_count: ask({ ctrl_count_session: {} }).dp_session_count!,
        dp_counter_device: ask({ ctrl_counter_device: {} }).dp_counter_device!,
      };
      for (const [kind, body] of Object.entries(replies)) {
        const table = Object.keys(REPLY_FIELDS[kind as MergedReply]);
        // fastPath is there only with the kernel fast path on.
        expect(Object.keys(body).sort(), kind).toEqual(table.filter((k) => k in body || k !== 'fastPath').sort());
      }
      const c = replies.dp_counter_device;
      expect(Object.keys(c.pipeline as object)).toEqual(Object.keys(PIPELINE_COUNTERS));
      expect(Object.keys(c.engine as object)).toEqual(Object.keys(ENGINE_COUNTERS));
      expect(Object.keys(c.ctrl as object)).toEqual(Object.keys(CTRL_COUNTERS));
    } finally {
      rt.stop();
    }
  });
});

describe('event names', () => {
  it("the engine's, dp -p's and the records' type fields are the table's names", () => {
    expectTypeOf<EngineEvent['type']>().toEqualTypeOf<EngineEventName>();
    expectTypeOf<FileErrorEvent['type'] | OfflineSummary['type']>().toEqualTypeOf<OfflineEventName>();
    expectTypeOf<EventRecord['type']>().toEqualTypeOf<RecordName>();
    expect(ENGINE_EVENT_NAMES).toContain('session.start');
  });

  it('docs/EVENTS.md has a section per record and a row per engine and dp -p event', () => {
    const events = doc('EVENTS.md');
    expect(RECORD_NAMES.filter((r) => !events.includes(`\n## \`${r}\`\n`))).toEqual([]);
    const want = Object.entries(EVENTS)
      .filter(([, e]) => e.scope !== 'record')
      .map(([k, e]) => `| \`${k}\` | ${e.scope} | ${e.doc} |`);
    expect(tableAfter(events, '## Engine events')).toEqual(want);
  });

  it('a replay case naming an unknown event or decode reason is refused, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-names-'));
    try {
      const write = (check: string): void =>
        writeFileSync(
          join(dir, 'case.yaml'),
          `description: x\ngenerate: {case: malformed-lengths, seed: 1}\nmode: protect\nchecks:\n  - ${check}\n`,
        );
      write('{event: session.strat, count: 1}');
      expect(() => loadCase(dir)).toThrow(/checks\[0\]\.event/);
      write('{malformed: {decoder.tcp.hlen_too_smal: 1}}');
      expect(() => loadCase(dir)).toThrow(/checks\[0\]\.malformed/);
      write('{event: session.start, count: 1}');
      expect(loadCase(dir).spec.checks).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

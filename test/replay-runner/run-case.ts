/**
 * Runs one replay case offline: the capture (or a generated one) through runOffline with
 * the case's mode and policy, events to JSONL, then the checks. The work folder (events,
 * dropped-frames pcap, generated input) is removed when every check passes and kept, with
 * its paths in the failure text, when one fails: open the drops in Wireshark.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOffline, type OfflineSummary } from '../../dp/offline/run.js';
import { offlineEngineMode, offlinePolicy } from '../../dp/offline/policy.js';
import { PcapWriter } from '../../shared/pcap/writer.js';
import { buildCase } from '../../scripts/pcapgen/cases.js';
import type { ReplayCase } from './case-file.js';
import { evaluateChecks, formatFailures, type CheckResult, type Ev } from './checks.js';

export interface CaseRun {
  name: string;
  ok: boolean;
  results: CheckResult[];
  events: Ev[];
  summary: OfflineSummary;
  /** Set when the run failed (or keep was asked): the folder with events.jsonl and drops.pcap. */
  keptDir: string | null;
  eventsPath: string;
  dropPcap: string;
  /** Readable expected-vs-actual diff; empty when ok. */
  failureText: string;
}

export interface RunCaseOptions {
  /** Keep the work folder even when the case passes. */
  keep?: boolean;
}

/** Input capture path for a case (writes the generated pcap into `dir` when needed). */
export function caseInput(c: ReplayCase, dir: string): string {
  if (c.pcapPath !== null) return c.pcapPath;
  const g = c.spec.generate!;
  const path = join(dir, 'input.pcap');
  const w = new PcapWriter(path);
  for (const f of buildCase(g.case, g.seed)) w.write(f.bytes, 0, f.bytes.length, f.tsMs);
  w.close();
  return path;
}

export function parseJsonl(path: string): Ev[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Ev);
}

export async function runCase(c: ReplayCase, opts: RunCaseOptions = {}): Promise<CaseRun> {
  const dir = mkdtempSync(join(tmpdir(), `tg-replay-${c.name}-`));
  const eventsPath = join(dir, 'events.jsonl');
  const dropPcap = join(dir, 'drops.pcap');
  let removed = false;
  try {
    const input = caseInput(c, dir);
    const summary = await runOffline({
      inputs: [input],
      out: eventsPath,
      dropPcap,
      mode: offlineEngineMode(c.mode),
      policy: offlinePolicy(c.mode, {
        defaultAction: c.defaultAction,
        rules: c.rules,
        icmpPolicy: c.spec.policy.icmpPolicy,
      }),
    });
    const events = parseJsonl(eventsPath);
    const results = evaluateChecks(c.spec.checks, events, events.at(-1) ?? {});
    const ok = results.every((r) => r.ok);
    let failureText = '';
    if (!ok) {
      failureText = [
        formatFailures(c.name, results),
        `  case:    ${c.file}`,
        `  events:  ${eventsPath}`,
        `  dropped frames: ${dropPcap} (${summary.dropped} frames)`,
      ].join('\n');
    } else if (!opts.keep) {
      rmSync(dir, { recursive: true, force: true });
      removed = true;
    }
    return {
      name: c.name,
      ok,
      results,
      events,
      summary,
      keptDir: removed ? null : dir,
      eventsPath,
      dropPcap,
      failureText,
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

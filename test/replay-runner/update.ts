/**
 * --update: writes the actual values of failed checks back into case.yaml for review
 * (git diff shows what changed). The yaml Document API edits nodes in place, so comments
 * and the layout of untouched lines survive.
 */
import { writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { ReplayCase } from './case-file.js';
import type { CheckResult } from './checks.js';

/** Returns the new text (and writes it unless dryRun); unchanged text when nothing failed. */
export function updateCase(c: ReplayCase, results: readonly CheckResult[], dryRun = false): string {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return c.text;
  const doc = parseDocument(c.text);
  for (const r of failed) {
    const v = r.actual;
    doc.setIn(r.path, v !== null && typeof v === 'object' ? doc.createNode(v, { flow: true }) : v);
  }
  const text = doc.toString({ flowCollectionPadding: false });
  if (!dryRun) writeFileSync(c.file, text);
  return text;
}

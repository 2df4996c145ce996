/**
 * `dp -p` exit status from the run summary. An input that cannot be read at all (missing,
 * not a capture, a header it cannot use) always fails the run. An input read only in part
 * (a damaged record ended it, records of a link type the engine does not decode were
 * skipped, a header oddity) fails it too unless the caller said partial input is fine
 * (`--partial-ok`). Every problem is named, with its file, in `problems`.
 */
import type { OfflineSummary } from './run.js';

/** file.error codes after which nothing of the file was read. */
const UNREADABLE = new Set([
  'input.missing',
  'pcap.open_failed',
  'pcap.bad_magic',
  'pcap.short_header',
  'pcap.bad_version',
]);

export const EXIT_OK = 0;
export const EXIT_INPUT = 1;

export interface OfflineStatus {
  code: number;
  problems: string[];
}

export function offlineExitStatus(summary: Pick<OfflineSummary, 'files'>, partialOk: boolean): OfflineStatus {
  const problems: string[] = [];
  let unreadable = false;
  let partial = false;
  for (const f of summary.files) {
    if (f.error !== undefined) {
      if (UNREADABLE.has(f.error)) {
        unreadable = true;
        problems.push(`${f.file}: cannot be read (${f.error})`);
      } else {
        partial = true;
        problems.push(`${f.file}: read in part (${f.error}) after ${f.packets} records`);
      }
    }
    if (f.skipped) {
      partial = true;
      problems.push(`${f.file}: ${f.skipped} of ${f.packets} records skipped (pcap.unsupported_linktype)`);
    }
    for (const w of f.warnings ?? []) {
      partial = true;
      problems.push(`${f.file}: ${w}`);
    }
  }
  if (summary.files.length === 0) {
    unreadable = true;
    problems.push('no capture files in the input');
  }
  const code = unreadable || (partial && !partialOk) ? EXIT_INPUT : EXIT_OK;
  return { code, problems };
}

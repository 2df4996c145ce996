/** Lists the cases under test/replay (folders with a case.yaml), optionally filtered by name. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CASES_DIR } from './case-file.js';

export function caseDirs(filter?: string): string[] {
  const wanted = filter
    ? new Set(
        filter
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
    : null;
  return readdirSync(CASES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(CASES_DIR, e.name, 'case.yaml')))
    .map((e) => e.name)
    .filter((n) => wanted === null || wanted.has(n))
    .sort()
    .map((n) => join(CASES_DIR, n));
}

/**
 * The offline replay suite: one test per test/replay/<case>/case.yaml (npm test runs all;
 * `npm run replay -- CASE[,CASE]` sets REPLAY_CASE; `-- --update` sets REPLAY_UPDATE=1,
 * which rewrites the expected values of failing checks instead of failing).
 */
import { rmSync } from 'node:fs';
import { describe, it } from 'vitest';
import { loadCase } from '../replay-runner/case-file.js';
import { caseDirs } from '../replay-runner/discover.js';
import { runCase } from '../replay-runner/run-case.js';
import { updateCase } from '../replay-runner/update.js';

const dirs = caseDirs(process.env.REPLAY_CASE);
const update = process.env.REPLAY_UPDATE === '1';

describe('offline replay cases', () => {
  if (dirs.length === 0) it.skip(`no case matches REPLAY_CASE=${process.env.REPLAY_CASE ?? ''}`, () => {});
  for (const dir of dirs) {
    const name = dir.split('/').pop()!;
    it(name, async () => {
      const c = loadCase(dir);
      const run = await runCase(c);
      if (run.ok) return;
      if (update) {
        updateCase(c, run.results);
        if (run.keptDir) rmSync(run.keptDir, { recursive: true, force: true });
        console.log(`${run.failureText}\n  → rewrote ${c.file} with the actual values; review with git diff`);
        return;
      }
      throw new Error(run.failureText);
    });
  }
});

/**
 * `npm run replay [-- CASE[,CASE]] [-- --update] [-- --live CASE[,CASE]]`: runs the replay
 * suite under vitest, the same test files `npm test` runs, narrowed by environment:
 *   REPLAY_CASE    offline cases to run (default all)       test/unit/replay-cases.test.ts
 *   REPLAY_UPDATE  1: rewrite failing expected values in case.yaml instead of failing
 *   REPLAY_LIVE    live cases to run (default: every case with a `live:` block)
 *                                                             test/netns/replay-live.test.ts
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function main(argv: string[]): number {
  const names: string[] = [];
  let update = false;
  let live = false;
  for (const a of argv) {
    if (a === '--update') update = true;
    else if (a === '--live') live = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: npm run replay -- [CASE[,CASE]...] [--update] [--live]\n');
      return 0;
    } else if (a.startsWith('-')) {
      process.stderr.write(`replay: unknown option ${a}\n`);
      return 2;
    } else names.push(...a.split(',').filter(Boolean));
  }
  const env = { ...process.env };
  const file = live ? 'test/netns/replay-live.test.ts' : 'test/unit/replay-cases.test.ts';
  if (names.length) env[live ? 'REPLAY_LIVE' : 'REPLAY_CASE'] = names.join(',');
  if (update) {
    if (live) {
      process.stderr.write('replay: --update applies to offline cases only\n');
      return 2;
    }
    env.REPLAY_UPDATE = '1';
  }
  const r = spawnSync('npx', ['vitest', 'run', file], { cwd: ROOT, env, stdio: 'inherit' });
  return r.status ?? 1;
}

process.exit(main(process.argv.slice(2)));

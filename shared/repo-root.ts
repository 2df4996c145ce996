import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The checkout this code runs from (the folder holding bin/dp.js), found by walking up
 * from this module, so it works from both the sources (tests) and dist/ (bins). The
 * agent starts the dp of its own checkout, so agent and dp always match.
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'bin', 'dp.js')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the Tollgate checkout (bin/dp.js) above ${fileURLToPath(import.meta.url)}`);
}

/**
 * The V8 flags the dp runs with. Its hot path allocates nothing per packet, so a young
 * generation of V8's default 16 MiB semi-spaces only holds garbage from control work and
 * events between collections, and costs its size in resident memory: 1 MiB semi-spaces
 * cut the dp's RSS by 5–20 MiB (docs/BENCHMARKS.md, "Memory"). V8 reads them only at
 * start, so every launcher passes them: dpCommand() below and bin/dp.js's first line
 * (test/unit/dp-command.test.ts keeps the two equal).
 */
export const DP_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** argv that runs this checkout's dp (node, its flags, `nodeArgs`, bin/dp.js). */
export function dpCommand(nodeArgs: readonly string[] = []): string[] {
  return [process.execPath, ...DP_NODE_FLAGS, ...nodeArgs, join(repoRoot(), 'bin', 'dp.js')];
}

/** The shared capture corpus: `../shared/pcaps` beside the checkout (TOLLGATE_PCAPS overrides). */
export function sharedPcapsDir(): string {
  return process.env.TOLLGATE_PCAPS ?? join(dirname(repoRoot()), 'shared', 'pcaps');
}

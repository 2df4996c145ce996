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

/** argv that runs this checkout's dp (node + bin/dp.js). */
export function dpCommand(): string[] {
  return [process.execPath, join(repoRoot(), 'bin', 'dp.js')];
}

/** The shared capture corpus: `../shared/pcaps` beside the checkout (TOLLGATE_PCAPS overrides). */
export function sharedPcapsDir(): string {
  return process.env.TOLLGATE_PCAPS ?? join(dirname(repoRoot()), 'shared', 'pcaps');
}

/**
 * The dp runs with the same V8 flags however it is started: through dpCommand() (the
 * agent, the benches) or as `dp` from PATH (bin/dp.js's first line).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DP_NODE_FLAGS, dpCommand, repoRoot } from '../../shared/repo-root.js';

const BIN = join(repoRoot(), 'bin', 'dp.js');

describe('the dp launchers', () => {
  it("bin/dp.js's first line passes DP_NODE_FLAGS to node", () => {
    const first = readFileSync(BIN, 'utf8').split('\n')[0];
    expect(first).toBe(`#!/usr/bin/env -S node ${DP_NODE_FLAGS.join(' ')}`);
  });

  it('dpCommand() passes them before bin/dp.js, after node', () => {
    const argv = dpCommand(['--cpu-prof']);
    expect(argv[0]).toBe(process.execPath);
    expect(argv.slice(1, 1 + DP_NODE_FLAGS.length)).toEqual(DP_NODE_FLAGS);
    expect(argv.at(-1)).toBe(BIN);
  });

  it('bin/dp.js runs as an executable with its flags (env -S)', () => {
    const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/--pcap/);
  });
});

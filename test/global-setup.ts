import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One tag per `vitest run`: every namespace a test file creates starts with it (see
 * test/helpers/netns.ts), so teardown can remove exactly this run's leftovers, even
 * those of a test that failed half-way, and never anything else on the machine.
 */
export default function setup(): () => void {
  const tag = `tgt${randomBytes(2).toString('hex')}`;
  process.env.TG_TEST_RUN = tag;
  return () => {
    let names: string[] = [];
    try {
      names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.split(' ')[0] ?? '')
        .filter((n) => n.startsWith(tag));
    } catch {
      return;
    }
    for (const n of names) {
      try {
        execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean)
          .forEach((pid) => {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              /* gone */
            }
          });
        execFileSync('ip', ['netns', 'del', n]);
      } catch {
        /* already gone */
      }
    }
    if (names.length) console.warn(`[teardown] removed ${names.length} leftover namespaces of run ${tag}`);
    try {
      execFileSync('rm', ['-rf', ...listBpfDirs(tag)]);
    } catch {
      /* nothing pinned */
    }
    // Container runtimes of this run (scripts/fixtures/runtime-lab.ts): their mounts, then their dirs.
    for (const dir of readdirSync(tmpdir())
      .filter((n) => n.startsWith(`tg-rt-${tag}`))
      .map((n) => join(tmpdir(), n))) {
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4] ?? '')
        .filter((m) => m.startsWith(`${dir}/`));
      for (const m of mounts.sort((a, b) => b.length - a.length)) {
        try {
          execFileSync('umount', ['-l', m]);
        } catch {
          /* already gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
      console.warn(`[teardown] removed leftover runtime dir ${dir}`);
    }
  };
}

function listBpfDirs(tag: string): string[] {
  try {
    return execFileSync('ls', ['/sys/fs/bpf'], { encoding: 'utf8' })
      .split('\n')
      .filter((n) => n.startsWith(`tollgate-${tag}`))
      .map((n) => `/sys/fs/bpf/${n}`);
  } catch {
    return [];
  }
}

import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';

/** True when this process can build namespaces (root-only tests skip otherwise). */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * A namespace prefix unique to this test file and run: `<run tag><hex>-`. The run tag
 * comes from test/global-setup.ts, whose teardown removes anything left with it.
 */
export function testPrefix(): string {
  const tag = process.env.TG_TEST_RUN ?? 'tgt0000';
  return `${tag}${randomBytes(2).toString('hex')}-`;
}

/** Namespaces currently present whose name starts with `prefix`. */
export function namespacesWith(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

import { randomBytes } from 'node:crypto';

/**
 * A short per-run prefix for namespace names (`tg<hex>-`), so parallel runs never
 * collide and cleanup removes only what this run made. Namespace names are global;
 * link names live inside our namespaces and need no prefix.
 */
export function newRunPrefix(tag = 'tg'): string {
  return `${tag}${randomBytes(3).toString('hex')}-`;
}

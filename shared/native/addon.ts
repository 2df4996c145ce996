import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';

/**
 * One of the N-API addons native/binding.gyp builds (packet_ring, bpf_map), loaded once:
 * `get()` is the module, or null when it is not built or does not load (the dp then runs
 * without it: cap instead of the ring, no fast path), with the reason in `error`.
 */
export class NativeAddon<T> {
  private loaded: T | null | undefined;
  private why = '';

  constructor(private readonly name: string) {}

  get(): T | null {
    if (this.loaded !== undefined) return this.loaded;
    const p = this.path();
    if (!p) {
      this.why = `native/build/Release/${this.name}.node not built (scripts/setup.sh builds it)`;
      this.loaded = null;
      return null;
    }
    try {
      this.loaded = createRequire(import.meta.url)(p) as T;
    } catch (e) {
      this.why = `cannot load ${p}: ${errorMessage(e)}`;
      this.loaded = null;
    }
    return this.loaded;
  }

  /** Why get() returned null ('' when it did not). */
  get error(): string {
    return this.why;
  }

  /** native/build/Release/NAME.node, found from the sources (vitest) or from dist/. */
  private path(): string | undefined {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 4; i++) {
      const p = join(dir, 'native', 'build', 'Release', `${this.name}.node`);
      if (existsSync(p)) return p;
      dir = dirname(dir);
    }
    return undefined;
  }
}

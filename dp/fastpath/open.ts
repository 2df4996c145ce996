import type { Logger } from '../../shared/log.js';
import { errorMessage } from '../../shared/errors.js';
import { bpfMapAddon, bpfMapLoadError } from './bpf-map-native.js';
import { FastPath } from './fast-path.js';

/** `dp --fast-path-map` and `--fast-path-max`. */
export interface FastPathConfig {
  /** A pinned map path, or "id:N" (a map id, for a dp whose mount namespace hides /sys/fs/bpf). */
  map: string;
  maxEntries?: number;
}

/** "id:42" → 42; a path stays a path. Throws on anything else. */
export function parseMapRef(ref: string): string | number {
  const m = /^id:(\d+)$/.exec(ref);
  if (m) return Number(m[1]);
  if (ref.startsWith('/')) return ref;
  throw new Error(`--fast-path-map must be an absolute pinned-map path or id:N, got "${ref}"`);
}

/**
 * The fast path, or undefined (logged as an error) when it cannot be had: no addon, no
 * such map, not our map. The dp then runs as with --no-fast-path: every frame through
 * user space, which is always correct.
 */
export function openFastPath(cfg: FastPathConfig, log: Logger): FastPath | undefined {
  const addon = bpfMapAddon();
  if (!addon) {
    log.error({ err: bpfMapLoadError() }, 'fast path off: bpf_map addon not available');
    return undefined;
  }
  try {
    return new FastPath({
      addon,
      map: parseMapRef(cfg.map),
      ...(cfg.maxEntries !== undefined ? { maxEntries: cfg.maxEntries } : {}),
      log,
    });
  } catch (e) {
    log.error({ map: cfg.map, err: errorMessage(e) }, 'fast path off: cannot use the map');
    return undefined;
  }
}

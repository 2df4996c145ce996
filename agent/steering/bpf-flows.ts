import { existsSync } from 'node:fs';
import { run } from '../../shared/exec.js';
import { MAP_FLOWS, mapPath } from './bpf-maps.js';
import type { SteeringBackend } from './backend.js';

/**
 * The dp argument that hands it the fast-path verdict map (tg_flows) of this lab's BPF
 * steering: `--fast-path-map id:N`. By id, not by path: the dp runs under
 * `ip netns exec`, whose private /sys mount hides /sys/fs/bpf. With the u32 backend (no
 * BPF program) or no pinned map, the dp gets `--no-fast-path`. With `agent run
 * --no-fast-path` it gets both: it then only empties the map of entries an earlier dp
 * left, and offloads nothing.
 */
export async function fastPathDpArgs(backend: SteeringBackend | null, enabled: boolean): Promise<string[]> {
  const ref = await flowMapRef(backend);
  if (!ref) return ['--no-fast-path'];
  return enabled ? ['--fast-path-map', ref] : ['--fast-path-map', ref, '--no-fast-path'];
}

async function flowMapRef(backend: SteeringBackend | null): Promise<string | undefined> {
  if (backend?.kind !== 'bpf' || !('pinDir' in backend)) return undefined;
  const p = mapPath((backend as { pinDir: string }).pinDir, MAP_FLOWS);
  if (!existsSync(p)) return undefined;
  const r = await run(['bpftool', '-j', 'map', 'show', 'pinned', p], { allowFail: true });
  if (r.code !== 0) return undefined;
  try {
    const id = (JSON.parse(r.stdout) as { id?: number }).id;
    return typeof id === 'number' ? `id:${id}` : undefined;
  } catch {
    return undefined;
  }
}

import { run } from '../../shared/exec.js';
import { BPF_COUNTERS, MAP_COUNTERS, mapPath } from './bpf-maps.js';

export type SteeringCounters = Record<(typeof BPF_COUNTERS)[number], number>;

interface DumpEntry {
  formatted?: { key?: number; values?: Array<{ value?: number }> };
}

/**
 * The BPF program's per-reason frame counters (summed over CPUs), for `agent status`
 * and tests: how many frames went to the peer, to vbr, were tap-copied, came back from
 * the dp and where they went or why they were dropped.
 */
export async function readSteeringCounters(pinDir: string): Promise<SteeringCounters> {
  const out = Object.fromEntries(BPF_COUNTERS.map((n) => [n, 0])) as SteeringCounters;
  const r = await run(['bpftool', '-j', 'map', 'dump', 'pinned', mapPath(pinDir, MAP_COUNTERS)], { allowFail: true });
  if (r.code !== 0) return out;
  let entries: DumpEntry[] = [];
  try {
    entries = JSON.parse(r.stdout) as DumpEntry[];
  } catch {
    return out;
  }
  for (const e of entries) {
    const k = e.formatted?.key;
    const name = k === undefined ? undefined : BPF_COUNTERS[k];
    if (!name) continue;
    out[name] = (e.formatted?.values ?? []).reduce((s, v) => s + (v.value ?? 0), 0);
  }
  return out;
}

import type { Mode } from './spec.js';
import type { OffloadKey } from './offload.js';
import { OFFLOADS } from './offload.js';

/**
 * What a pulled port remembers, kept in the vex link's own alias (IFLA_IFALIAS) so it
 * lives and dies with the link: no state file to lose or leave behind. It holds the
 * workload label, its mode, the steering it was given, and what restore must put back
 * that the new eth0 does not carry: the original alias and the offloads that were on.
 * Format (no blanks or quotes, so it passes `ip -batch` as one word):
 *   tollgate:wl=web,mode=learn,st=bpf,off=tx+tso+gso+gro,alias=<base64url>
 */
export interface PortMarker {
  label: string;
  mode: Mode;
  /** Steering backend kind applied to the port, or 'none'. */
  steering: string;
  /** Offloads that were on before pull (restore turns them back on). */
  offloadsOn: OffloadKey[];
  /** The interface's alias before pull, if any. */
  alias?: string;
}

const PREFIX = 'tollgate:';
const MODES: readonly Mode[] = ['learn', 'monitor', 'protect'];

export function encodeMarker(m: PortMarker): string {
  const parts = [`wl=${m.label}`, `mode=${m.mode}`, `st=${m.steering}`, `off=${m.offloadsOn.join('+')}`];
  if (m.alias) parts.push(`alias=${Buffer.from(m.alias, 'utf8').toString('base64url')}`);
  return PREFIX + parts.join(',');
}

export function decodeMarker(alias: string | undefined): PortMarker | null {
  if (!alias?.startsWith(PREFIX)) return null;
  const kv = new Map<string, string>();
  for (const part of alias.slice(PREFIX.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) kv.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const label = kv.get('wl');
  const mode = kv.get('mode') as Mode | undefined;
  if (!label || !mode || !MODES.includes(mode)) return null;
  const known = new Set<string>(OFFLOADS.map((f) => f.key));
  const m: PortMarker = {
    label,
    mode,
    steering: kv.get('st') ?? 'none',
    offloadsOn: (kv.get('off') ?? '').split('+').filter((k): k is OffloadKey => known.has(k)),
  };
  const a = kv.get('alias');
  if (a) m.alias = Buffer.from(a, 'base64url').toString('utf8');
  return m;
}

import type { Mode } from './spec.js';
import type { OffloadKey } from './offload.js';
import { OFFLOADS } from './offload.js';

/**
 * What a pulled port remembers, kept in the vex link's own alias (IFLA_IFALIAS) so it
 * lives and dies with the link: no state file to lose or leave behind. It holds the
 * workload label, its mode, the steering it was given, and what restore must put back
 * that the new eth0 does not carry: the original alias and the offloads that were on.
 * Format (no blanks or quotes, so it passes `ip -batch` as one word):
 *   tollgate:wl=web,mode=learn,st=bpf,off=tx+tso+gso+gro[,src=ctr,cid=<id>,grp=<group>],alias=<base64url>
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
  /**
   * Who made the port: a lab built it ('lab'), `agent pull` moved a namespace inline
   * ('pull'), or the agent enrolled a container ('ctr'). Only 'lab' ports may be removed
   * by a lab reconcile; the others are restored, never deleted, unless their owner is gone.
   */
  source?: PortSource;
  /** Container id ('ctr' ports): adoption after an agent restart finds its container by it. */
  containerId?: string;
  /** Policy group of the workload behind the port. */
  group?: string;
}

export type PortSource = 'lab' | 'pull' | 'ctr';
const SOURCES: readonly PortSource[] = ['lab', 'pull', 'ctr'];

const PREFIX = 'tollgate:';
const MODES: readonly Mode[] = ['learn', 'monitor', 'protect'];

export function encodeMarker(m: PortMarker): string {
  const parts = [`wl=${m.label}`, `mode=${m.mode}`, `st=${m.steering}`, `off=${m.offloadsOn.join('+')}`];
  if (m.source) parts.push(`src=${m.source}`);
  if (m.containerId) parts.push(`cid=${m.containerId}`);
  if (m.group) parts.push(`grp=${m.group}`);
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
  const src = kv.get('src') as PortSource | undefined;
  if (src && SOURCES.includes(src)) m.source = src;
  const cid = kv.get('cid');
  if (cid && /^[0-9a-f]{12,64}$/.test(cid)) m.containerId = cid;
  const grp = kv.get('grp');
  if (grp) m.group = grp;
  return m;
}

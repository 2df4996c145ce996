import { runIn } from '../../shared/exec.js';

/**
 * Read-only view of one device's ingress steering inside the enforcer namespace, as the
 * planners need it: does the link exist, which ingress-capable qdisc it has, and which
 * filter prefs (with their kind and, for cls_bpf, the attached program id) are there.
 */
export interface IngressFilter {
  pref: number;
  protocol: string;
  kind: string;
  /** cls_bpf only: the kernel id of the attached program. */
  progId?: number;
  /** Kind of the first action (u32: 'pedit' on an inline rule, 'mirred' on a tap rule). */
  firstAction?: string;
}

export interface IngressState {
  linkExists: boolean;
  qdisc: 'clsact' | 'ingress' | null;
  filters: Map<number, IngressFilter>;
}

interface TcQdiscJson {
  kind?: string;
}

interface TcFilterJson {
  pref?: number;
  protocol?: string;
  kind?: string;
  options?: { prog?: { id?: number }; actions?: Array<{ kind?: string }> };
}

export async function linkExists(ns: string, dev: string): Promise<boolean> {
  const r = await runIn(ns, ['ip', 'link', 'show', 'dev', dev], { allowFail: true });
  return r.code === 0;
}

export async function readIngress(ns: string, dev: string): Promise<IngressState> {
  const empty: IngressState = { linkExists: false, qdisc: null, filters: new Map() };
  if (!(await linkExists(ns, dev))) return empty;
  const q = await runIn(ns, ['tc', '-json', 'qdisc', 'show', 'dev', dev], { allowFail: true });
  const qdiscs = parseJsonArray<TcQdiscJson>(q.stdout);
  const kind = qdiscs.find((x) => x.kind === 'clsact' || x.kind === 'ingress')?.kind;
  const state: IngressState = {
    linkExists: true,
    qdisc: kind === 'clsact' || kind === 'ingress' ? kind : null,
    filters: new Map(),
  };
  if (!state.qdisc) return state;
  const f = await runIn(ns, ['tc', '-json', 'filter', 'show', 'dev', dev, 'ingress'], { allowFail: true });
  for (const e of parseJsonArray<TcFilterJson>(f.stdout)) {
    if (e.pref === undefined) continue;
    const prev = state.filters.get(e.pref);
    const entry: IngressFilter = prev ?? { pref: e.pref, protocol: e.protocol ?? 'all', kind: e.kind ?? '' };
    const id = e.options?.prog?.id;
    if (id !== undefined) entry.progId = id;
    const act = e.options?.actions?.[0]?.kind;
    if (act !== undefined && entry.firstAction === undefined) entry.firstAction = act;
    state.filters.set(e.pref, entry);
  }
  return state;
}

/** `tc -json filter show dev X ingress`, verbatim: what idempotence tests compare. */
export async function dumpIngressFilters(ns: string, dev: string): Promise<string> {
  const r = await runIn(ns, ['tc', '-json', 'filter', 'show', 'dev', dev, 'ingress'], { allowFail: true });
  return r.stdout.trim();
}

function parseJsonArray<T>(text: string): T[] {
  const t = text.trim();
  if (!t) return [];
  try {
    const v: unknown = JSON.parse(t);
    return Array.isArray(v) ? (v as T[]) : [];
  } catch {
    return [];
  }
}

/** The tc line that removes `dev`'s ingress/clsact qdisc (its filters go with it), or none. */
export async function qdiscRemoval(ns: string, dev: string): Promise<string[]> {
  const st = await readIngress(ns, dev);
  return st.qdisc ? [`qdisc del dev ${dev} ${st.qdisc}`] : [];
}

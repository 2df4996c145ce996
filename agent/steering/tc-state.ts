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
  return (await readIngressMany(ns, [dev])).get(dev)!;
}

/**
 * The ingress state of several devices with two processes, whatever their number: one
 * `ip link` for which exist, then one `tc -json -batch` with a qdisc and a filter query
 * per existing device (each answers one JSON array, one per line, in order).
 */
export async function readIngressMany(ns: string, devs: readonly string[]): Promise<Map<string, IngressState>> {
  const out = new Map<string, IngressState>();
  const names = new Set<string>();
  const links = await runIn(ns, ['ip', '-json', 'link', 'show'], { allowFail: true });
  for (const l of parseJsonArray<{ ifname?: string }>(links.stdout)) if (l.ifname) names.add(l.ifname);
  const present = [...new Set(devs)].filter((d) => names.has(d));
  for (const d of devs) out.set(d, { linkExists: false, qdisc: null, filters: new Map() });
  if (!present.length) return out;
  const input = present.map((d) => `qdisc show dev ${d}\nfilter show dev ${d} ingress\n`).join('');
  // -force: a device deleted since the `ip link` above fails its line without ending the batch.
  const r = await runIn(ns, ['tc', '-json', '-force', '-batch', '-'], { input, allowFail: true });
  const answers = r.stdout.split('\n').filter((l) => l.trim().startsWith('['));
  if (answers.length !== present.length * 2) {
    // A line failed (the device went meanwhile): ask device by device, which cannot misalign.
    for (const d of present) out.set(d, await readIngressOne(ns, d));
    return out;
  }
  for (const [i, d] of present.entries()) {
    out.set(
      d,
      ingressFrom(parseJsonArray<TcQdiscJson>(answers[2 * i]!), parseJsonArray<TcFilterJson>(answers[2 * i + 1]!)),
    );
  }
  return out;
}

async function readIngressOne(ns: string, dev: string): Promise<IngressState> {
  if (!(await linkExists(ns, dev))) return { linkExists: false, qdisc: null, filters: new Map() };
  const q = await runIn(ns, ['tc', '-json', 'qdisc', 'show', 'dev', dev], { allowFail: true });
  const f = await runIn(ns, ['tc', '-json', 'filter', 'show', 'dev', dev, 'ingress'], { allowFail: true });
  return ingressFrom(parseJsonArray<TcQdiscJson>(q.stdout), parseJsonArray<TcFilterJson>(f.stdout));
}

function ingressFrom(qdiscs: readonly TcQdiscJson[], filters: readonly TcFilterJson[]): IngressState {
  const kind = qdiscs.find((x) => x.kind === 'clsact' || x.kind === 'ingress')?.kind;
  const state: IngressState = {
    linkExists: true,
    qdisc: kind === 'clsact' || kind === 'ingress' ? kind : null,
    filters: new Map(),
  };
  if (!state.qdisc) return state;
  for (const e of filters) {
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

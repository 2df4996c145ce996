/**
 * Every name the topology uses, derived in one place so up, down, status, plan and
 * the tests agree. Namespace names are global (hence the lab prefix); link names live
 * inside our namespaces and need none. Linux caps interface names at 15 characters,
 * which is why workload names are at most 11 (`vex-` + 11).
 */

/** The Linux bridge in the host-side namespace, standing in for a CNI bridge. */
export const BRIDGE = 'br0';
/** The shared service pair in the enforcer namespace: tc steers to vbr, the dp owns vth. */
export const VBR = 'vbr';
export const VTH = 'vth';
/** NeuVector's service-port MTU; never less than the largest workload MTU + headroom. */
export const SERVICE_MTU = 2048;
export const SERVICE_MTU_HEADROOM = 64;

/**
 * Links born in the enforcer namespace get ifindexes from 10000000 up (vbr/vth as in
 * NeuVector). A vex moved in keeps its ifindex only if that number is free there, and
 * moved back it keeps whatever it had: so leaving the low numbers to the vex links is
 * what lets restore give back the very same ifindex.
 */
export const VBR_IFINDEX = 10_000_000;
export const VTH_IFINDEX = 10_000_001;
export const VIN_IFINDEX_BASE = 10_000_002;

/** The smallest ifindex >= base not used by `links` (and not in `taken`). */
export function freeIfindex(
  links: ReadonlyArray<{ ifindex: number }>,
  base: number,
  taken: ReadonlySet<number> = new Set(),
): number {
  const used = new Set(links.map((l) => l.ifindex));
  let i = base;
  while (used.has(i) || taken.has(i)) i++;
  return i;
}

export const vexName = (label: string): string => `vex-${label}`;
export const vinName = (label: string): string => `vin-${label}`;
/** The host-side peer of a workload's original eth0, plugged into br0. */
export const hostPeerName = (label: string): string => `vh-${label}`;

/** The label of a vex/vin link (`vex-web` → `web`), or null for other links. */
export function portLabelOf(ifname: string, kind: 'vex' | 'vin'): string | null {
  return ifname.startsWith(`${kind}-`) ? ifname.slice(4) || null : null;
}

/**
 * Where the BPF steering backend pins its maps for one enforcer namespace:
 * /sys/fs/bpf/tollgate-<agent namespace name>. A path (/proc/PID/ns/net, /run/netns/x) is
 * reduced to a name bpffs accepts; a plain namespace name stays as it is.
 */
export function pinDirFor(agentNs: string): string {
  const name = agentNs.startsWith('/run/netns/') ? agentNs.slice('/run/netns/'.length) : agentNs;
  return `/sys/fs/bpf/tollgate-${name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+/, '')}`;
}

/** `/run/netns/X` for a bare name; paths (`/proc/PID/ns/net`, `/run/netns/X`) unchanged. */
export function netnsPath(ns: string): string {
  return ns.startsWith('/') ? ns : `/run/netns/${ns}`;
}

/** A default port label for a namespace given by path or name: fits `vex-` in 15 chars. */
export function defaultPortLabel(ns: string): string {
  const proc = /^\/proc\/(\d+)\/ns\/net$/.exec(ns);
  if (proc) return `p${Number(proc[1]).toString(16)}`.slice(0, 11);
  const base = ns.split('/').filter(Boolean).pop() ?? 'port';
  const clean = base.toLowerCase().replace(/[^a-z0-9]/g, '');
  return (/^[a-z]/.test(clean) ? clean : `p${clean}`).slice(-11) || 'port';
}

import {
  readAddrs,
  readLinks,
  readRoutes,
  listNamespaces,
  type IpAddrLink,
  type IpLink,
  type IpRoute,
} from './ip-state.js';
import { BRIDGE, hostPeerName, portLabelOf, vexName, vinName } from './names.js';
import { decodeMarker, type PortMarker } from './port-marker.js';
import { labNamespaces, type LabSpec, type WorkloadSpec } from './spec.js';

/**
 * The actual state of a lab, read with `ip -json` in each of its namespaces: what
 * reconcile diffs the spec against and what `agent status` reports.
 */
export interface LabState {
  /** Namespaces whose name starts with the lab prefix. */
  namespaces: string[];
  host: { exists: boolean; links: IpAddrLink[] };
  agent: { exists: boolean; links: IpLink[] };
  /** Spec workloads whose namespace exists. */
  workloads: Map<string, { links: IpAddrLink[]; routes: IpRoute[] }>;
}

export async function readLabState(spec: LabSpec): Promise<LabState> {
  const ns = labNamespaces(spec);
  const all = await listNamespaces();
  const namespaces = all.filter((n) => n.startsWith(spec.prefix)).sort();
  const has = (n: string) => all.includes(n);
  const state: LabState = {
    namespaces,
    host: { exists: has(ns.host), links: has(ns.host) ? await readAddrsDetailed(ns.host) : [] },
    agent: { exists: has(ns.agent), links: has(ns.agent) ? await readLinks(ns.agent) : [] },
    workloads: new Map(),
  };
  for (const w of spec.workloads) {
    const wns = ns.workload(w.name);
    if (!has(wns)) continue;
    state.workloads.set(w.name, {
      links: await readAddrsDetailed(wns),
      routes: await readRoutes(wns, 'eth0').catch(() => []),
    });
  }
  return state;
}

/** `ip addr` plus the master/kind/alias details only `ip -d link` shows. */
async function readAddrsDetailed(ns: string): Promise<IpAddrLink[]> {
  const [addrs, links] = await Promise.all([readAddrs(ns), readLinks(ns)]);
  return addrs.map((a) => ({ ...links.find((l) => l.ifindex === a.ifindex), ...a }));
}

export interface PortView {
  label: string;
  vex?: IpLink;
  vin?: IpLink;
  marker: PortMarker | null;
}

/** The vex/vin ports present in the enforcer namespace, by label. */
export function portsIn(agentLinks: readonly IpLink[]): Map<string, PortView> {
  const out = new Map<string, PortView>();
  for (const l of agentLinks) {
    const label = portLabelOf(l.ifname, 'vex') ?? portLabelOf(l.ifname, 'vin');
    if (!label) continue;
    const p = out.get(label) ?? { label, marker: null };
    if (l.ifname === vexName(label)) {
      p.vex = l;
      p.marker = decodeMarker(l.ifalias);
    } else p.vin = l;
    out.set(label, p);
  }
  return out;
}

/**
 * Whether a workload is fully built as the spec says: its eth0 (MAC, MTU, address,
 * default route) paired with vin in agent-ns, vex up there and paired with vh-<name>
 * on the bridge. Anything else is rebuilt from scratch; the mode is not part of this
 * (a mode change only touches steering).
 */
export function workloadProblem(w: WorkloadSpec, state: LabState): string | null {
  const wl = state.workloads.get(w.name);
  if (!wl) return 'namespace missing';
  const eth = wl.links.find((l) => l.ifname === 'eth0');
  if (!eth) return 'eth0 missing';
  if (eth.address !== w.mac) return `eth0 MAC ${eth.address} != ${w.mac}`;
  if (eth.mtu !== w.mtu) return `eth0 MTU ${eth.mtu} != ${w.mtu}`;
  const v4 = eth.addr_info.filter((a) => a.family === 'inet');
  if (v4.length !== 1 || v4[0]!.local !== w.address || v4[0]!.prefixlen !== w.prefixLength)
    return 'eth0 address differs';
  if (!eth.flags.includes('UP')) return 'eth0 down';
  if (w.gateway && !wl.routes.some((r) => r.dst === 'default' && r.gateway === w.gateway))
    return 'default route missing';
  const port = portsIn(state.agent.links).get(w.name);
  if (!port?.vex || !port.vin || !port.marker) return 'vex/vin missing';
  if (eth.link_index !== port.vin.ifindex) return 'eth0 not paired with vin';
  if (!port.vex.flags.includes('UP') || !port.vin.flags.includes('UP')) return 'vex/vin down';
  const peer = state.host.links.find((l) => l.ifname === hostPeerName(w.name));
  if (!peer || peer.master !== BRIDGE || !peer.flags.includes('UP')) return 'bridge port missing';
  if (port.vex.link_index !== peer.ifindex) return 'vex not paired with its bridge port';
  return null;
}

export { vinName };

import { TollgateError } from '../../shared/errors.js';
import { ip, type Command } from './commands.js';
import { readInterface, type IpAddrInfo, type IpNeigh, type IpRoute } from './ip-state.js';
import { decodeMarker } from './port-marker.js';

/**
 * What must survive moving a workload's interface: its MAC, MTU, queue length, alias,
 * addresses, routes and permanent neighbours. Captured with `ip -json` before pull,
 * re-applied to the replacement eth0, and re-applied again by restore.
 */
export interface PortState {
  ifname: string;
  mac: string;
  mtu: number;
  txqlen: number;
  alias?: string;
  /** Addresses we must add back (kernel-generated link-local and SLAAC ones come back by themselves). */
  addrs: IpAddrInfo[];
  /** Routes we must add back (not the kernel's own connected/local/link-local ones). */
  routes: IpRoute[];
  neighbours: IpNeigh[];
}

export async function capturePort(ns: string, ifname = 'eth0'): Promise<PortState> {
  const got = await readInterface(ns, ifname);
  if (!got) throw new TollgateError('ENOLINK', `no interface ${ifname} in namespace ${ns}`, 'netns');
  const link = got.link;
  if (!link.address) throw new TollgateError('ENOLINK', `${ifname} in ${ns} has no MAC address`, 'netns');
  const routes = got.routes.filter(isConfiguredRoute);
  const neighbours = got.neighbours.filter((n) => n.lladdr);
  const state: PortState = {
    ifname,
    mac: link.address,
    mtu: link.mtu,
    txqlen: link.txqlen ?? 1000,
    addrs: link.addr_info.filter(isConfiguredAddr),
    routes,
    neighbours,
  };
  // An interface still carrying our marker is one a pull left half-done: what it had
  // before is the marker's saved alias, never the marker itself (it would nest and grow).
  const marker = decodeMarker(link.ifalias);
  const alias = marker ? marker.alias : link.ifalias;
  if (alias) state.alias = alias;
  return state;
}

function isConfiguredAddr(a: IpAddrInfo): boolean {
  if (a.dynamic) return false;
  return !(a.family === 'inet6' && a.scope === 'link');
}

/** Routes the kernel adds itself (connected, local, broadcast, multicast, RA) are left out. */
function isConfiguredRoute(r: IpRoute): boolean {
  if (r.protocol === 'kernel' || r.protocol === 'ra') return false;
  if (r.type && r.type !== 'unicast') return false;
  return true;
}

export function addrCommands(ns: string, dev: string, addrs: readonly IpAddrInfo[]): Command[] {
  return addrs.map((a) => {
    const args = ['addr', 'add', `${a.local}/${a.prefixlen}`];
    if (a.broadcast) args.push('broadcast', a.broadcast);
    if (a.scope && a.scope !== 'global') args.push('scope', a.scope);
    if (a.label && a.label !== dev && a.label.startsWith(`${dev}:`)) args.push('label', a.label);
    if (a.noprefixroute) args.push('noprefixroute');
    args.push('dev', dev);
    return ip(ns, ...args); // family follows from the address (batch lines take no -4/-6)
  });
}

export function routeCommands(ns: string, dev: string, routes: readonly IpRoute[]): Command[] {
  return routes.map((r) => {
    const args = ['route', 'add', r.dst];
    if (r.gateway) args.push('via', r.gateway);
    args.push('dev', dev);
    if (r.protocol) args.push('proto', r.protocol);
    if (r.scope && r.scope !== 'global') args.push('scope', r.scope);
    if (r.prefsrc) args.push('src', r.prefsrc);
    if (r.metric !== undefined) args.push('metric', String(r.metric));
    if (r.table && r.table !== 'main') args.push('table', r.table);
    if (r.mtu !== undefined) args.push('mtu', String(r.mtu));
    if (r.flags?.includes('onlink')) args.push('onlink');
    return ip(ns, ...args); // family follows from dst/gateway
  });
}

export function neighbourCommands(ns: string, dev: string, neighbours: readonly IpNeigh[]): Command[] {
  return neighbours.map((n) =>
    ip(ns, 'neigh', 'replace', n.dst, 'lladdr', n.lladdr ?? '', 'nud', 'permanent', 'dev', dev),
  );
}

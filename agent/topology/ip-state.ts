import { runIn, runJson } from '../../shared/exec.js';

/**
 * Reading the actual state of a namespace with `ip -json`: what reconcile diffs
 * against, what pull captures and restore compares. Only the fields we use are typed.
 */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  txqlen?: number;
  address?: string;
  /** Peer ifindex of a veth (in link_netnsid's namespace when that is set). */
  link_index?: number;
  link_netnsid?: number;
  /** Peer name when the peer is in the same namespace. */
  link?: string;
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string };
  /** "ether", "loopback", …: which links a runtime gave a container. */
  link_type?: string;
}

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  broadcast?: string;
  scope?: string;
  label?: string;
  noprefixroute?: boolean;
  dynamic?: boolean;
}

export interface IpAddrLink extends IpLink {
  addr_info: IpAddrInfo[];
}

export interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  table?: string;
  flags?: string[];
  mtu?: number;
}

export interface IpNeigh {
  dst: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

export const readLinks = (ns: string): Promise<IpLink[]> =>
  runJson<IpLink[]>(ns, ['ip', '-json', '-details', 'link', 'show']);
export const readAddrs = (ns: string): Promise<IpAddrLink[]> =>
  runJson<IpAddrLink[]>(ns, ['ip', '-json', 'addr', 'show']);

/** One link with its addresses; `ip addr` omits the alias, so it comes from `ip link`. */
export async function readLink(ns: string, ifname: string): Promise<IpAddrLink | undefined> {
  const withAddrs = (await readAddrs(ns)).find((l) => l.ifname === ifname);
  if (!withAddrs) return undefined;
  const link = (await readLinks(ns)).find((l) => l.ifname === ifname);
  return { ...link, ...withAddrs, ...(link?.ifalias ? { ifalias: link.ifalias } : {}) };
}

/** IPv4 and IPv6 routes of all tables through `dev`, as the kernel reports them. */
export async function readRoutes(ns: string, dev: string): Promise<IpRoute[]> {
  const v4 = await runJson<IpRoute[]>(ns, ['ip', '-json', '-4', 'route', 'show', 'table', 'all', 'dev', dev]);
  const v6 = await runJson<IpRoute[]>(ns, ['ip', '-json', '-6', 'route', 'show', 'table', 'all', 'dev', dev]);
  return [...v4.map((r) => ({ ...r, dev })), ...v6.map((r) => ({ ...r, dev }))];
}

/** Namespace names currently in /run/netns. */
export async function listNamespaces(): Promise<string[]> {
  const list = await runJson<Array<{ name: string }>>(undefined, ['ip', '-json', 'netns', 'list']);
  return list.map((n) => n.name);
}

/**
 * Everything pull captures about one interface, with two processes: one `ip -json -details
 * -batch` (the link with its addresses and alias, IPv4 routes, permanent neighbours: one
 * JSON array a line, in order) and one for the IPv6 routes (a batch line cannot change the
 * address family). `addr show` comes first: after a `link show`, iproute2's batch mode
 * answers a later `addr show` without addresses.
 */
export async function readInterface(
  ns: string,
  dev: string,
): Promise<{ link: IpAddrLink; routes: IpRoute[]; neighbours: IpNeigh[] } | undefined> {
  const input = `addr show dev ${dev}\nroute show table all dev ${dev}\nneigh show dev ${dev} nud permanent\n`;
  const r = await runIn(ns, ['ip', '-json', '-details', '-batch', '-'], { input, allowFail: true });
  const lines = r.stdout.split('\n').filter((l) => l.trim().startsWith('['));
  if (r.code !== 0 || lines.length !== 3) return undefined;
  const [links, v4, neigh] = lines.map((l) => JSON.parse(l) as unknown[]) as [IpAddrLink[], IpRoute[], IpNeigh[]];
  const link = links[0];
  if (!link) return undefined;
  const v6 = await runJson<IpRoute[]>(ns, ['ip', '-json', '-6', 'route', 'show', 'table', 'all', 'dev', dev]);
  return {
    link: { ...link, addr_info: link.addr_info ?? [] },
    routes: [...v4, ...v6].map((x) => ({ ...x, dev })),
    neighbours: neigh.map((n) => ({ ...n, dev })),
  };
}

/** Some links of a namespace by name, with one `ip -json -details -batch` (no dump of the rest). */
export async function readLinksNamed(ns: string, names: readonly string[]): Promise<IpLink[]> {
  const input = names.map((n) => `link show dev ${n}\n`).join('');
  const r = await runIn(ns, ['ip', '-json', '-details', '-force', '-batch', '-'], { input, allowFail: true });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .flatMap((l) => JSON.parse(l) as IpLink[]);
}

/**
 * A container's interfaces, pulled inline behind the enforcer namespace and removed
 * again: the topology half of enrolment. The port is born unsteered (vex and vin are not
 * connected until the steering goes on), so a container being enrolled is cut off, never
 * open, until the daemon has registered it with the dp and steered it in its group's mode.
 */
import { statSync } from 'node:fs';
import { TollgateError } from '../../shared/errors.js';
import { execute, ip } from '../topology/commands.js';
import { readLinks, readLinksNamed, type IpLink } from '../topology/ip-state.js';
import { freeIfindex, VIN_IFINDEX_BASE, vexName, vinName } from '../topology/names.js';
import { readOffloads } from '../topology/offload.js';
import { decodeMarker, type PortMarker } from '../topology/port-marker.js';
import { capturePort } from '../topology/port-state.js';
import { planPull, planPullRollback } from '../topology/pull.js';
import type { Mode } from '../topology/spec.js';

/** Interfaces a container gets from its runtime: veths (eth0, eth1, …), never lo. */
export async function containerInterfaces(nsPath: string, macs: readonly string[]): Promise<IpLink[]> {
  const links = await readLinks(nsPath);
  const veths = links.filter((l) => l.ifname !== 'lo' && l.link_type === 'ether' && l.link_netnsid !== undefined);
  const wanted = macs.filter(Boolean).map((m) => m.toLowerCase());
  const matched = wanted.length ? veths.filter((l) => wanted.includes((l.address ?? '').toLowerCase())) : [];
  return (matched.length ? matched : veths.filter((l) => l.ifname === 'eth0')).sort((a, b) =>
    a.ifname.localeCompare(b.ifname),
  );
}

/** Port label of a container interface: `c` + 9 hex digits of the id + the interface's position. */
export function containerPortLabel(containerId: string, position: number): string {
  return `c${containerId.slice(0, 9)}${position}`;
}

export function netnsInode(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    throw new TollgateError('ENONS', `network namespace ${path} is gone`, 'netns');
  }
}

export interface PulledContainerPort {
  label: string;
  ifname: string;
  mac: string;
  ips: string[];
  vex: IpLink;
  vin: IpLink;
}

export interface ContainerPortTarget {
  agentNs: string;
  nsPath: string;
  ifname: string;
  label: string;
  mode: Mode;
  steering: string;
  containerId: string;
  group: string;
  /** vin ifindexes picked by enrolments in flight or alive (pulls may run concurrently). */
  reserved: Set<number>;
  /** The enforcer's links, when the caller has just read them. */
  agentLinks?: IpLink[];
}

/** Pulls one interface inline (links only; no steering yet). */
export async function pullContainerPort(t: ContainerPortTarget): Promise<PulledContainerPort> {
  const agentLinks = t.agentLinks ?? (await readLinks(t.agentNs));
  if (agentLinks.some((l) => l.ifname === vexName(t.label) || l.ifname === vinName(t.label)))
    throw new TollgateError('EALREADY', `${vexName(t.label)} already exists in ${t.agentNs}`, 'container');
  const [state, offloads] = await Promise.all([capturePort(t.nsPath, t.ifname), readOffloads(t.nsPath, t.ifname)]);
  const vinIfindex = freeIfindex(agentLinks, VIN_IFINDEX_BASE, t.reserved);
  t.reserved.add(vinIfindex);
  const cmds = planPull(
    state,
    {
      ns: t.nsPath,
      agentNs: t.agentNs,
      label: t.label,
      mode: t.mode,
      steering: t.steering,
      ifname: t.ifname,
      vinIfindex,
      source: 'ctr',
      containerId: t.containerId,
      group: t.group,
    },
    offloads.on,
  );
  try {
    await execute(cmds);
  } catch (e) {
    t.reserved.delete(vinIfindex);
    await execute(planPullRollback(state, { ns: t.nsPath, agentNs: t.agentNs, label: t.label })).catch(() => undefined);
    throw e;
  }
  // The ifindex stays reserved while the port lives (Enroller.removePort releases it): a pull that read
  // the enforcer's links before this one finished would otherwise pick the same number.
  const after = await readLinksNamed(t.agentNs, [vexName(t.label), vinName(t.label)]);
  const vex = after.find((l) => l.ifname === vexName(t.label));
  const vin = after.find((l) => l.ifname === vinName(t.label));
  if (!vex || !vin)
    throw new TollgateError('ENOLINK', `pulled links of ${t.label} missing in ${t.agentNs}`, 'container');
  const ips = state.addrs.map((a) => a.local);
  return { label: t.label, ifname: t.ifname, mac: state.mac, ips, vex, vin };
}

/** The vex/vin links of a port label, and its marker. */
export async function readPort(
  agentNs: string,
  label: string,
): Promise<{ vex?: IpLink; vin?: IpLink; marker: PortMarker | null }> {
  const links = await readLinks(agentNs);
  const vex = links.find((l) => l.ifname === vexName(label));
  const vin = links.find((l) => l.ifname === vinName(label));
  return { ...(vex ? { vex } : {}), ...(vin ? { vin } : {}), marker: decodeMarker(vex?.ifalias) };
}

/**
 * Deletes a container port's links (steering must be removed first). Deleting vex also
 * deletes its runtime-side peer, which the runtime would otherwise leave on its bridge.
 */
export async function deleteContainerPort(agentNs: string, label: string): Promise<void> {
  await execute([
    { ...ip(agentNs, 'link', 'del', vexName(label)), bestEffort: true, note: `remove container port ${label}` },
    { ...ip(agentNs, 'link', 'del', vinName(label)), bestEffort: true },
  ]);
}

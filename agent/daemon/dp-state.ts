/**
 * The dp configuration that follows from the agent's desired state, as NeuVector-shaped
 * ctrl_* messages in replay order: internal nets, ICMP policy switch, per workload
 * add_mac + cfg_mac, the policies, and the service port last. A fresh dp reads no frame
 * before every endpoint has its policy: an inline endpoint without one is OPEN, so
 * opening the port first would let denied traffic through while a restarted dp is replayed.
 */
import ipaddr from 'ipaddr.js';
import { bcmacForIfindex } from '../../shared/mac.js';
import { MSG_END, MSG_START } from '../../shared/ctrl/flags.js';
import type { CtrlRequest } from '../../shared/ctrl/schemas.js';
import { MODES, type WorkloadMode } from '../../shared/policy-actions.js';
import type { WorkloadView } from '../policy/compile.js';

export const SERVICE_IFACE = 'vth';

export interface DesiredDp {
  /** IPv4 CIDRs of the east-west address space (everything else is external). */
  internalNets: readonly string[];
  workloads: readonly WorkloadView[];
  /** Port label → its unique steering MAC. */
  ucmacs: ReadonlyMap<string, string>;
  /** The workloads' compiled ctrl_cfg_policy messages (agent/policy/compile.ts). */
  policies?: readonly CtrlRequest<'ctrl_cfg_policy'>[];
}

function bcmacOf(ucmac: string): string {
  const [hh, ll] = ucmac
    .split(':')
    .slice(4)
    .map((h) => parseInt(h, 16));
  return bcmacForIfindex(((hh ?? 0) << 8) | (ll ?? 0));
}

/** The tap flag of a mode, for a mode switch. */
export function endpointMessages(
  _name: string,
  mac: string,
  _ucmac: string,
  mode: WorkloadMode,
): CtrlRequest<'ctrl_cfg_mac'>[] {
  return [{ ctrl_cfg_mac: { macs: [mac], tap: MODES[mode].tap } }];
}

/** The tap flag of a mode for many workloads: one ctrl_cfg_mac per 256 MACs (the dp's limit per message). */
export function tapMessages(macs: readonly string[], mode: WorkloadMode): CtrlRequest<'ctrl_cfg_mac'>[] {
  const out: CtrlRequest<'ctrl_cfg_mac'>[] = [];
  for (let i = 0; i < macs.length; i += 256)
    out.push({ ctrl_cfg_mac: { macs: macs.slice(i, i + 256), tap: MODES[mode].tap } });
  return out;
}

/** The dp forgets an endpoint (and its sessions). */
export function removeMessage(mac: string): CtrlRequest<'ctrl_del_mac'> {
  return { ctrl_del_mac: { mac } };
}

/** One workload's endpoint and tap flag (its policy follows from the policy compiler). */
export function registerMessages(w: WorkloadView, ucmac: string): CtrlRequest<'ctrl_add_mac' | 'ctrl_cfg_mac'>[] {
  // NeuVector's pips are IPv4 (the dp's schema says so); IPv6 addresses only feed the rules.
  const ips = [...new Set([w.ip, ...(w.ips ?? [])].filter((a) => a && !a.includes(':')))];
  return [
    {
      ctrl_add_mac: {
        iface: SERVICE_IFACE,
        mac: w.mac,
        ucmac,
        bcmac: bcmacOf(ucmac),
        oldmac: '',
        pmac: '',
        pips: ips.map((ip) => ({ ip })),
      },
    },
    { ctrl_cfg_mac: { macs: [w.mac], tap: MODES[w.mode].tap } },
  ];
}

/** IPv4 CIDRs as the dp's subnet list (the dp's internal/external test is IPv4). */
export function internalNetMessage(cidrs: readonly string[]): CtrlRequest<'ctrl_cfg_internal_net'> {
  const subnets: { ip: string; mask: string }[] = [];
  for (const c of cidrs) {
    const [addr, bits] = ipaddr.parseCIDR(c);
    if (addr.kind() !== 'ipv4') continue;
    subnets.push({
      ip: ipaddr.IPv4.networkAddressFromCIDR(c).toString(),
      mask: ipaddr.IPv4.subnetMaskFromPrefixLength(bits).toString(),
    });
  }
  return { ctrl_cfg_internal_net: { flag: MSG_START | MSG_END, subnet_addr: subnets } };
}

export function desiredDpMessages(d: DesiredDp): CtrlRequest[] {
  const out: CtrlRequest[] = [
    internalNetMessage(d.internalNets),
    // ICMP is learned and enforced like TCP/UDP (NeuVector allows all ICMP unless told).
    { ctrl_enable_icmp_policy: { enable_icmp_policy: true } },
  ];
  for (const w of d.workloads) {
    const ucmac = d.ucmacs.get(w.name);
    if (ucmac) out.push(...registerMessages(w, ucmac));
  }
  out.push(...(d.policies ?? []), { ctrl_add_srvc_port: { iface: SERVICE_IFACE, jumboframe: false } });
  return out;
}

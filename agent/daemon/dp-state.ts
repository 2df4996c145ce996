/**
 * The dp configuration that follows from the agent's desired state, as NeuVector-shaped
 * ctrl_* messages in replay order: internal nets, ICMP policy switch, service port, then
 * per workload add_mac + cfg_mac (policies follow from the policy compiler).
 */
import ipaddr from 'ipaddr.js';
import { bcmacForIfindex } from '../../shared/mac.js';
import { MODES, type WorkloadMode } from '../../shared/policy-actions.js';
import type { WorkloadView } from '../policy/compile.js';

export const SERVICE_IFACE = 'vth';

export interface DesiredDp {
  /** CIDR of the east-west address space (everything else is external). */
  internalNet: string;
  workloads: readonly WorkloadView[];
  /** Workload name → its unique steering MAC. */
  ucmacs: ReadonlyMap<string, string>;
}

function bcmacOf(ucmac: string): string {
  const [hh, ll] = ucmac.split(':').slice(4).map((h) => parseInt(h, 16));
  return bcmacForIfindex(((hh ?? 0) << 8) | (ll ?? 0));
}

/** The tap flag of a mode, for a mode switch. */
export function endpointMessages(_name: string, mac: string, _ucmac: string, mode: WorkloadMode): object[] {
  return [{ ctrl_cfg_mac: { macs: [mac], tap: MODES[mode].tap } }];
}

export function desiredDpMessages(d: DesiredDp): object[] {
  const [addr, bits] = ipaddr.parseCIDR(d.internalNet);
  const mask = ipaddr.IPv4.subnetMaskFromPrefixLength(bits).toString();
  const out: object[] = [
    { ctrl_cfg_internal_net: { flag: 3, subnet_addr: [{ ip: addr.toString(), mask }] } },
    // ICMP is learned and enforced like TCP/UDP (NeuVector allows all ICMP unless told).
    { ctrl_enable_icmp_policy: { enable_icmp_policy: true } },
    { ctrl_add_srvc_port: { iface: SERVICE_IFACE, jumboframe: false } },
  ];
  for (const w of d.workloads) {
    const ucmac = d.ucmacs.get(w.name);
    if (!ucmac) continue;
    out.push({ ctrl_add_mac: { iface: SERVICE_IFACE, mac: w.mac, ucmac, bcmac: bcmacOf(ucmac), oldmac: '', pmac: '', pips: [{ ip: w.ip }] } });
    out.push({ ctrl_cfg_mac: { macs: [w.mac], tap: MODES[w.mode].tap } });
  }
  return out;
}

/**
 * `cilium.io/v2` CiliumNetworkPolicy objects from a group plan: the same groups, peers
 * and ports as the NetworkPolicy export, plus ICMP (as echo requests, type 8 / 128, which
 * is what Tollgate learns from pings). Group peers and CIDR peers go in separate entries
 * (fromEndpoints / fromCIDR) so each entry reads on its own. enableDefaultDeny is set both
 * ways, as Tollgate's protect mode denies both ways.
 */
import { selectorFor, policyName } from './labels.js';
import { MANAGED_BY } from './networkpolicy.js';
import type { GroupPlan, PortRule } from './plan.js';
import type { GroupLabels } from './source.js';

type Selector = { matchLabels: Record<string, string> };
type ToPorts = { ports: { port: string; protocol: 'TCP' | 'UDP' | 'ANY' }[] }[];
type Icmps = { fields: { type: number; family: 'IPv4' | 'IPv6' }[] }[];

export interface CiliumIngressRule {
  fromEndpoints?: Selector[];
  fromCIDR?: string[];
  toPorts?: ToPorts;
  icmps?: Icmps;
}

export interface CiliumEgressRule {
  toEndpoints?: Selector[];
  toCIDR?: string[];
  toPorts?: ToPorts;
  icmps?: Icmps;
}

export interface CiliumNetworkPolicyObject {
  apiVersion: 'cilium.io/v2';
  kind: 'CiliumNetworkPolicy';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    endpointSelector: Selector;
    enableDefaultDeny: { ingress: boolean; egress: boolean };
    ingress: CiliumIngressRule[];
    egress: CiliumEgressRule[];
  };
}

/** The L4 part of an entry: toPorts, icmps, or nothing (every protocol). */
function l4(e: PortRule): { toPorts?: ToPorts; icmps?: Icmps } {
  if (e.proto === 'icmp') return { icmps: [{ fields: [{ type: 8, family: 'IPv4' }] }] };
  if (e.proto === 'icmpv6') return { icmps: [{ fields: [{ type: 128, family: 'IPv6' }] }] };
  if (e.proto === 'any' && e.port === 0) return {};
  const protocol = e.proto === 'tcp' ? 'TCP' : e.proto === 'udp' ? 'UDP' : 'ANY';
  return { toPorts: [{ ports: [{ port: String(e.port), protocol }] }] };
}

function entries<R>(
  list: readonly PortRule[],
  labels: Readonly<GroupLabels>,
  endpoints: (s: Selector[]) => R,
  cidrs: (c: string[]) => R,
): R[] {
  const out: R[] = [];
  for (const e of list) {
    if (e.peers.groups.length)
      out.push({ ...endpoints(e.peers.groups.map((g) => ({ matchLabels: selectorFor(g, labels) }))), ...l4(e) });
    if (e.peers.cidrs.length) out.push({ ...cidrs([...e.peers.cidrs]), ...l4(e) });
  }
  return out;
}

export function toCiliumNetworkPolicies(
  plans: readonly GroupPlan[],
  labels: Readonly<GroupLabels>,
): CiliumNetworkPolicyObject[] {
  return plans.map((p) => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: policyName(p.group), labels: { ...MANAGED_BY } },
    spec: {
      endpointSelector: { matchLabels: selectorFor(p.group, labels) },
      enableDefaultDeny: { ingress: true, egress: true },
      ingress: entries<CiliumIngressRule>(
        p.ingress,
        labels,
        (fromEndpoints) => ({ fromEndpoints }),
        (fromCIDR) => ({ fromCIDR }),
      ),
      egress: entries<CiliumEgressRule>(
        p.egress,
        labels,
        (toEndpoints) => ({ toEndpoints }),
        (toCIDR) => ({ toCIDR }),
      ),
    },
  }));
}

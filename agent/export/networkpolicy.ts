/**
 * Kubernetes `networking.k8s.io/v1` NetworkPolicy objects from a group plan: one object
 * per group selecting its pods, ingress for the rules where it is the server, egress for
 * those where it is the client, one entry per (protocol, port) listing every peer. Both
 * policy types are always set: in protect mode Tollgate denies whatever no rule allows
 * in either direction, and so does a NetworkPolicy that lists both. NetworkPolicy has no
 * ICMP; such rules are reported as skipped (CiliumNetworkPolicy carries them).
 */
import { selectorFor, policyName } from './labels.js';
import type { GroupPlan, PeerSet, PortRule, SkippedRule } from './plan.js';
import type { GroupLabels } from './source.js';

export interface NetworkPolicyPeer {
  podSelector?: { matchLabels: Record<string, string> };
  ipBlock?: { cidr: string };
}

export interface NetworkPolicyPort {
  protocol: 'TCP' | 'UDP';
  port?: number;
}

export interface NetworkPolicyObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: ('Ingress' | 'Egress')[];
    ingress: { from: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    egress: { to: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  };
}

/** Label on every exported object, so `kubectl delete -l` removes exactly what Tollgate wrote. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'tollgate' } as const;

function peers(p: PeerSet, labels: Readonly<GroupLabels>): NetworkPolicyPeer[] {
  return [
    ...p.groups.map((g) => ({ podSelector: { matchLabels: selectorFor(g, labels) } })),
    ...p.cidrs.map((cidr) => ({ ipBlock: { cidr } })),
  ];
}

function ports(e: PortRule): NetworkPolicyPort[] | undefined {
  if (e.proto === 'any') return undefined;
  const protocol = e.proto === 'tcp' ? 'TCP' : 'UDP';
  return [e.port > 0 ? { protocol, port: e.port } : { protocol }];
}

const expressible = (e: PortRule) => e.proto !== 'icmp' && e.proto !== 'icmpv6';

export function toNetworkPolicies(
  plans: readonly GroupPlan[],
  labels: Readonly<GroupLabels>,
): { objects: NetworkPolicyObject[]; skipped: SkippedRule[] } {
  const skipped: SkippedRule[] = [];
  const objects = plans.map((p): NetworkPolicyObject => {
    for (const e of [...p.ingress, ...p.egress].filter((x) => !expressible(x))) {
      for (const id of e.ruleIds)
        if (!skipped.some((s) => s.ruleId === id))
          skipped.push({ ruleId: id, reason: `${e.proto} has no NetworkPolicy form (use ciliumnetworkpolicy)` });
    }
    return {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: policyName(p.group), labels: { ...MANAGED_BY } },
      spec: {
        podSelector: { matchLabels: selectorFor(p.group, labels) },
        policyTypes: ['Ingress', 'Egress'],
        ingress: p.ingress.filter(expressible).map((e) => withPorts({ from: peers(e.peers, labels) }, ports(e))),
        egress: p.egress.filter(expressible).map((e) => withPorts({ to: peers(e.peers, labels) }, ports(e))),
      },
    };
  });
  return { objects, skipped };
}

function withPorts<T extends object>(
  o: T,
  ports: NetworkPolicyPort[] | undefined,
): T & { ports?: NetworkPolicyPort[] } {
  return ports ? { ...o, ports } : o;
}

/**
 * The shape both Kubernetes exports share: for each group, the peers it accepts per
 * (protocol, port) as the server (ingress) and reaches as the client (egress). A rule
 * between two groups lands in the server group's ingress and the client group's egress;
 * a rule with a CIDR on one side only in the group's side; a CIDR-to-CIDR rule nowhere
 * (no pod to select), reported as skipped.
 */
import { appliesAt, type AllowRule } from '../learn/rule.js';
import { groupsOf, isCidr } from './peers.js';
import { rulesOfGroup, type PolicySource } from './source.js';

export interface PeerSet {
  groups: string[];
  cidrs: string[];
}

export interface PortRule {
  proto: AllowRule['proto'];
  /** 0 = every port of the protocol (and for ICMP). */
  port: number;
  peers: PeerSet;
  /** The Tollgate rules folded into this entry, for comments and tests. */
  ruleIds: number[];
}

export interface GroupPlan {
  group: string;
  ingress: PortRule[];
  egress: PortRule[];
}

/** A rule an export could not express, and why (written as a comment above the objects). */
export interface SkippedRule {
  ruleId: number;
  reason: string;
}

const PROTO_ORDER: AllowRule['proto'][] = ['tcp', 'udp', 'icmp', 'icmpv6', 'any'];

function addTo(list: PortRule[], r: AllowRule, peer: string): void {
  let e = list.find((x) => x.proto === r.proto && x.port === r.port);
  if (!e) list.push((e = { proto: r.proto, port: r.port, peers: { groups: [], cidrs: [] }, ruleIds: [] }));
  const into = isCidr(peer) ? e.peers.cidrs : e.peers.groups;
  if (!into.includes(peer)) into.push(peer);
  if (!e.ruleIds.includes(r.id)) e.ruleIds.push(r.id);
}

function sortRules(list: PortRule[]): PortRule[] {
  for (const e of list) {
    e.peers.groups.sort();
    e.peers.cidrs.sort();
    e.ruleIds.sort((a, b) => a - b);
  }
  return list.sort((a, b) => PROTO_ORDER.indexOf(a.proto) - PROTO_ORDER.indexOf(b.proto) || a.port - b.port);
}

/** One plan per group (all groups the source names, or just `only`), sorted by name. */
export function planGroups(src: PolicySource, only?: string): { plans: GroupPlan[]; skipped: SkippedRule[] } {
  const rules = rulesOfGroup(src.rules, only);
  const names =
    only !== undefined
      ? [only]
      : groupsOf([...rules.flatMap((r) => [r.from, r.to]), ...Object.keys(src.modes), ...Object.keys(src.labels)]);
  const plans = new Map<string, GroupPlan>(names.map((g) => [g, { group: g, ingress: [], egress: [] }]));
  const skipped: SkippedRule[] = [];
  for (const r of rules) {
    const server = plans.get(r.to);
    const client = plans.get(r.from);
    // Only where the rule applies (docs/POLICY.md): a rule learned at the client's egress
    // never becomes an ingress policy of the server group.
    if (server && appliesAt(r, 'ingress')) addTo(server.ingress, r, r.from);
    if (client && appliesAt(r, 'egress')) addTo(client.egress, r, r.to);
    if (!server && !client) skipped.push({ ruleId: r.id, reason: 'neither side is a group (no pods to select)' });
  }
  return {
    plans: [...plans.values()].map((p) => ({ ...p, ingress: sortRules(p.ingress), egress: sortRules(p.egress) })),
    skipped,
  };
}

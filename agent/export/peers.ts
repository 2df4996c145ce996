/**
 * A rule's peer is a group name or a CIDR (agent/learn/rule.ts). Kubernetes needs to
 * know which: groups become label selectors, CIDRs become ipBlock / toCIDR peers.
 */
import ipaddr from 'ipaddr.js';

export function isCidr(peer: string): boolean {
  return peer.includes('/') && ipaddr.isValidCIDR(peer);
}

/** The groups a rule set names, sorted. */
export function groupsOf(peers: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const p of peers) if (!isCidr(p)) out.add(p);
  return [...out].sort();
}

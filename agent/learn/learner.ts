/**
 * Consumes the dp's connection records: sessions reported as LEARN become allow rules
 * (deduplicated per client peer, server peer, server port and protocol) for the side that
 * reported them, and sessions that matched a rule count as hits on it. Peers are named by
 * group when the address is a known workload's, otherwise by a host CIDR.
 */
import type { ConnectionRecord } from '../../shared/events/schema.js';
import { PolicyAction } from '../../shared/policy-actions.js';
import type { WorkloadView } from '../policy/compile.js';
import { type AllowRule, protoName } from './rule.js';
import type { RuleStore } from './rule-store.js';

export interface LearnResult {
  added: AllowRule[];
  /** Existing rules that now also apply at the side that reported them. */
  widened: AllowRule[];
  hit: AllowRule[];
}

/** The group of the workload with address `ip`, else the address as a host CIDR. */
export function peerName(ip: string, workloads: readonly WorkloadView[]): string {
  const w = workloads.find((x) => x.ip === ip || x.ips?.includes(ip));
  if (w) return w.group;
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

export function learnFrom(
  records: readonly ConnectionRecord[],
  store: RuleStore,
  workloads: readonly WorkloadView[],
): LearnResult {
  const res: LearnResult = { added: [], widened: [], hit: [] };
  for (const c of records) {
    if (c.action === PolicyAction.LEARN) {
      const proto = protoName(c.proto);
      if (!proto) continue;
      const from = peerName(c.client, workloads);
      const to = peerName(c.server, workloads);
      const port = proto === 'icmp' || proto === 'icmpv6' ? 0 : c.serverPort;
      // Learned only for the end that reported it, the one in learn mode: a learning client
      // opens its own egress, never the ingress of a server that is not learning.
      const side = c.ingress ? 'ingress' : 'egress';
      const { rule, added, widened } = store.add({ from, to, side, port, proto, origin: 'learned' });
      if (added) res.added.push(rule);
      else if (widened && !res.added.includes(rule)) res.widened.push(rule);
    } else if (c.action === PolicyAction.ALLOW && c.ruleId > 0 && c.sessions > 0) {
      const rule = store.byId(c.ruleId);
      if (rule) {
        rule.hits += c.sessions;
        rule.lastUsed = new Date(c.lastSeen * 1000).toISOString();
        res.hit.push(rule);
      }
    }
  }
  return res;
}

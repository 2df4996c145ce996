/**
 * Consumes the dp's connection records: sessions reported as LEARN become allow rules
 * (deduplicated per client peer, server peer, server port and protocol), and sessions
 * that matched a rule count as hits on it. Peers are named by workload when the address
 * is a known workload, otherwise by a host CIDR.
 */
import type { ConnectionRecord } from '../../shared/events/schema.js';
import { PolicyAction } from '../../shared/policy-actions.js';
import type { WorkloadView } from '../policy/compile.js';
import { type AllowRule, protoName } from './rule.js';
import type { RuleStore } from './rule-store.js';

export interface LearnResult {
  added: AllowRule[];
  hit: AllowRule[];
}

function peerName(ip: string, workloads: readonly WorkloadView[]): string {
  const w = workloads.find((x) => x.ip === ip);
  if (w) return w.name;
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

export function learnFrom(records: readonly ConnectionRecord[], store: RuleStore, workloads: readonly WorkloadView[]): LearnResult {
  const res: LearnResult = { added: [], hit: [] };
  for (const c of records) {
    if (c.action === PolicyAction.LEARN) {
      const proto = protoName(c.proto);
      if (!proto) continue;
      const from = peerName(c.client, workloads);
      const to = peerName(c.server, workloads);
      const port = proto === 'icmp' || proto === 'icmpv6' ? 0 : c.serverPort;
      const { rule, added } = store.add({ from, to, port, proto, origin: 'learned' });
      if (added) res.added.push(rule);
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

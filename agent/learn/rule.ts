/**
 * A learned (or hand-written) allow rule: which group may talk to which on which port.
 * Peers are group names (`web`; a lab workload is its own group) or CIDRs
 * (`198.18.0.1/32`). Stored in the rules file that a person can read and edit; ids
 * start at 10000 like NeuVector's learned rules.
 *
 * `side` says where the rule is enforced: a rule learned from a connection is learned
 * only for the end that was in learn mode (docs/POLICY.md), so a learning client can open
 * its own egress but never a protected server's ingress.
 */
export const LEARNED_ID_BASE = 10000;

export interface AllowRule {
  id: number;
  /** Client side: workload name or CIDR. */
  from: string;
  /** Server side: workload name or CIDR. */
  to: string;
  /** Where it applies: the client's egress, the server's ingress, or both. */
  side: RuleSide;
  /** Server port (0 for ICMP). */
  port: number;
  proto: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'any';
  /** How it got here. */
  origin: 'learned' | 'user';
  createdAt: string;
  /** Sessions that matched this rule while enforcing, and when the last one did. */
  hits: number;
  lastUsed: string | null;
}

export type RuleSide = 'both' | 'egress' | 'ingress';
export const RULE_SIDES: readonly RuleSide[] = ['both', 'egress', 'ingress'];

/** A rule that applies at `side` also applies where it already did: egress + ingress = both. */
export function mergeSides(a: RuleSide, b: RuleSide): RuleSide {
  return a === b ? a : 'both';
}

export function appliesAt(r: Pick<AllowRule, 'side'>, at: 'egress' | 'ingress'): boolean {
  return r.side === 'both' || r.side === at;
}

export const PROTO_NUMBERS: Record<AllowRule['proto'], number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, any: 0 };

export function protoName(n: number): AllowRule['proto'] | undefined {
  return (Object.keys(PROTO_NUMBERS) as AllowRule['proto'][]).find((k) => PROTO_NUMBERS[k] === n);
}

/** Identity of a rule for deduplication. */
export function ruleKey(r: Pick<AllowRule, 'from' | 'to' | 'port' | 'proto'>): string {
  return `${r.from}>${r.to}:${r.port}/${r.proto}`;
}

/**
 * A learned (or hand-written) allow rule: who may talk to whom on which port. Peers are
 * workload names (`web`) or CIDRs (`198.18.0.1/32`). Stored in the rules file that a
 * person can read and edit; ids start at 10000 like NeuVector's learned rules.
 */
export const LEARNED_ID_BASE = 10000;

export interface AllowRule {
  id: number;
  /** Client side: workload name or CIDR. */
  from: string;
  /** Server side: workload name or CIDR. */
  to: string;
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

export const PROTO_NUMBERS: Record<AllowRule['proto'], number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, any: 0 };

export function protoName(n: number): AllowRule['proto'] | undefined {
  return (Object.keys(PROTO_NUMBERS) as AllowRule['proto'][]).find((k) => PROTO_NUMBERS[k] === n);
}

/** Identity of a rule for deduplication. */
export function ruleKey(r: Pick<AllowRule, 'from' | 'to' | 'port' | 'proto'>): string {
  return `${r.from}>${r.to}:${r.port}/${r.proto}`;
}

/**
 * A compiled, immutable policy handle for a set of endpoints (NeuVector's per-EP policy
 * handle): the rules of one ctrl_cfg_policy START..END, indexed so a lookup touches a
 * handful of candidates even with thousands of rules.
 *
 * Index layout (first match in rule order wins, as in NeuVector):
 *  - exact: rules with a single source, single destination and single port, hashed on
 *    (direction, proto, sip, dip, port). Most learned rules are of this kind.
 *  - byPort: rules with a narrow port range (≤ PORT_FANOUT ports), listed under each port.
 *  - wide: the rest (port ranges wider than that), per direction.
 * Every list is sorted by rule order, so a scan stops at the first candidate that cannot
 * beat the best match found so far.
 */
import { PolicyAction } from '../../shared/policy-actions.js';
import { type Addr128, cmpAddr, hashAddr, inRange } from './address.js';

export const PROTO_ANY = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

const PORT_FANOUT = 64;

export interface CompiledRule {
  id: number;
  order: number;
  ingress: boolean;
  proto: number; // 0 = any
  sipLo: Addr128;
  sipHi: Addr128;
  dipLo: Addr128;
  dipHi: Addr128;
  portLo: number;
  portHi: number;
  action: number;
}

/** A reusable query: the engine fills it for each new session (no allocation). */
export interface PolicyQuery {
  ingress: boolean;
  proto: number;
  sip: Addr128;
  dip: Addr128;
  dport: number;
}

/** A reusable result object. */
export interface PolicyMatch {
  action: number;
  ruleId: number;
  order: number;
}

/**
 * Builds a RuleIndex one rule at a time, so a large policy is indexed as its chunks
 * arrive (dp/policy/policy-chunks.ts) and its END only swaps it in. Rules added in rule
 * order leave every list sorted; out of order, build() sorts them.
 */
export class RuleIndexBuilder {
  readonly exact = new Map<number, CompiledRule[]>();
  readonly byPort = new Map<number, CompiledRule[]>();
  readonly wideIngress: CompiledRule[] = [];
  readonly wideEgress: CompiledRule[] = [];
  readonly rules: CompiledRule[] = [];
  private sorted = true;

  add(r: CompiledRule): void {
    const last = this.rules[this.rules.length - 1];
    if (last && r.order <= last.order) this.sorted = false;
    this.rules.push(r);
    const singleIps = cmpAddr(r.sipLo, r.sipHi) === 0 && cmpAddr(r.dipLo, r.dipHi) === 0;
    if (singleIps && r.portLo === r.portHi) {
      push(this.exact, exactKey(r.ingress, r.proto, r.sipLo, r.dipLo, r.portLo), r);
    } else if (r.portHi - r.portLo < PORT_FANOUT) {
      for (let p = r.portLo; p <= r.portHi; p++) push(this.byPort, portKey(r.ingress, r.proto, p), r);
    } else {
      (r.ingress ? this.wideIngress : this.wideEgress).push(r);
    }
  }

  /** Every list in rule order (a no-op for rules added in order). */
  finish(): this {
    if (!this.sorted) {
      const byOrder = (a: CompiledRule, b: CompiledRule) => a.order - b.order;
      for (const l of this.exact.values()) l.sort(byOrder);
      for (const l of this.byPort.values()) l.sort(byOrder);
      this.wideIngress.sort(byOrder);
      this.wideEgress.sort(byOrder);
      this.sorted = true;
    }
    return this;
  }

  build(): RuleIndex {
    return new RuleIndex(this.rules, this);
  }
}

export class RuleIndex {
  private readonly exact: Map<number, CompiledRule[]>;
  private readonly byPort: Map<number, CompiledRule[]>;
  private readonly wideIngress: CompiledRule[];
  private readonly wideEgress: CompiledRule[];
  readonly size: number;

  /** The index of `rules`, or of what `built` indexed (RuleIndexBuilder.build). */
  constructor(
    readonly rules: readonly CompiledRule[],
    built?: RuleIndexBuilder,
  ) {
    let b = built;
    if (!b) {
      b = new RuleIndexBuilder();
      for (const r of rules) b.add(r);
    }
    b.finish();
    this.exact = b.exact;
    this.byPort = b.byPort;
    this.wideIngress = b.wideIngress;
    this.wideEgress = b.wideEgress;
    this.size = rules.length;
  }

  /**
   * Finds the first rule matching `q` whose order is below `out.order`, writing it into
   * `out`. Returns true when it improved `out`. `protoForAny` says whether proto-0 rules
   * cover this protocol (TCP/UDP always; ICMP only with enable_icmp_policy).
   */
  match(q: PolicyQuery, protoForAny: boolean, out: PolicyMatch): boolean {
    let improved = false;
    // exact, for the packet's proto and (if allowed) for proto-any rules
    improved =
      this.scan(this.exact.get(exactKey(q.ingress, q.proto, q.sip, q.dip, q.dport)), q, protoForAny, out) || improved;
    if (protoForAny) {
      improved =
        this.scan(this.exact.get(exactKey(q.ingress, PROTO_ANY, q.sip, q.dip, q.dport)), q, protoForAny, out) ||
        improved;
    }
    improved = this.scan(this.byPort.get(portKey(q.ingress, q.proto, q.dport)), q, protoForAny, out) || improved;
    if (protoForAny) {
      improved = this.scan(this.byPort.get(portKey(q.ingress, PROTO_ANY, q.dport)), q, protoForAny, out) || improved;
    }
    improved = this.scan(q.ingress ? this.wideIngress : this.wideEgress, q, protoForAny, out) || improved;
    return improved;
  }

  private scan(list: CompiledRule[] | undefined, q: PolicyQuery, protoForAny: boolean, out: PolicyMatch): boolean {
    if (!list) return false;
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      if (r.order >= out.order) return false; // sorted: nothing later can win
      if (r.ingress !== q.ingress) continue;
      if (r.proto !== q.proto && !(r.proto === PROTO_ANY && protoForAny)) continue;
      if (q.dport < r.portLo || q.dport > r.portHi) continue;
      if (!inRange(q.sip, r.sipLo, r.sipHi) || !inRange(q.dip, r.dipLo, r.dipHi)) continue;
      out.action = r.action;
      out.ruleId = r.id;
      out.order = r.order;
      return true;
    }
    return false;
  }
}

function push(m: Map<number, CompiledRule[]>, k: number, r: CompiledRule): void {
  const l = m.get(k);
  if (l) l.push(r);
  else m.set(k, [r]);
}

function portKey(ingress: boolean, proto: number, port: number): number {
  return (ingress ? 0x1_000_000 : 0) + proto * 0x10000 + port;
}

function exactKey(ingress: boolean, proto: number, sip: Addr128, dip: Addr128, port: number): number {
  // Signed 32-bit throughout (no `>>> 0`): an unsigned intermediate of 2^31 or more is a
  // heap number in code V8 has not optimized.
  let h = (0x811c9dc5 | 0) ^ (ingress ? 1 : 2);
  h = Math.imul(h ^ proto, 0x01000193);
  h = Math.imul(h ^ port, 0x01000193);
  h = hashAddr(h, sip);
  // 30 bits: a small integer (Smi) in V8, so a lookup allocates no heap number for its key.
  // A shared key only means one more candidate list entry; scan() checks the addresses.
  return hashAddr(h, dip) & 0x3fffffff;
}

/** The default result when nothing matches. */
export function resetMatch(out: PolicyMatch, defaultAction: number): PolicyMatch {
  out.action = defaultAction;
  out.ruleId = 0;
  // Above any rule's order (a rule's position, below ELIMIT's 65,536) and a small integer
  // (Smi) in V8: 0xffffffff would make the field a heap number, re-boxed per lookup
  // wherever the field's representation has become generic.
  out.order = 0x3fffffff;
  return out;
}

export const DEFAULT_ACTION = PolicyAction.OPEN;

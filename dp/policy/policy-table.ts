/**
 * Which policy applies to which endpoint, and the lookup the engine calls when a session
 * starts (and again when the endpoint's policy version changes).
 *
 * Lookup order, after NeuVector's dpi_policy.c (minus its IPv4-only limit: IPv6 is policed):
 *  1. no handle for the endpoint → OPEN (rule 0)
 *  2. link-local peers → OPEN
 *  3. internal peer and the handle's apply direction excludes this direction → OPEN
 *  4. first matching rule (index), and for external peers also the rules written for the
 *     "external" wildcard peer (0.0.0.0 / ::); lowest order wins
 *  5. ICMP without enable_icmp_policy → ALLOW (NeuVector's implicit allow-all-ICMP)
 *  6. otherwise the handle's default action, rule id 0
 */
import type { WireRule } from '../../shared/ctrl/schemas.js';
import { PolicyAction, PolicyDir } from '../../shared/policy-actions.js';
import { TollgateError } from '../../shared/errors.js';
import { type Addr128, type AddrRange, inRange, newAddr, parseAddr, isV4Mapped } from './address.js';
import {
  type CompiledRule,
  type PolicyMatch,
  type PolicyQuery,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type RuleIndex,
  RuleIndexBuilder,
  resetMatch,
} from './rule-index.js';

export interface PolicyHandle {
  /** Bumped on every change; sessions remember the version they were decided under. */
  version: number;
  defaultAction: number;
  /** PolicyDir bitmask; 0 means both directions are enforced. */
  dir: number;
  index: RuleIndex;
}

/** Wire shape of one ctrl_cfg_policy rule (already type-checked by the ctrl schema). */
export type { WireRule };

const LINK_LOCAL_V4: AddrRange = { lo: parseAddr('169.254.0.0', 'll'), hi: parseAddr('169.254.255.255', 'll') };
const LINK_LOCAL_V6: AddrRange = {
  lo: parseAddr('fe80::', 'll'),
  hi: parseAddr('febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'll'),
};
const EXTERNAL_V4 = parseAddr('0.0.0.0', 'ext');
const EXTERNAL_V6 = parseAddr('::', 'ext');

export function compileRules(rules: readonly WireRule[], field = 'rules'): RuleIndex {
  const b = new RuleIndexBuilder();
  for (const [i, r] of rules.entries()) b.add(compileRule(r, i, `${field}[${i}]`));
  return b.build();
}

/** One wire rule as the index holds it; `order` is its position in the whole policy, `f` names it in errors. */
export function compileRule(r: WireRule, order: number, f: string): CompiledRule {
  const sipLo = parseAddr(r.sip, `${f}.sip`);
  const sipHi = r.sipr ? parseAddr(r.sipr, `${f}.sipr`) : sipLo;
  const dipLo = parseAddr(r.dip, `${f}.dip`);
  const dipHi = r.dipr ? parseAddr(r.dipr, `${f}.dipr`) : dipLo;
  const portLo = r.port ?? 0;
  // NeuVector: port 0 with no portr means any port; a portr extends the range.
  const portHi = r.portr !== undefined && r.portr !== 0 ? r.portr : portLo === 0 ? 65535 : portLo;
  if (isV4Mapped(sipLo) !== isV4Mapped(sipHi) || isV4Mapped(dipLo) !== isV4Mapped(dipHi)) {
    throw new TollgateError('EBADFIELD', 'address range mixes IPv4 and IPv6', f);
  }
  if (portHi < portLo) throw new TollgateError('EBADFIELD', `port range ${portLo}-${portHi} is empty`, `${f}.portr`);
  return {
    id: r.id,
    order,
    ingress: r.ingress,
    proto: r.proto ?? 0,
    sipLo,
    sipHi,
    dipLo,
    dipHi,
    portLo,
    portHi,
    action: r.action,
  };
}

export class PolicyTable {
  private readonly handles = new Map<number, PolicyHandle>(); // by endpoint id
  private internal: AddrRange[] = [];
  /** Source of every version number: each policy input takes the next one. */
  private version = 0;
  /** Version of the last input that affects every endpoint (internal nets, ICMP policy). */
  private globalVersion = 0;
  /** Version of the last input that affected one endpoint (rules, default action, mode). */
  private readonly epVersion = new Map<number, number>();
  private icmpPolicy = false;
  private readonly extQuery: PolicyQuery = { ingress: false, proto: 0, sip: newAddr(), dip: newAddr(), dport: 0 };

  setInternalNets(nets: AddrRange[]): void {
    this.internal = nets;
    this.globalVersion = ++this.version;
  }

  /** ctrl_enable_icmp_policy: off = ICMP allowed unless a rule matches (NeuVector's default). */
  get enableIcmpPolicy(): boolean {
    return this.icmpPolicy;
  }
  set enableIcmpPolicy(on: boolean) {
    if (on === this.icmpPolicy) return;
    this.icmpPolicy = on;
    this.globalVersion = ++this.version;
  }

  /** Installs one compiled handle on the given endpoints (one START..END commit). */
  setPolicy(epIds: readonly number[], defaultAction: number, dir: number, index: RuleIndex): void {
    const h: PolicyHandle = { version: ++this.version, defaultAction, dir, index };
    for (const id of epIds) {
      this.handles.set(id, h);
      this.epVersion.set(id, h.version);
    }
  }

  deletePolicy(epIds: readonly number[]): void {
    this.touch(epIds);
    for (const id of epIds) this.handles.delete(id);
  }

  /**
   * An input outside the rules changed for these endpoints (their mode: tap ↔ inline), so
   * their sessions are decided again on their next packet.
   */
  touch(epIds: readonly number[]): void {
    const v = ++this.version;
    for (const id of epIds) this.epVersion.set(id, v);
  }

  /** The endpoint is gone (ctrl_del_mac): nothing of it is kept. */
  forgetEndpoint(epId: number): void {
    this.handles.delete(epId);
    this.epVersion.delete(epId);
  }

  handleOf(epId: number): PolicyHandle | undefined {
    return this.handles.get(epId);
  }

  /**
   * Version of every input an endpoint's decisions depend on (its rules, default action and
   * mode, the internal nets, the ICMP switch): the engine decides a session again when it moves.
   */
  versionOf(epId: number): number {
    const v = this.epVersion.get(epId) ?? 0;
    return Math.max(v, this.globalVersion);
  }

  /** An empty or never-set list means everything is internal (NeuVector). */
  isInternal(a: Addr128): boolean {
    if (this.internal.length === 0) return true;
    if (isV4Mapped(a) && a[3]! >>> 24 === 127) return true;
    for (let i = 0; i < this.internal.length; i++) {
      const r = this.internal[i]!;
      if (inRange(a, r.lo, r.hi)) return true;
    }
    return false;
  }

  /** Decides a new session of endpoint `epId`. `q` is oriented client→server; the peer is sip when ingress. */
  lookup(epId: number, q: PolicyQuery, out: PolicyMatch): PolicyMatch {
    const h = this.handles.get(epId);
    if (!h) return resetMatch(out, PolicyAction.OPEN);
    const peer = q.ingress ? q.sip : q.dip;
    if (inRange(peer, LINK_LOCAL_V4.lo, LINK_LOCAL_V4.hi) || inRange(peer, LINK_LOCAL_V6.lo, LINK_LOCAL_V6.hi)) {
      return resetMatch(out, PolicyAction.OPEN);
    }
    const internal = this.isInternal(peer);
    const dirBit = q.ingress ? PolicyDir.INGRESS : PolicyDir.EGRESS;
    if (internal && h.dir !== 0 && (h.dir & dirBit) === 0) return resetMatch(out, PolicyAction.OPEN);

    const isIcmp = q.proto === IPPROTO_ICMP || q.proto === IPPROTO_ICMPV6;
    const protoForAny = q.proto === IPPROTO_TCP || q.proto === IPPROTO_UDP || (isIcmp && this.icmpPolicy);
    resetMatch(out, h.defaultAction);
    h.index.match(q, protoForAny, out);
    if (!internal) {
      const e = this.extQuery;
      e.ingress = q.ingress;
      e.proto = q.proto;
      e.dport = q.dport;
      e.sip.set(q.ingress ? (isV4Mapped(peer) ? EXTERNAL_V4 : EXTERNAL_V6) : q.sip);
      e.dip.set(q.ingress ? q.dip : isV4Mapped(peer) ? EXTERNAL_V4 : EXTERNAL_V6);
      h.index.match(e, protoForAny, out);
    }
    if (out.ruleId === 0 && isIcmp && !this.icmpPolicy) {
      out.action = PolicyAction.ALLOW;
    }
    return out;
  }
}

import { POLICY_DENY, POLICY_OPEN, type PolicyDecision, type PolicyHook, type PolicyQuery } from '../engine-types.js';
import type { PacketContext } from '../packet-context.js';
import { SF_INGRESS } from '../session/tcp-state.js';
import type { SessionTable } from '../session/table.js';
import type { DeviceCounters } from '../stats/counters.js';
import type { PolicyErrorMode } from '../verdict/fail-safe.js';

/**
 * Asks the policy (the PolicyHook seam, dp/engine-types.ts) about a session or a packet,
 * through one reused query and decision object, and applies the fail-safe choice when the
 * lookup throws (dp/verdict/fail-safe.ts). Without a hook nothing is asked.
 */
export class PolicyDecider {
  private readonly q: PolicyQuery = {
    ingress: false,
    proto: 0,
    sip: new Uint32Array(4),
    dip: new Uint32Array(4),
    sport: 0,
    dport: 0,
  };
  private readonly d: PolicyDecision = { action: 0, ruleId: 0 };
  private readonly errorAction: number;

  constructor(
    readonly hook: PolicyHook | null,
    private readonly t: SessionTable,
    private readonly counters: DeviceCounters,
    policyError: PolicyErrorMode | undefined,
  ) {
    this.errorAction = policyError === 'open' ? POLICY_OPEN : POLICY_DENY;
  }

  /** The session was decided under an older version of its endpoint's policy inputs. */
  stale(s: number, epId: number): boolean {
    return this.hook !== null && this.hook.version(epId) !== this.t.policyVersion[s];
  }

  /** Decides session s (client → server as the table holds it) and records action, rule and version. */
  decide(s: number, epId: number): void {
    const pol = this.hook!;
    const t = this.t;
    const q = this.q;
    const k = s << 3;
    for (let i = 0; i < 4; i++) {
      q.sip[i] = t.addr[k + i]!;
      q.dip[i] = t.addr[k + 4 + i]!;
    }
    q.ingress = (t.flags[s]! & SF_INGRESS) !== 0;
    q.proto = t.proto[s]!;
    q.sport = t.cport[s]!;
    q.dport = t.sport[s]!;
    const d = this.d;
    d.action = 0;
    d.ruleId = 0;
    this.ask(epId);
    t.action[s] = d.action;
    t.ruleId[s] = d.ruleId >>> 0;
    t.policyVersion[s] = pol.version(epId);
  }

  /**
   * The policy's action for the current packet without a session (client = the packet's
   * destination when `swap`); ports as given.
   */
  askPacket(ctx: PacketContext, swap: boolean, sport: number, dport: number): number {
    const q = this.q;
    const p = ctx.p;
    const a = p.addr;
    const c = swap ? 4 : 0;
    const v = swap ? 0 : 4;
    for (let i = 0; i < 4; i++) {
      q.sip[i] = a[c + i]!;
      q.dip[i] = a[v + i]!;
    }
    q.ingress = swap ? !ctx.ingress : ctx.ingress;
    q.proto = p.ipProto;
    q.sport = swap ? dport : sport;
    q.dport = swap ? sport : dport;
    this.ask(ctx.epId);
    return this.d.action;
  }

  /** Asks the policy with this.q into this.d; a throwing policy gets the fail-safe decision. */
  private ask(epId: number): void {
    const d = this.d;
    d.action = 0;
    d.ruleId = 0;
    try {
      this.hook!.decide(epId, this.q, d);
    } catch {
      this.counters.policyErrors++;
      d.action = this.errorAction;
      d.ruleId = 0;
    }
  }
}

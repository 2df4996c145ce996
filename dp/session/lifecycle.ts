import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../decode/packet.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { type EngineEvent, POLICY_DENY, type SessionEndReason } from '../engine-types.js';
import type { EngineEmitter } from '../events/engine-emitter.js';
import type { FastPathHook } from '../fastpath/hook.js';
import type { PacketContext } from '../packet-context.js';
import type { PolicyDecider } from '../policy/decider.js';
import type { DeviceCounters } from '../stats/counters.js';
import { EVICT_SCAN } from '../verdict/fail-safe.js';
import { endEvent, startEvent } from './describe.js';
import { NO_SLOT, type SessionTable } from './table.js';
import { SF_INGRESS, SF_MIDSTREAM, TcpState, tcpTimeout } from './tcp-state.js';
import { TIMEOUT_MS } from './timeouts.js';

/** create(): the first packet was denied; no session exists. */
export const DENIED = -2;
/** create(): the endpoint is at its session quota and has no half-open session to evict. */
export const OVER_QUOTA = -3;

/**
 * Sessions begin and end here: creation (quota, eviction of half-open sessions, the first
 * decision, start event), every way a session ends (timeout, reuse, eviction, clear,
 * purge, end of input) with its end event, and the live counts per protocol.
 */
export class SessionLifecycle {
  /** Live sessions per protocol (ctrl_count_session). */
  readonly cur = { tcp: 0, udp: 0, icmp: 0, ip: 0 };
  /** Endpoints by id, so a session's end (found by slot) updates its endpoint's counters. */
  readonly eps = new Map<number, Endpoint>();
  /** Where the half-open eviction sweep resumes. */
  private hand = 0;

  constructor(
    private readonly t: SessionTable,
    private readonly counters: DeviceCounters,
    private readonly events: EngineEmitter,
    private readonly decider: PolicyDecider,
    private readonly fp: FastPathHook | null,
    private readonly quota: number,
  ) {}

  /**
   * A new session for the current packet (client = its destination when `swap`), decided
   * at once; returns its slot, or NO_SLOT (table full), OVER_QUOTA or DENIED.
   */
  create(ctx: PacketContext, now: number, swap: boolean, state: number, flags: number): number {
    const t = this.t;
    const p = ctx.p;
    const ep = ctx.ep;
    const epId = ctx.epId;
    // Per-endpoint quota: one workload's flood makes room among its own half-open sessions.
    if (ep !== null && ep.counters.curSessions >= this.quota && !this.evictHalfOpen(epId, now)) {
      this.counters.sessionQuotaFull++;
      return OVER_QUOTA;
    }
    let s = t.insert(p.addr, 0, p.sport, p.dport, p.ipProto, epId, swap, now);
    if (s === NO_SLOT && this.evictHalfOpen(-1, now))
      s = t.insert(p.addr, 0, p.sport, p.dport, p.ipProto, epId, swap, now);
    if (s === NO_SLOT) return NO_SLOT;
    const sessIngress = swap ? !ctx.ingress : ctx.ingress;
    t.state[s] = state;
    t.flags[s] = flags | (sessIngress ? SF_INGRESS : 0);
    if (this.decider.hook !== null) {
      this.decider.decide(s, epId);
      // A denied first packet creates no session (NeuVector): every retry is decided again.
      if (ctx.inline && t.action[s] === POLICY_DENY) {
        if (this.events.on && this.events.perPacket(now))
          this.events.fire({ ...startEvent(t, s, now, false), type: 'policy.deny' } as EngineEvent);
        t.remove(s);
        return DENIED;
      }
    }
    const c = this.counters;
    c.totalSessions++;
    const proto = p.ipProto;
    if (proto === IPPROTO_TCP) {
      c.tcpSessions++;
      this.cur.tcp++;
    } else if (proto === IPPROTO_UDP) {
      c.udpSessions++;
      this.cur.udp++;
    } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      c.icmpSessions++;
      this.cur.icmp++;
    } else {
      c.ipSessions++;
      this.cur.ip++;
    }
    if (ep !== null) {
      ep.counters.sessions++;
      ep.counters.curSessions++;
      this.remember(ep);
    }
    if (this.events.on) {
      this.events.fire(startEvent(t, s, now, (flags & SF_MIDSTREAM) !== 0));
    }
    return s;
  }

  /** Keeps the endpoint findable by id (session ends, held-fragment discards). */
  remember(ep: Endpoint): void {
    if (this.eps.get(ep.id) !== ep) this.eps.set(ep.id, ep);
  }

  end(s: number, reason: SessionEndReason, now: number): void {
    const t = this.t;
    const proto = t.proto[s]!;
    if (proto === IPPROTO_TCP) this.cur.tcp--;
    else if (proto === IPPROTO_UDP) this.cur.udp--;
    else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) this.cur.icmp--;
    else this.cur.ip--;
    const ep = this.eps.get(t.ep[s]!);
    if (ep !== undefined && ep.counters.curSessions > 0) ep.counters.curSessions--;
    // --- fast path hook: the kernel's counts go into the end event; the entry goes ---
    if (this.fp !== null) this.fp.beforeEnd(s);
    if (this.events.on) this.events.fire(endEvent(t, s, now, reason));
    t.remove(s);
  }

  /** Ends every session `pred` picks (all without one), with `reason`; returns how many. */
  endWhere(pred: ((s: number) => boolean) | null, reason: SessionEndReason, now: number): number {
    const t = this.t;
    let n = 0;
    for (let s = 0; s < t.highWater; s++) {
      if (t.inUse[s] === 1 && (pred === null || pred(s))) {
        this.end(s, reason, now);
        n++;
      }
    }
    return n;
  }

  /** Ends every session (at most `max` of them): finished TCP as fin or rst, the rest with `reason`. */
  endAll(reason: SessionEndReason, now: number, max = Infinity): number {
    const t = this.t;
    let n = 0;
    for (let s = 0; s < t.highWater && n < max; s++) {
      if (t.inUse[s] === 1) {
        this.end(s, this.reasonFor(s, reason), now);
        n++;
      }
    }
    return n;
  }

  /** Ends the sessions idle for their timeout at `now`. */
  expire(now: number): void {
    const t = this.t;
    for (let s = 0; s < t.highWater; s++) {
      if (t.inUse[s] === 1 && now - t.lastMs[s]! >= this.timeoutOf(s)) this.end(s, this.reasonFor(s, 'timeout'), now);
    }
  }

  /**
   * Ends one half-open TCP session (of endpoint epId, or of any when epId < 0) to make room:
   * a clock-hand sweep over the table, at most EVICT_SCAN slots, resumed where it stopped.
   */
  evictHalfOpen(epId: number, now: number): boolean {
    const t = this.t;
    const hw = t.highWater;
    let h = this.hand;
    const n = Math.min(hw, EVICT_SCAN);
    for (let i = 0; i < n; i++) {
      if (h >= hw) h = 0;
      if (
        t.inUse[h] === 1 &&
        t.proto[h] === IPPROTO_TCP &&
        (t.state[h] === TcpState.SynSent || t.state[h] === TcpState.SynReceived) &&
        (epId < 0 || t.ep[h] === epId)
      ) {
        this.hand = h + 1;
        this.counters.sessionsEvicted++;
        this.end(h, 'evict', now);
        return true;
      }
      h++;
    }
    this.hand = h;
    return false;
  }

  /** A finished TCP session ends as fin or rst whatever ended it; others with `fallback`. */
  reasonFor(s: number, fallback: SessionEndReason): SessionEndReason {
    const t = this.t;
    if (t.proto[s] === IPPROTO_TCP) {
      if (t.state[s] === TcpState.Closed) return 'fin';
      if (t.state[s] === TcpState.Reset) return 'rst';
    }
    return fallback;
  }

  private timeoutOf(s: number): number {
    const t = this.t;
    const proto = t.proto[s]!;
    if (proto === IPPROTO_TCP) return tcpTimeout(t.state[s]!, t.flags[s]!);
    if (proto === IPPROTO_UDP) return TIMEOUT_MS.udp;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) return TIMEOUT_MS.icmp;
    return TIMEOUT_MS.ip;
  }
}

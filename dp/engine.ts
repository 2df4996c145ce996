/**
 * The packet engine, identical for live and offline input: decode → fragment tracking →
 * session lookup/creation → TCP state → policy seam → verdict. One preallocated packet
 * view and typed-array tables; nothing is allocated per packet unless an event is emitted
 * (per session or per bad frame). process() never throws.
 */
import type { Endpoint } from './endpoints/endpoint.js';
import { decodeFrame } from './decode/decode.js';
import {
  ETH_ARP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  PacketView,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from './decode/packet.js';
import { R, REASONS } from './decode/reasons.js';
import { NO_SLOT, SessionTable } from './session/table.js';
import { FragJudged, FragResult, FragmentTracker, type FragmentLimits } from './session/fragments.js';
import {
  SF_CUT,
  SF_DATA,
  SF_INGRESS,
  SF_MIDSTREAM,
  TcpState,
  isReuse,
  tcpAdvance,
  tcpTimeout,
} from './session/tcp-state.js';
import { EVICT_SCAN, type FailSafeOptions } from './verdict/fail-safe.js';
import { TIMEOUT_MS } from './session/timeouts.js';
import { describeTuple, endEvent, startEvent, tcpStateName } from './session/describe.js';
import { buildReset, RESET_FRAME_MAX } from './verdict/tcp-reset.js';
import { type DeviceCounters, newDeviceCounters } from './stats/counters.js';
import type { FastPathHook } from './fastpath/hook.js';
import {
  type EngineEvent,
  type PolicyDecision,
  type PolicyHook,
  type PolicyQuery,
  type SessionEndReason,
  type SessionRecord,
  POLICY_DENY,
  POLICY_OPEN,
  Verdict,
} from './engine-types.js';

export { Verdict } from './engine-types.js';
export type { EngineEvent, PolicyHook, PolicyQuery, PolicyDecision, SessionRecord } from './engine-types.js';

export interface EngineOptions {
  emit?: (ev: EngineEvent) => void;
  policy?: PolicyHook;
  /** Session table capacity (default 131072). */
  maxSessions?: number;
  /** Fragment tracking bounds (dp/session/fragments.ts). */
  fragments?: FragmentLimits;
  /** What the engine does when it cannot decide normally (dp/verdict/fail-safe.ts). */
  failSafe?: FailSafeOptions;
  /**
   * Session ids are offset + n × stride (n = 0, 1, …): dp -n N gives worker w offset w + 1
   * and stride N, so an id names one session across all workers.
   */
  sessionIdStride?: number;
  sessionIdOffset?: number;
  /**
   * Per-packet events (malformed, policy.deny) allowed per second of engine clock; the
   * rest are counted (eventsSuppressed) and not built, so a flood of bad or denied frames
   * allocates nothing. Default: unlimited (offline replays report every frame).
   */
  eventsPerSecond?: number;
  /**
   * Sends a frame out of the port the current frame came in on: frames the engine made
   * (TCP resets) and held fragments released when their first fragment is allowed.
   */
  inject?: (frame: Buffer, len: number) => void;
  /** Kernel fast path (dp/fastpath/): offloads established allowed sessions. */
  fastPath?: FastPathHook;
}

/** create(): the first packet was denied; no session exists. */
const DENIED = -2;
/** create(): the endpoint is at its session quota and has no half-open session to evict. */
const OVER_QUOTA = -3;

/** Largest standard frame: 1500 MTU + Ethernet header + two VLAN tags. */
const STANDARD_FRAME = 1500 + 14 + 8;
/** Endpoint id used for sessions of frames with no endpoint (offline / promiscuous). */
const NO_EP = 0;

export class Engine {
  readonly counters: DeviceCounters = newDeviceCounters();
  private readonly p = new PacketView();
  private readonly t: SessionTable;
  private readonly frags: FragmentTracker;
  private readonly emit: ((ev: EngineEvent) => void) | null;
  private readonly policy: PolicyHook | null;
  private readonly policyErrorAction: number;
  private readonly quota: number;
  /** Where the half-open eviction sweep resumes. */
  private hand = 0;
  private readonly eventBudget: number;
  private budgetLeft = 0;
  private budgetEndMs = -Infinity;
  private readonly q: PolicyQuery = {
    ingress: false,
    proto: 0,
    sip: new Uint32Array(4),
    dip: new Uint32Array(4),
    sport: 0,
    dport: 0,
  };
  private readonly d: PolicyDecision = { action: 0, ruleId: 0 };
  private readonly inject: ((frame: Buffer, len: number) => void) | null;
  private readonly fp: FastPathHook | null;
  /** The frame being processed (for resets built from it); never kept past process(). */
  private curBuf: Uint8Array | null = null;
  private readonly rstA = Buffer.alloc(RESET_FRAME_MAX);
  private readonly rstB = Buffer.alloc(RESET_FRAME_MAX);
  private readonly eps = new Map<number, Endpoint>();
  /**
   * The engine clock (latest packet or tick time), in a typed array: a number field that
   * ever held a fraction or a value beyond V8's small integers (any Date.now()) is stored
   * as a heap number, and writing it per packet would allocate one each time.
   */
  private readonly clock = new Float64Array(1);
  private frames = 0;
  private cur = { tcp: 0, udp: 0, icmp: 0, ip: 0 };
  /** Slot the last processed packet resolved to (fragment binding). */
  private lastSlot = NO_SLOT;

  constructor(opts: EngineOptions = {}) {
    this.emit = opts.emit ?? null;
    this.policy = opts.policy ?? null;
    this.inject = opts.inject ?? null;
    const cap = opts.maxSessions ?? 131072;
    this.t = new SessionTable(cap, opts.sessionIdStride ?? 1, opts.sessionIdOffset ?? 1);
    this.frags = new FragmentTracker(opts.fragments);
    this.frags.onDiscard = (epId, n) => this.discardHeld(n, true, this.eps.get(epId) ?? null);
    const fs = opts.failSafe ?? {};
    this.policyErrorAction = fs.policyError === 'open' ? POLICY_OPEN : POLICY_DENY;
    this.quota = fs.sessionsPerEndpoint ?? Math.max(1, cap >> 1);
    this.eventBudget = opts.eventsPerSecond ?? Infinity;
    // --- fast path hook (dp/fastpath/) ---
    this.fp = opts.fastPath ?? null;
    this.fp?.attach(this.t);
  }

  /** One frame, bytes 0..len of buf (see processAt). */
  process(buf: Uint8Array, len: number, nowMs: number, ep: Endpoint | null, ingress: boolean, wireLen = len): Verdict {
    return this.processAt(buf, 0, len, wireLen, nowMs, ep, ingress);
  }

  /**
   * One frame at buf[off .. off+capLen) whose wire length was wireLen (> capLen when the
   * capture cut it). The buffer is not retained. Never throws.
   */
  processAt(
    buf: Uint8Array,
    off: number,
    capLen: number,
    wireLen: number,
    nowMs: number,
    ep: Endpoint | null,
    ingress: boolean,
  ): Verdict {
    const c = this.counters;
    // A caller's length beyond its buffer must not make decoders read past it.
    if (!(capLen <= buf.length - off)) capLen = off < buf.length ? buf.length - off : 0;
    if (!(wireLen >= capLen)) wireLen = capLen;
    this.frames++;
    this.curBuf = buf;
    c.rx++;
    c.rxBytes += wireLen;
    if (nowMs < this.clock[0]!) {
      c.clockBackwards++;
      nowMs = this.clock[0]!;
    } else {
      this.clock[0] = nowMs;
    }
    let epId = NO_EP;
    let inline = false;
    if (ep !== null) {
      epId = ep.id;
      inline = !ep.tap;
      const ec = ep.counters;
      if (ingress) {
        ec.rxPackets++;
        ec.rxBytes += wireLen;
      } else {
        ec.txPackets++;
        ec.txBytes += wireLen;
      }
    }
    if (wireLen > STANDARD_FRAME) c.oversizeFrames++;
    if (wireLen > capLen) c.truncatedCaptures++;
    const p = this.p;
    this.lastSlot = NO_SLOT;
    let rc: number;
    try {
      rc = decodeFrame(p, buf, off, capLen, wireLen);
    } catch {
      // Decoders only index the buffer; this is a last line of defence, never expected.
      rc = R['decoder.ethernet.pkt_too_small'];
    }
    if (rc !== 0) return this.malformed(rc, nowMs, capLen, ep, epId, inline);
    if (p.ipVersion === 0) {
      if (p.etherType === ETH_ARP) c.arp++;
      else c.other++;
      return this.forward(inline);
    }
    if (p.ipVersion === 4) c.ipv4++;
    else c.ipv6++;
    if (p.isFragment) return this.fragment(p, nowMs, ep, epId, ingress, inline, wireLen, buf, off, capLen);
    return this.l4(p, nowMs, ep, epId, ingress, inline, wireLen);
  }

  /** Expires idle sessions and stale fragment entries up to nowMs. */
  tick(nowMs: number): void {
    if (nowMs > this.clock[0]!) this.clock[0] = nowMs;
    nowMs = this.clock[0]!;
    const t = this.t;
    // --- fast path hook: offloaded sessions' counts and last-seen times first ---
    if (this.fp !== null) this.fp.sync(nowMs);
    for (let s = 0; s < t.highWater; s++) {
      if (t.inUse[s] === 1 && nowMs - t.lastMs[s]! >= this.timeoutOf(s))
        this.end(s, this.reasonFor(s, 'timeout'), nowMs);
    }
    this.counters.timeoutFragments += this.frags.expire(nowMs);
  }

  /**
   * Held fragments are dropped after all: their first fragment was denied, or never came
   * in time (counted as malformed defrag.no_first_fragment too).
   */
  private discardHeld(n: number, noFirst: boolean, ep: Endpoint | null): void {
    const c = this.counters;
    c.fragmentsDiscarded += n;
    c.rxDrop += n;
    if (ep !== null) ep.counters.dropPackets += n;
    if (noFirst) {
      c.error += n;
      c.malformed['defrag.no_first_fragment'] += n;
    } else {
      c.policyDrops += n;
    }
  }

  sessionCount(): { cur: number; tcp: number; udp: number; icmp: number; ip: number } {
    return { cur: this.t.count, ...this.cur };
  }

  listSessions(max = Infinity): SessionRecord[] {
    return [...this.sessionRecords(max)];
  }

  /**
   * Session records one at a time, so a listing of the whole table never holds it all as
   * objects. Lazy: sessions that end or start while it runs may be missed or listed.
   */
  *sessionRecords(max = Infinity): Generator<SessionRecord> {
    const t = this.t;
    let n = 0;
    for (let s = 0; s < t.highWater && n < max; s++) {
      if (t.inUse[s] !== 1) continue;
      const rec: SessionRecord = {
        ...describeTuple(t, s),
        startMs: t.startMs[s]!,
        lastMs: t.lastMs[s]!,
        pktsToServer: t.pkts[s * 2]!,
        pktsToClient: t.pkts[s * 2 + 1]!,
        bytesToServer: t.bytes[s * 2]!,
        bytesToClient: t.bytes[s * 2 + 1]!,
        action: t.action[s]!,
        ruleId: t.ruleId[s]!,
      };
      const st = tcpStateName(t, s);
      if (st !== undefined) rec.tcpState = st;
      n++;
      yield rec;
    }
  }

  /** Ends sessions: all when filterId is 0/absent, else the session with that id. */
  clearSessions(filterId = 0): number {
    return this.endWhere((s) => filterId === 0 || this.t.id[s] === filterId, 'clear');
  }

  /** Ends every session of one endpoint (ctrl_del_mac). */
  purgeEndpoint(epId: number): number {
    const n = this.endWhere((s) => this.t.ep[s] === epId, 'purge');
    this.eps.delete(epId);
    return n;
  }

  /** Ends every session (offline end of input: reason eof, or fin/rst for finished TCP). */
  closeAll(reason: SessionEndReason = 'eof'): number {
    const t = this.t;
    this.frags.clear();
    let n = 0;
    for (let s = 0; s < t.highWater; s++) {
      if (t.inUse[s] === 1) {
        this.end(s, this.reasonFor(s, reason), this.clock[0]!);
        n++;
      }
    }
    return n;
  }

  /** Starts a new time base (offline: next capture file, after closeAll). */
  restartClock(): void {
    this.clock[0] = 0;
  }

  /** The engine's clock: the latest packet or tick time seen. */
  get nowMs(): number {
    return this.clock[0]!;
  }

  // ---- per-packet paths ----

  private l4(
    p: PacketView,
    now: number,
    ep: Endpoint | null,
    epId: number,
    ingress: boolean,
    inline: boolean,
    wire: number,
  ): Verdict {
    const c = this.counters;
    switch (p.ipProto) {
      case IPPROTO_TCP:
        c.tcp++;
        return this.tcp(p, now, ep, epId, ingress, inline, wire);
      case IPPROTO_UDP:
        c.udp++;
        return this.flow(p, now, ep, epId, ingress, inline, wire);
      case IPPROTO_ICMP:
      case IPPROTO_ICMPV6:
        c.icmp++;
        if (p.hasInner) return this.icmpError(p, now, ep, epId, ingress, inline, wire);
        return this.flow(p, now, ep, epId, ingress, inline, wire);
      default:
        c.other++;
        return this.flow(p, now, ep, epId, ingress, inline, wire);
    }
  }

  private tcp(
    p: PacketView,
    now: number,
    ep: Endpoint | null,
    epId: number,
    ingress: boolean,
    inline: boolean,
    wire: number,
  ): Verdict {
    const t = this.t;
    const f = p.tcpFlags;
    let s = t.find(p.addr, 0, p.sport, p.dport, IPPROTO_TCP, epId);
    if (s !== NO_SLOT) {
      if (isReuse(t.state[s]!, f)) {
        this.end(s, this.reasonFor(s, 'reuse'), now);
      } else {
        const fromClient = t.lastFromClient === 1;
        const adv = tcpAdvance(t.state[s]!, t.flags[s]!, f, fromClient, p.payloadLen);
        t.state[s] = adv & 0xff;
        t.flags[s] = adv >>> 8;
        return this.account(s, fromClient, wire, now, epId, ep, inline);
      }
    }
    if ((f & (TCP_RST | TCP_FIN)) !== 0) {
      // RST and FIN never create a session (NeuVector): nothing to attach them to. Inline,
      // they pass only where the policy would admit the flow (oriented as a mid-stream
      // pickup: the lower port is the server's), so a denied port sees nothing of them.
      const c = this.counters;
      c.tcpNoSession++;
      if (
        inline &&
        this.policy !== null &&
        this.askPacket(p, epId, ingress, p.sport < p.dport, p.sport, p.dport) === POLICY_DENY
      ) {
        c.tcpNoSessionDrops++;
        return this.policyDrop(ep);
      }
      return this.forward(inline);
    }
    let swap = false;
    let state: number = TcpState.Established;
    let flags = 0;
    const sa = f & (TCP_SYN | TCP_ACK);
    if (sa === TCP_SYN) state = TcpState.SynSent;
    else if (sa === (TCP_SYN | TCP_ACK)) {
      state = TcpState.SynReceived;
      swap = true;
    } else {
      // Mid-stream pickup: the lower port is the server's (ties: the destination).
      flags = SF_MIDSTREAM;
      swap = p.sport < p.dport;
    }
    if (p.payloadLen > 0) flags |= SF_DATA;
    s = this.create(p, now, ep, epId, ingress, swap, state, flags, inline);
    if (s < 0) return this.notCreated(s, inline, ep);
    return this.account(s, !swap, wire, now, epId, ep, inline);
  }

  /** UDP, ICMP informational/echo and other IP: the first packet's sender is the client. */
  private flow(
    p: PacketView,
    now: number,
    ep: Endpoint | null,
    epId: number,
    ingress: boolean,
    inline: boolean,
    wire: number,
  ): Verdict {
    const t = this.t;
    let s = t.find(p.addr, 0, p.sport, p.dport, p.ipProto, epId);
    let fromClient = true;
    if (s === NO_SLOT) {
      // An echo reply seen first (the request was missed) still makes the requester the client.
      const swap =
        (p.ipProto === IPPROTO_ICMP && p.icmpType === 0) || (p.ipProto === IPPROTO_ICMPV6 && p.icmpType === 129);
      fromClient = !swap;
      s = this.create(p, now, ep, epId, ingress, swap, 0, p.payloadLen > 0 ? SF_DATA : 0, inline);
      if (s < 0) return this.notCreated(s, inline, ep);
    } else {
      fromClient = t.lastFromClient === 1;
    }
    return this.account(s, fromClient, wire, now, epId, ep, inline);
  }

  /** ICMP errors belong to the flow they quote; they never create a session. */
  private icmpError(
    p: PacketView,
    now: number,
    ep: Endpoint | null,
    epId: number,
    ingress: boolean,
    inline: boolean,
    wire: number,
  ): Verdict {
    const c = this.counters;
    c.icmpErrors++;
    const s = this.t.find(p.innerAddr, 0, p.innerSport, p.innerDport, p.innerProto, epId);
    if (s === NO_SLOT) {
      c.icmpErrorNoSession++;
      // No flow to belong to: it passes only if the ICMP policy allows it on its own.
      if (inline && this.policy !== null && this.askPacket(p, epId, ingress, false, 0, 0) === POLICY_DENY) {
        c.icmpErrorNoSessionDrops++;
        return this.policyDrop(ep);
      }
      return this.forward(inline);
    }
    // The quoted packet went client → server, so the error travels back to the client.
    return this.account(s, this.t.lastFromClient === 0, wire, now, epId, ep, inline);
  }

  /**
   * One fragment. The first fragment is decided like any packet and its verdict recorded
   * for the datagram; later fragments follow it (through the session when there is one,
   * so a policy change reaches them too). Inline, fragments that come before their first
   * fragment are held and sent right after it is allowed (dropped when it is denied).
   */
  private fragment(
    p: PacketView,
    now: number,
    ep: Endpoint | null,
    epId: number,
    ingress: boolean,
    inline: boolean,
    wire: number,
    buf: Uint8Array,
    off: number,
    capLen: number,
  ): Verdict {
    const c = this.counters;
    const fr = this.frags;
    c.fragments++;
    const r = fr.track(
      p.addr,
      p.fragId,
      p.fragProto,
      epId,
      p.fragOffset,
      p.fragOffset + p.fragPayloadLen,
      !p.moreFragments,
      now,
    );
    if (r === FragResult.Full) return this.malformed(R['defrag.table_full'], now, capLen, ep, epId, inline);
    if (r === FragResult.EndpointFull) return this.malformed(R['defrag.endpoint_full'], now, capLen, ep, epId, inline);
    if (r === FragResult.TooMany) return this.malformed(R['defrag.too_many_fragments'], now, capLen, ep, epId, inline);
    if (r === FragResult.Overlap) return this.malformed(R['defrag.overlap'], now, capLen, ep, epId, inline);
    if (r === FragResult.Duplicate) c.duplicateFragments++;
    const e = fr.lastEntry;
    let v: Verdict;
    if (p.fragOffset === 0) {
      v = this.l4(p, now, ep, epId, ingress, inline, wire);
      const s = this.lastSlot;
      fr.judge(
        e,
        v === Verdict.Forward ? FragJudged.Forward : FragJudged.Drop,
        s,
        s === NO_SLOT ? 0 : this.t.serial[s]!,
        now,
      );
      if (v === Verdict.Forward && inline && this.inject !== null) {
        const n = fr.releaseHeld(e, this.inject);
        c.fragmentsReleased += n;
        c.tx += n;
      } else {
        const n = fr.releaseHeld(e, null);
        if (n > 0) this.discardHeld(n, false, ep);
      }
    } else {
      const judged = fr.judgedAs(e);
      if (judged === FragJudged.No) {
        if (!inline) return Verdict.Forward; // tapped: inspected, nothing to hold back
        // Without a way to send frames later there is nothing to hold them for.
        if (this.inject === null) return this.malformed(R['defrag.no_first_fragment'], now, capLen, ep, epId, inline);
        if (!fr.hold(e, epId, buf, off, capLen))
          return this.malformed(R['defrag.hold_full'], now, capLen, ep, epId, inline);
        c.fragmentsHeld++;
        // Discards are counted against the endpoint, found by id when its entry expires.
        if (ep !== null && this.eps.get(epId) !== ep) this.eps.set(epId, ep);
        return Verdict.Held;
      }
      const s = fr.boundSlot(e);
      const t = this.t;
      if (s !== NO_SLOT && t.inUse[s] === 1 && t.serial[s] === fr.boundSerial(e)) {
        const k = s << 3;
        const a = p.addr;
        const fromClient =
          t.addr[k] === a[0] && t.addr[k + 1] === a[1] && t.addr[k + 2] === a[2] && t.addr[k + 3] === a[3];
        v = this.account(s, fromClient, wire, now, epId, ep, inline);
      } else {
        v = judged === FragJudged.Forward ? this.forward(inline) : this.policyDrop(ep);
      }
    }
    if (fr.isComplete(e)) {
      c.assemblies++;
      fr.free(e);
    }
    return v;
  }

  // ---- helpers ----

  private create(
    p: PacketView,
    now: number,
    ep: Endpoint | null,
    epId: number,
    ingress: boolean,
    swap: boolean,
    state: number,
    flags: number,
    inline: boolean,
  ): number {
    const t = this.t;
    // Per-endpoint quota: one workload's flood makes room among its own half-open sessions.
    if (ep !== null && ep.counters.curSessions >= this.quota && !this.evictHalfOpen(epId, now)) {
      this.counters.sessionQuotaFull++;
      return OVER_QUOTA;
    }
    let s = t.insert(p.addr, 0, p.sport, p.dport, p.ipProto, epId, swap, now);
    if (s === NO_SLOT && this.evictHalfOpen(-1, now))
      s = t.insert(p.addr, 0, p.sport, p.dport, p.ipProto, epId, swap, now);
    if (s === NO_SLOT) return NO_SLOT;
    const sessIngress = swap ? !ingress : ingress;
    t.state[s] = state;
    t.flags[s] = flags | (sessIngress ? SF_INGRESS : 0);
    if (this.policy !== null) {
      this.decide(s, epId);
      // A denied first packet creates no session (NeuVector): every retry is decided again.
      if (inline && t.action[s] === POLICY_DENY) {
        if (this.emit !== null && this.perPacketEvent(now))
          this.fire({ ...startEvent(t, s, now, false), type: 'policy.deny' } as EngineEvent);
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
      if (this.eps.get(epId) !== ep) this.eps.set(epId, ep);
    }
    if (this.emit !== null) {
      this.fire(startEvent(t, s, now, (flags & SF_MIDSTREAM) !== 0));
    }
    return s;
  }

  private account(
    s: number,
    fromClient: boolean,
    wire: number,
    now: number,
    epId: number,
    ep: Endpoint | null,
    inline: boolean,
  ): Verdict {
    const t = this.t;
    this.lastSlot = s;
    t.lastMs[s] = now;
    const i = (s << 1) + (fromClient ? 0 : 1);
    t.pkts[i]! += 1;
    t.bytes[i]! += wire;
    const pol = this.policy;
    let before = t.action[s]!;
    if (pol !== null && pol.version(epId) !== t.policyVersion[s]) {
      this.decide(s, epId);
      // Decided again and changed: reported at once (a violation when it now violates),
      // whether the endpoint is inline or tapped.
      if (t.action[s] !== before && !(inline && t.action[s] === POLICY_DENY) && this.emit !== null) {
        this.fire({
          ...startEvent(t, s, now, false),
          type: 'session.policy',
          prevAction: before,
          reset: false,
          dropped: false,
        } as EngineEvent);
      }
    } else {
      before = t.action[s]!;
    }
    if (inline && t.action[s] === POLICY_DENY) {
      // Denied while tapped and now inline, or denied by a new policy: cut once, then drop.
      if ((t.flags[s]! & SF_CUT) === 0) this.cut(s, before, now);
      return this.policyDrop(ep);
    }
    // --- fast path hook: may queue this session for the kernel, or take it back ---
    if (this.fp !== null) this.fp.afterAccount(s, ep);
    return this.forward(inline);
  }

  private policyDrop(ep: Endpoint | null): Verdict {
    this.counters.policyDrops++;
    return this.drop(ep);
  }

  /**
   * An inline session is DENY (a new policy denies it, or it was denied while its endpoint
   * was tapped and the endpoint is now inline): TCP gets resets both ways, built from the
   * current packet, so neither end waits on a dead connection; the cut is reported as a
   * dropped violation. Later packets of the session drop quietly (counted).
   */
  private cut(s: number, before: number, now: number): void {
    const t = this.t;
    t.flags[s] = t.flags[s]! | SF_CUT;
    let reset = false;
    if (t.proto[s] === IPPROTO_TCP && this.inject !== null && this.curBuf !== null) {
      const p = this.p;
      if (p.ipProto === IPPROTO_TCP && !p.isFragment) {
        const a = buildReset(this.curBuf, p, false, this.rstA);
        const b = buildReset(this.curBuf, p, true, this.rstB);
        try {
          if (a > 0) this.inject(this.rstA, a);
          if (b > 0) this.inject(this.rstB, b);
          reset = a > 0 && b > 0;
          if (reset) this.counters.resetsInjected += 2;
        } catch {
          this.counters.emitErrors++;
        }
      }
    }
    if (this.emit !== null) {
      this.fire({
        ...startEvent(t, s, now, false),
        type: 'session.policy',
        prevAction: before,
        reset,
        dropped: true,
      } as EngineEvent);
    }
  }

  private decide(s: number, epId: number): void {
    const pol = this.policy!;
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

  /** Asks the policy with this.q into this.d; a throwing policy gets the fail-safe decision. */
  private ask(epId: number): void {
    const d = this.d;
    d.action = 0;
    d.ruleId = 0;
    try {
      this.policy!.decide(epId, this.q, d);
    } catch {
      this.counters.policyErrors++;
      d.action = this.policyErrorAction;
      d.ruleId = 0;
    }
  }

  /**
   * The policy's action for the current packet without a session (client = the packet's
   * destination when `swap`); ports as given.
   */
  private askPacket(
    p: PacketView,
    epId: number,
    ingress: boolean,
    swap: boolean,
    sport: number,
    dport: number,
  ): number {
    const q = this.q;
    const a = p.addr;
    const c = swap ? 4 : 0;
    const v = swap ? 0 : 4;
    for (let i = 0; i < 4; i++) {
      q.sip[i] = a[c + i]!;
      q.dip[i] = a[v + i]!;
    }
    q.ingress = swap ? !ingress : ingress;
    q.proto = p.ipProto;
    q.sport = swap ? dport : sport;
    q.dport = swap ? sport : dport;
    this.ask(epId);
    return this.d.action;
  }

  /**
   * Ends one half-open TCP session (of endpoint epId, or of any when epId < 0) to make room:
   * a clock-hand sweep over the table, at most EVICT_SCAN slots, resumed where it stopped.
   */
  private evictHalfOpen(epId: number, now: number): boolean {
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

  /** True while this second's budget of per-packet events lasts (counted when it does not). */
  private perPacketEvent(now: number): boolean {
    // A window of one second from its first event; no division, so no intermediate
    // fractional number (a heap number in code V8 has not optimized yet) per packet.
    if (now >= this.budgetEndMs) {
      this.budgetEndMs = now + 1000;
      this.budgetLeft = this.eventBudget;
    }
    if (this.budgetLeft > 0) {
      this.budgetLeft--;
      return true;
    }
    this.counters.eventsSuppressed++;
    return false;
  }

  /** A throwing listener must not break the data path. */
  private fire(ev: EngineEvent): void {
    try {
      this.emit!(ev);
    } catch {
      this.counters.emitErrors++;
    }
  }

  private forward(inline: boolean): Verdict {
    if (inline) this.counters.tx++;
    return Verdict.Forward;
  }

  private drop(ep: Endpoint | null): Verdict {
    this.counters.rxDrop++;
    if (ep !== null) ep.counters.dropPackets++;
    return Verdict.Drop;
  }

  /** create() made no session: denied first packet, or no room (table full / endpoint quota). */
  private notCreated(code: number, inline: boolean, ep: Endpoint | null): Verdict {
    if (code === DENIED) return this.policyDrop(ep);
    if (code === NO_SLOT) this.counters.sessionTableFull++;
    // Explicit failure policy: inline fails closed, tap keeps inspecting without a session.
    return inline ? this.drop(ep) : Verdict.Forward;
  }

  private malformed(rc: number, now: number, len: number, ep: Endpoint | null, epId: number, inline: boolean): Verdict {
    const c = this.counters;
    c.error++;
    const name = REASONS[rc] ?? 'decoder.ethernet.pkt_too_small';
    if (name !== 'ok') c.malformed[name]++;
    if (this.emit !== null && this.perPacketEvent(now))
      this.fire({ type: 'malformed', ts: now, reason: name, frame: this.frames, len, ep: epId, dropped: inline });
    return inline ? this.drop(ep) : Verdict.Forward;
  }

  private timeoutOf(s: number): number {
    const t = this.t;
    const proto = t.proto[s]!;
    if (proto === IPPROTO_TCP) return tcpTimeout(t.state[s]!, t.flags[s]!);
    if (proto === IPPROTO_UDP) return TIMEOUT_MS.udp;
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) return TIMEOUT_MS.icmp;
    return TIMEOUT_MS.ip;
  }

  private reasonFor(s: number, fallback: SessionEndReason): SessionEndReason {
    const t = this.t;
    if (t.proto[s] === IPPROTO_TCP) {
      if (t.state[s] === TcpState.Closed) return 'fin';
      if (t.state[s] === TcpState.Reset) return 'rst';
    }
    return fallback;
  }

  private endWhere(pred: (s: number) => boolean, reason: SessionEndReason): number {
    const t = this.t;
    let n = 0;
    for (let s = 0; s < t.highWater; s++) {
      if (t.inUse[s] === 1 && pred(s)) {
        this.end(s, reason, this.clock[0]!);
        n++;
      }
    }
    return n;
  }

  private end(s: number, reason: SessionEndReason, now: number): void {
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
    if (this.emit !== null) this.fire(endEvent(t, s, now, reason));
    t.remove(s);
  }
}

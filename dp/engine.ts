/**
 * The packet engine, identical for live and offline input, as a short sequencer over
 * stages (Suricata's FlowWorker() is the model): intake → decode → fragment tracking
 * (dp/session/fragment-stage.ts) → session lookup or creation (dp/session/flow-stage.ts)
 * → policy and re-decision (dp/policy/enforce.ts) → verdict (dp/verdict/). Every stage
 * works on the one preallocated PacketContext; nothing is allocated per packet unless an
 * event is emitted (per session or per bad frame). process() never throws.
 */
import { decodeFrame } from './decode/decode.js';
import { ETH_ARP } from './decode/packet.js';
import { R } from './decode/reasons.js';
import type { Endpoint } from './endpoints/endpoint.js';
import type { EngineOptions } from './engine-options.js';
import type { SessionEndReason, SessionRecord, Verdict } from './engine-types.js';
import { EngineEmitter } from './events/engine-emitter.js';
import type { FastPathHook } from './fastpath/hook.js';
import { NO_EP, PacketContext } from './packet-context.js';
import { PolicyDecider } from './policy/decider.js';
import { Enforcer } from './policy/enforce.js';
import { FlowStage } from './session/flow-stage.js';
import { FragmentStage } from './session/fragment-stage.js';
import { FragmentTracker } from './session/fragments.js';
import { SessionLifecycle } from './session/lifecycle.js';
import { sessionRecords } from './session/records.js';
import { NO_SLOT, SessionTable } from './session/table.js';
import { type DeviceCounters, newDeviceCounters } from './stats/counters.js';
import { SessionCutter } from './verdict/cut.js';
import { Verdicts } from './verdict/verdicts.js';

export type { EngineOptions } from './engine-options.js';
export type { EngineEvent, PolicyDecision, PolicyHook, PolicyQuery, SessionRecord } from './engine-types.js';
export { Verdict } from './engine-types.js';

/** Largest standard frame: 1500 MTU + Ethernet header + two VLAN tags. */
const STANDARD_FRAME = 1500 + 14 + 8;

export class Engine {
  readonly counters: DeviceCounters = newDeviceCounters();
  private readonly ctx = new PacketContext();
  private readonly t: SessionTable;
  private readonly frags: FragmentTracker;
  private readonly sessions: SessionLifecycle;
  private readonly verdicts: Verdicts;
  private readonly flows: FlowStage;
  private readonly fragments: FragmentStage;
  private readonly fp: FastPathHook | null;
  /**
   * The engine clock (latest packet or tick time), in a typed array: a number field holding
   * a Date.now() is a heap number, and writing it per packet would allocate one each time.
   */
  private readonly clock = new Float64Array(1);

  constructor(opts: EngineOptions = {}) {
    const c = this.counters;
    const cap = opts.maxSessions ?? 131072;
    const t = new SessionTable(cap, opts.sessionIdStride ?? 1, opts.sessionIdOffset ?? 1);
    const inject = opts.inject ?? null;
    const fs = opts.failSafe ?? {};
    this.t = t;
    this.fp = opts.fastPath ?? null;
    const events = new EngineEmitter(opts.emit ?? null, c, opts.eventsPerSecond ?? Infinity);
    const decider = new PolicyDecider(opts.policy ?? null, t, c, fs.policyError);
    const quota = fs.sessionsPerEndpoint ?? Math.max(1, cap >> 1);
    this.sessions = new SessionLifecycle(t, c, events, decider, this.fp, quota);
    this.verdicts = new Verdicts(c, events);
    const cutter = new SessionCutter(t, c, events, inject);
    const enforcer = new Enforcer(t, decider, events, cutter, this.verdicts, this.fp);
    this.flows = new FlowStage(t, c, this.sessions, decider, enforcer, this.verdicts);
    this.frags = new FragmentTracker(opts.fragments);
    this.frags.onDiscard = (epId, n) => this.verdicts.discardHeld(n, true, this.sessions.eps.get(epId) ?? null);
    this.fragments = new FragmentStage(this.frags, t, c, this.sessions, this.flows, enforcer, this.verdicts, inject);
    // --- fast path hook (dp/fastpath/) ---
    this.fp?.attach(t);
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
    const ctx = this.ctx;
    // A caller's length beyond its buffer must not make decoders read past it.
    if (!(capLen <= buf.length - off)) capLen = off < buf.length ? buf.length - off : 0;
    if (!(wireLen >= capLen)) wireLen = capLen;
    ctx.frames++;
    ctx.buf = buf;
    ctx.off = off;
    ctx.capLen = capLen;
    ctx.wire = wireLen;
    ctx.ep = ep;
    ctx.ingress = ingress;
    ctx.slot = NO_SLOT;
    c.rx++;
    c.rxBytes += wireLen;
    if (nowMs < this.clock[0]!) {
      c.clockBackwards++;
      nowMs = this.clock[0]!;
    } else {
      this.clock[0] = nowMs;
    }
    ctx.epId = ep === null ? NO_EP : ep.id;
    ctx.inline = ep !== null && !ep.tap;
    if (ep !== null) {
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
    const p = ctx.p;
    let rc: number;
    try {
      rc = decodeFrame(p, buf, off, capLen, wireLen);
    } catch {
      // Decoders only index the buffer; this is a last line of defence, never expected.
      rc = R['decoder.ethernet.pkt_too_small'];
    }
    if (rc !== 0) return this.verdicts.malformed(rc, ctx, nowMs);
    if (p.ipVersion === 0) {
      if (p.etherType === ETH_ARP) c.arp++;
      else c.other++;
      return this.verdicts.forward(ctx.inline);
    }
    if (p.ipVersion === 4) c.ipv4++;
    else c.ipv6++;
    if (p.isFragment) return this.fragments.process(ctx, nowMs);
    return this.flows.l4(ctx, nowMs);
  }

  /** Expires idle sessions and stale fragment entries up to nowMs. */
  tick(nowMs: number): void {
    if (nowMs > this.clock[0]!) this.clock[0] = nowMs;
    nowMs = this.clock[0]!;
    // --- fast path hook: offloaded sessions' counts and last-seen times first ---
    if (this.fp !== null) this.fp.sync(nowMs);
    this.sessions.expire(nowMs);
    this.counters.timeoutFragments += this.frags.expire(nowMs);
  }

  sessionCount(): { cur: number; tcp: number; udp: number; icmp: number; ip: number } {
    return { cur: this.t.count, ...this.sessions.cur };
  }

  listSessions(max = Infinity): SessionRecord[] {
    return [...this.sessionRecords(max)];
  }

  /** Session records one at a time, lazily (dp/session/records.ts). */
  sessionRecords(max = Infinity): Generator<SessionRecord> {
    return sessionRecords(this.t, max);
  }

  /** Ends sessions: all when filterId is 0/absent, else the session with that id. */
  clearSessions(filterId = 0): number {
    return this.sessions.endWhere((s) => filterId === 0 || this.t.id[s] === filterId, 'clear', this.clock[0]!);
  }

  /** Ends every session of one endpoint (ctrl_del_mac). */
  purgeEndpoint(epId: number): number {
    const n = this.sessions.endWhere((s) => this.t.ep[s] === epId, 'purge', this.clock[0]!);
    this.sessions.eps.delete(epId);
    return n;
  }

  /**
   * Ends every session (offline end of input: reason eof, or fin/rst for finished TCP), or
   * at most `max` of them per call, so a caller can write their events out in between.
   */
  closeAll(reason: SessionEndReason = 'eof', max = Infinity): number {
    this.frags.clear();
    return this.sessions.endAll(reason, this.clock[0]!, max);
  }

  /** Starts a new time base (offline: next capture file, after closeAll). */
  restartClock(): void {
    this.clock[0] = 0;
  }

  /** The engine's clock: the latest packet or tick time seen. */
  get nowMs(): number {
    return this.clock[0]!;
  }
}

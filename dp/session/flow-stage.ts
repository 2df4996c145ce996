import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from '../decode/packet.js';
import { POLICY_DENY, Verdict } from '../engine-types.js';
import type { PacketContext } from '../packet-context.js';
import type { PolicyDecider } from '../policy/decider.js';
import type { Enforcer } from '../policy/enforce.js';
import type { DeviceCounters } from '../stats/counters.js';
import type { Verdicts } from '../verdict/verdicts.js';
import { DENIED, type SessionLifecycle } from './lifecycle.js';
import { NO_SLOT, type SessionTable } from './table.js';
import { isReuse, SF_DATA, SF_MIDSTREAM, TcpState, tcpAdvance } from './tcp-state.js';

/**
 * The session step for a decoded, unfragmented (or first-fragment) packet: by protocol,
 * find the packet's session or start one (TCP with its state machine and mid-stream
 * pickup), then hand it to the enforcer; packets that may not start a session (TCP FIN/RST,
 * ICMP errors) are decided on their own.
 */
export class FlowStage {
  constructor(
    private readonly t: SessionTable,
    private readonly counters: DeviceCounters,
    private readonly sessions: SessionLifecycle,
    private readonly decider: PolicyDecider,
    private readonly enforcer: Enforcer,
    private readonly verdicts: Verdicts,
  ) {}

  l4(ctx: PacketContext, now: number): Verdict {
    const c = this.counters;
    switch (ctx.p.ipProto) {
      case IPPROTO_TCP:
        c.tcp++;
        return this.tcp(ctx, now);
      case IPPROTO_UDP:
        c.udp++;
        return this.flow(ctx, now);
      case IPPROTO_ICMP:
      case IPPROTO_ICMPV6:
        c.icmp++;
        if (ctx.p.hasInner) return this.icmpError(ctx, now);
        return this.flow(ctx, now);
      default:
        c.other++;
        return this.flow(ctx, now);
    }
  }

  private tcp(ctx: PacketContext, now: number): Verdict {
    const t = this.t;
    const p = ctx.p;
    const f = p.tcpFlags;
    let s = t.find(p.addr, 0, p.sport, p.dport, IPPROTO_TCP, ctx.epId);
    if (s !== NO_SLOT) {
      if (isReuse(t.state[s]!, f)) {
        this.sessions.end(s, this.sessions.reasonFor(s, 'reuse'), now);
      } else {
        const fromClient = t.lastFromClient === 1;
        const adv = tcpAdvance(t.state[s]!, t.flags[s]!, f, fromClient, p.payloadLen);
        t.state[s] = adv & 0xff;
        t.flags[s] = adv >>> 8;
        return this.enforcer.account(s, fromClient, ctx, now);
      }
    }
    if ((f & (TCP_RST | TCP_FIN)) !== 0) {
      // RST and FIN never create a session (NeuVector): nothing to attach them to. Inline,
      // they pass only where the policy would admit the flow (oriented as a mid-stream
      // pickup: the lower port is the server's), so a denied port sees nothing of them.
      const c = this.counters;
      c.tcpNoSession++;
      if (
        ctx.inline &&
        this.decider.hook !== null &&
        this.decider.askPacket(ctx, p.sport < p.dport, p.sport, p.dport) === POLICY_DENY
      ) {
        c.tcpNoSessionDrops++;
        return this.verdicts.policyDrop(ctx.ep);
      }
      return this.verdicts.forward(ctx.inline);
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
    s = this.sessions.create(ctx, now, swap, state, flags);
    if (s < 0) return this.notCreated(s, ctx);
    return this.enforcer.account(s, !swap, ctx, now);
  }

  /** UDP, ICMP informational/echo and other IP: the first packet's sender is the client. */
  private flow(ctx: PacketContext, now: number): Verdict {
    const t = this.t;
    const p = ctx.p;
    let s = t.find(p.addr, 0, p.sport, p.dport, p.ipProto, ctx.epId);
    let fromClient = true;
    if (s === NO_SLOT) {
      // An echo reply seen first (the request was missed) still makes the requester the client.
      const swap =
        (p.ipProto === IPPROTO_ICMP && p.icmpType === 0) || (p.ipProto === IPPROTO_ICMPV6 && p.icmpType === 129);
      fromClient = !swap;
      s = this.sessions.create(ctx, now, swap, 0, p.payloadLen > 0 ? SF_DATA : 0);
      if (s < 0) return this.notCreated(s, ctx);
    } else {
      fromClient = t.lastFromClient === 1;
    }
    return this.enforcer.account(s, fromClient, ctx, now);
  }

  /** ICMP errors belong to the flow they quote; they never create a session. */
  private icmpError(ctx: PacketContext, now: number): Verdict {
    const c = this.counters;
    const p = ctx.p;
    c.icmpErrors++;
    const s = this.t.find(p.innerAddr, 0, p.innerSport, p.innerDport, p.innerProto, ctx.epId);
    if (s === NO_SLOT) {
      c.icmpErrorNoSession++;
      // No flow to belong to: it passes only if the ICMP policy allows it on its own.
      if (ctx.inline && this.decider.hook !== null && this.decider.askPacket(ctx, false, 0, 0) === POLICY_DENY) {
        c.icmpErrorNoSessionDrops++;
        return this.verdicts.policyDrop(ctx.ep);
      }
      return this.verdicts.forward(ctx.inline);
    }
    // The quoted packet went client → server, so the error travels back to the client.
    return this.enforcer.account(s, this.t.lastFromClient === 0, ctx, now);
  }

  /** create() made no session: denied first packet, or no room (table full / endpoint quota). */
  private notCreated(code: number, ctx: PacketContext): Verdict {
    if (code === DENIED) return this.verdicts.policyDrop(ctx.ep);
    if (code === NO_SLOT) this.counters.sessionTableFull++;
    // Explicit failure policy: inline fails closed, tap keeps inspecting without a session.
    return ctx.inline ? this.verdicts.drop(ctx.ep) : Verdict.Forward;
  }
}

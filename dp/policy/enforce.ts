import { type EngineEvent, POLICY_DENY, type Verdict } from '../engine-types.js';
import type { EngineEmitter } from '../events/engine-emitter.js';
import type { FastPathHook } from '../fastpath/hook.js';
import type { PacketContext } from '../packet-context.js';
import { startEvent } from '../session/describe.js';
import type { SessionTable } from '../session/table.js';
import { SF_CUT } from '../session/tcp-state.js';
import type { SessionCutter } from '../verdict/cut.js';
import type { Verdicts } from '../verdict/verdicts.js';
import type { PolicyDecider } from './decider.js';

/**
 * A packet that belongs to session s: counted to the session, the session decided again
 * when its endpoint's policy inputs moved since (docs/ARCHITECTURE.md "Decided again"),
 * and the session's decision applied: an inline DENY session is cut once and then drops;
 * anything else forwards, and the fast path may take the session over.
 */
export class Enforcer {
  constructor(
    private readonly t: SessionTable,
    private readonly decider: PolicyDecider,
    private readonly events: EngineEmitter,
    private readonly cutter: SessionCutter,
    private readonly verdicts: Verdicts,
    private readonly fp: FastPathHook | null,
  ) {}

  account(s: number, fromClient: boolean, ctx: PacketContext, now: number): Verdict {
    const t = this.t;
    const inline = ctx.inline;
    ctx.slot = s;
    t.lastMs[s] = now;
    const i = (s << 1) + (fromClient ? 0 : 1);
    t.pkts[i]! += 1;
    t.bytes[i]! += ctx.wire;
    let before = t.action[s]!;
    if (this.decider.stale(s, ctx.epId)) {
      this.decider.decide(s, ctx.epId);
      // Decided again and changed: reported at once (a violation when it now violates),
      // whether the endpoint is inline or tapped.
      if (t.action[s] !== before && !(inline && t.action[s] === POLICY_DENY) && this.events.on) {
        this.events.fire({
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
      if ((t.flags[s]! & SF_CUT) === 0) this.cutter.cut(s, before, ctx, now);
      return this.verdicts.policyDrop(ctx.ep);
    }
    // --- fast path hook: may queue this session for the kernel, or take it back ---
    if (this.fp !== null) this.fp.afterAccount(s, ctx.ep);
    return this.verdicts.forward(inline);
  }
}

import { R } from '../decode/reasons.js';
import { Verdict } from '../engine-types.js';
import type { PacketContext } from '../packet-context.js';
import type { Enforcer } from '../policy/enforce.js';
import type { DeviceCounters } from '../stats/counters.js';
import type { Verdicts } from '../verdict/verdicts.js';
import type { FlowStage } from './flow-stage.js';
import { FragJudged, type FragmentTracker, FragResult } from './fragments.js';
import type { SessionLifecycle } from './lifecycle.js';
import { NO_SLOT, type SessionTable } from './table.js';

/**
 * One fragment. The first fragment is decided like any packet and its verdict recorded
 * for the datagram; later fragments follow it (through the session when there is one,
 * so a policy change reaches them too). Inline, fragments that come before their first
 * fragment are held and sent right after it is allowed (dropped when it is denied).
 */
export class FragmentStage {
  constructor(
    private readonly frags: FragmentTracker,
    private readonly t: SessionTable,
    private readonly counters: DeviceCounters,
    private readonly sessions: SessionLifecycle,
    private readonly flows: FlowStage,
    private readonly enforcer: Enforcer,
    private readonly verdicts: Verdicts,
    private readonly inject: ((frame: Buffer, len: number) => void) | null,
  ) {}

  process(ctx: PacketContext, now: number): Verdict {
    const c = this.counters;
    const fr = this.frags;
    const p = ctx.p;
    const inline = ctx.inline;
    c.fragments++;
    const r = fr.track(
      p.addr,
      p.fragId,
      p.fragProto,
      ctx.epId,
      p.fragOffset,
      p.fragOffset + p.fragPayloadLen,
      !p.moreFragments,
      now,
    );
    if (r === FragResult.Full) return this.verdicts.malformed(R['defrag.table_full'], ctx, now);
    if (r === FragResult.EndpointFull) return this.verdicts.malformed(R['defrag.endpoint_full'], ctx, now);
    if (r === FragResult.TooMany) return this.verdicts.malformed(R['defrag.too_many_fragments'], ctx, now);
    if (r === FragResult.Overlap) return this.verdicts.malformed(R['defrag.overlap'], ctx, now);
    if (r === FragResult.Duplicate) c.duplicateFragments++;
    const e = fr.lastEntry;
    let v: Verdict;
    if (p.fragOffset === 0) {
      v = this.flows.l4(ctx, now);
      const s = ctx.slot;
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
        if (n > 0) this.verdicts.discardHeld(n, false, ctx.ep);
      }
    } else {
      const judged = fr.judgedAs(e);
      if (judged === FragJudged.No) {
        if (!inline) return Verdict.Forward; // tapped: inspected, nothing to hold back
        // Without a way to send frames later there is nothing to hold them for.
        if (this.inject === null) return this.verdicts.malformed(R['defrag.no_first_fragment'], ctx, now);
        if (!fr.hold(e, ctx.epId, ctx.buf!, ctx.off, ctx.capLen))
          return this.verdicts.malformed(R['defrag.hold_full'], ctx, now);
        c.fragmentsHeld++;
        // Discards are counted against the endpoint, found by id when its entry expires.
        if (ctx.ep !== null) this.sessions.remember(ctx.ep);
        return Verdict.Held;
      }
      const s = fr.boundSlot(e);
      const t = this.t;
      if (s !== NO_SLOT && t.inUse[s] === 1 && t.serial[s] === fr.boundSerial(e)) {
        const k = s << 3;
        const a = p.addr;
        const fromClient =
          t.addr[k] === a[0] && t.addr[k + 1] === a[1] && t.addr[k + 2] === a[2] && t.addr[k + 3] === a[3];
        v = this.enforcer.account(s, fromClient, ctx, now);
      } else {
        v = judged === FragJudged.Forward ? this.verdicts.forward(inline) : this.verdicts.policyDrop(ctx.ep);
      }
    }
    if (fr.isComplete(e)) {
      c.assemblies++;
      fr.free(e);
    }
    return v;
  }
}

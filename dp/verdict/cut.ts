import { IPPROTO_TCP } from '../decode/packet.js';
import type { EngineEvent } from '../engine-types.js';
import type { EngineEmitter } from '../events/engine-emitter.js';
import type { PacketContext } from '../packet-context.js';
import { startEvent } from '../session/describe.js';
import { SF_CUT } from '../session/tcp-state.js';
import type { SessionTable } from '../session/table.js';
import type { DeviceCounters } from '../stats/counters.js';
import { buildReset, RESET_FRAME_MAX } from './tcp-reset.js';

/**
 * An inline session is DENY (a new policy denies it, or it was denied while its endpoint
 * was tapped and the endpoint is now inline): TCP gets resets both ways, built from the
 * current packet, so neither end waits on a dead connection; the cut is reported as a
 * dropped violation. Later packets of the session drop quietly (counted).
 */
export class SessionCutter {
  private readonly rstA = Buffer.alloc(RESET_FRAME_MAX);
  private readonly rstB = Buffer.alloc(RESET_FRAME_MAX);

  constructor(
    private readonly t: SessionTable,
    private readonly counters: DeviceCounters,
    private readonly events: EngineEmitter,
    private readonly inject: ((frame: Buffer, len: number) => void) | null,
  ) {}

  cut(s: number, before: number, ctx: PacketContext, now: number): void {
    const t = this.t;
    t.flags[s] = t.flags[s]! | SF_CUT;
    let reset = false;
    if (t.proto[s] === IPPROTO_TCP && this.inject !== null && ctx.buf !== null) {
      const p = ctx.p;
      if (p.ipProto === IPPROTO_TCP && !p.isFragment) {
        const a = buildReset(ctx.buf, p, false, this.rstA);
        const b = buildReset(ctx.buf, p, true, this.rstB);
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
    if (this.events.on) {
      this.events.fire({
        ...startEvent(t, s, now, false),
        type: 'session.policy',
        prevAction: before,
        reset,
        dropped: true,
      } as EngineEvent);
    }
  }
}

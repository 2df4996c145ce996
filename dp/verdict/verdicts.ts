import { REASONS } from '../decode/reasons.js';
import type { Endpoint } from '../endpoints/endpoint.js';
import { Verdict } from '../engine-types.js';
import type { EngineEmitter } from '../events/engine-emitter.js';
import type { PacketContext } from '../packet-context.js';
import type { DeviceCounters } from '../stats/counters.js';

/**
 * The verdicts every stage ends in, each with the counters it moves: forward, drop (and
 * why), and the malformed-frame report. Inline endpoints drop for real; a tapped endpoint's
 * frames are only inspected, so their "drops" are reports.
 */
export class Verdicts {
  constructor(
    private readonly counters: DeviceCounters,
    private readonly events: EngineEmitter,
  ) {}

  forward(inline: boolean): Verdict {
    if (inline) this.counters.tx++;
    return Verdict.Forward;
  }

  drop(ep: Endpoint | null): Verdict {
    this.counters.rxDrop++;
    if (ep !== null) ep.counters.dropPackets++;
    return Verdict.Drop;
  }

  policyDrop(ep: Endpoint | null): Verdict {
    this.counters.policyDrops++;
    return this.drop(ep);
  }

  /** A frame the decoders or the fragment tracker refused, by reason code (dp/decode/reasons.ts). */
  malformed(rc: number, ctx: PacketContext, now: number): Verdict {
    const c = this.counters;
    c.error++;
    const name = REASONS[rc] ?? 'decoder.ethernet.pkt_too_small';
    if (name !== 'ok') c.malformed[name]++;
    const ev = this.events;
    if (ev.on && ev.perPacket(now)) {
      ev.fire({
        type: 'malformed',
        ts: now,
        reason: name,
        frame: ctx.frames,
        len: ctx.capLen,
        ep: ctx.epId,
        dropped: ctx.inline,
      });
    }
    return ctx.inline ? this.drop(ctx.ep) : Verdict.Forward;
  }

  /**
   * Held fragments are dropped after all: their first fragment was denied, or never came
   * in time (counted as malformed defrag.no_first_fragment too).
   */
  discardHeld(n: number, noFirst: boolean, ep: Endpoint | null): void {
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
}

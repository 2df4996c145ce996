import { isNeuvMac, macToNumber } from '../shared/mac.js';
import { namesOf, PIPELINE_COUNTERS, zeroed, type PipelineCounterName } from '../shared/names/counters.js';
import type { Endpoint } from './endpoints/endpoint.js';
import type { EndpointRegistry } from './endpoints/registry.js';
import type { Engine } from './engine.js';
import { Verdict } from './engine-types.js';

/** Where a forwarded frame goes: the same service port it came from, unchanged. */
export interface FrameSink {
  /** Returns false when the kernel refused the frame (counted as txError). */
  send(buf: Buffer, len: number): boolean;
}

/**
 * A batch of received frames lying in place in one buffer (the ring backend's RX ring):
 * frame i is ring[desc[3i] .. desc[3i]+desc[3i+1]) with wire length desc[3i+2]. The
 * pipeline writes verdicts[i] = 1 for each frame to forward; the port sends them after
 * the batch. `cursor` is the frame in process, so an injected frame (sink.send) goes
 * out after the forwarded frames before it.
 */
export interface FrameBatch extends FrameSink {
  readonly ring: Uint8Array;
  readonly desc: Int32Array;
  readonly verdicts: Uint8Array;
  readonly maxFrame: number;
  cursor: number;
}

/**
 * The frame in process, for engine events that sample it (violation reports). It may
 * lie at an offset in a ring; the slice is made only when an event asks for it.
 */
export class CurrentFrame {
  src: Uint8Array | null = null;
  off = 0;
  len = 0;
  get buf(): Uint8Array | null {
    const s = this.src;
    return s === null || this.off === 0 ? s : s.subarray(this.off, this.off + this.len);
  }
}

/** Device counters of the live path; names, merge rule and meaning: shared/names/counters.ts. */
export type PipelineCounters = Record<PipelineCounterName, number>;

export function newPipelineCounters(): PipelineCounters {
  return zeroed(namesOf(PIPELINE_COUNTERS));
}

/**
 * The live per-frame path: classify by steering MAC, run the engine, forward or drop.
 * Allocation-free: MACs become 48-bit numbers, counters are fields mutated in place,
 * the clock is a coarse value refreshed by a timer rather than Date.now() per frame.
 */
export class Pipeline {
  readonly counters = newPipelineCounters();
  /** The frame in process (engine events sample it) and the port it came in on (resets go out there). */
  readonly frame = new CurrentFrame();
  currentSink: FrameSink | null = null;
  /** Coarse clock (ms), advanced by main's timer; the engine's timeouts are in seconds. */
  nowMs = Date.now();
  /** Called after each batch (ring) or frame (cap): the fast path writes its queued entries. */
  afterFrames: (() => void) | null = null;

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly engine: Engine,
  ) {}

  /** Engine inject hook: sends a frame it built out of the current frame's port. */
  inject = (frame: Buffer, len: number): void => {
    if (this.currentSink?.send(frame, len)) this.counters.injected++;
    else this.counters.txErrors++;
  };

  /**
   * One captured frame of `len` bytes in `buf` (cap's reused buffer). `maxFrame` is the
   * largest frame the port may carry; `truncated` is cap's flag (frame bigger than buf).
   */
  onFrame(buf: Buffer, len: number, truncated: boolean, maxFrame: number, sink: FrameSink): void {
    const fwd = this.verdictAt(buf, 0, len, truncated ? len + 1 : len, maxFrame, sink);
    if (this.afterFrames !== null) this.afterFrames();
    if (!fwd) return;
    const c = this.counters;
    if (sink.send(buf, len)) {
      c.txPackets++;
      c.txBytes += len;
    } else {
      c.txErrors++;
    }
  }

  /** `n` frames of a ring batch: one verdict byte each; the port sends the forwarded ones. */
  onBatch(b: FrameBatch, n: number): void {
    const { ring, desc, verdicts, maxFrame } = b;
    const c = this.counters;
    c.batches++;
    for (let i = 0; i < n; i++) {
      const j = 3 * i;
      const capLen = desc[j + 1]!;
      b.cursor = i;
      if (this.verdictAt(ring, desc[j]!, capLen, desc[j + 2]!, maxFrame, b)) {
        verdicts[i] = 1;
        c.txPackets++;
        c.txBytes += capLen;
      } else {
        verdicts[i] = 0;
      }
    }
    b.cursor = n;
    if (this.afterFrames !== null) this.afterFrames();
  }

  /**
   * The one classification and verdict path for both backends: true when the frame at
   * buf[off .. off+capLen) (wire length wireLen) is to be forwarded unchanged.
   */
  private verdictAt(
    buf: Uint8Array,
    off: number,
    capLen: number,
    wireLen: number,
    maxFrame: number,
    sink: FrameSink,
  ): boolean {
    const c = this.counters;
    c.rxPackets++;
    c.rxBytes += capLen;
    if (capLen < wireLen || wireLen > maxFrame) {
      c.oversize++;
      return false;
    }
    if (capLen < 14) {
      c.runt++;
      return false;
    }
    let ep: Endpoint | undefined;
    let ingress: boolean;
    // SA "NeuV": the workload sent it (egress); else DA "NeuV": toward the workload.
    if (isNeuvMac(buf, off + 6)) {
      ep = this.registry.byMacNumber(macToNumber(buf, off + 6));
      ingress = false;
    } else if (isNeuvMac(buf, off)) {
      ep = this.registry.byMacNumber(macToNumber(buf, off));
      ingress = true;
    } else {
      c.notSteered++;
      return false;
    }
    if (ep === undefined) {
      c.noWorkload++;
      return false;
    }
    // The engine counts the EP's rx (ingress) / tx (egress) packets and bytes.
    const f = this.frame;
    f.src = buf;
    f.off = off;
    f.len = capLen;
    this.currentSink = sink;
    const verdict = this.engine.processAt(buf, off, capLen, wireLen, this.nowMs, ep, ingress);
    if (ep.tap) {
      c.tapPackets++;
      return false;
    }
    if (verdict !== Verdict.Forward) {
      // Held: the engine kept a copy and sends it itself once allowed; not a drop. The
      // engine already counts the endpoint's drops (drop_packets).
      if (verdict !== Verdict.Held) c.dropPackets++;
      return false;
    }
    return true;
  }
}

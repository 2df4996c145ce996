import { isNeuvMac, macToNumber } from '../shared/mac.js';
import type { Endpoint } from './endpoints/endpoint.js';
import type { EndpointRegistry } from './endpoints/registry.js';

/**
 * What the pipeline needs from the engine (dp/engine.ts, helper C): one verdict per
 * frame, a periodic tick, and session housekeeping for the control handlers.
 */
export interface EngineApi {
  process(buf: Buffer, len: number, nowMs: number, ep: Endpoint, ingress: boolean): number;
  tick(nowMs: number): void;
  readonly counters: object;
  sessionCount(): unknown;
  listSessions(max?: number): readonly unknown[];
  clearSessions(filterId?: number): unknown;
  purgeEndpoint(epId: number): unknown;
}

/** Where a forwarded frame goes: the same service port it came from, unchanged. */
export interface FrameSink {
  /** Returns false when the kernel refused the frame (counted as txError). */
  send(buf: Buffer, len: number): boolean;
}

/** Device counters of the live path; the names are the ones ctrl_counter_device reports. */
export interface PipelineCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Frames the engine said to drop on an inline EP. */
  dropPackets: number;
  /** Send failures (kernel refused the frame). */
  txErrors: number;
  /** A "NeuV" unique MAC that no EP owns: dropped (NeuVector drops these without counting). */
  noWorkload: number;
  /** Neither SA nor DA is a "NeuV" MAC: not steered traffic, dropped. */
  notSteered: number;
  /** Larger than the port MTU + L2 headroom (GSO leftovers) or truncated by capture: dropped, never mangled. */
  oversize: number;
  /** Shorter than an Ethernet header: dropped. */
  runt: number;
  /** Frames of tap EPs: inspected, never forwarded. */
  tapPackets: number;
  /** Frames the engine made (TCP resets) and sent. */
  injected: number;
}

export function newPipelineCounters(): PipelineCounters {
  return {
    rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, dropPackets: 0, txErrors: 0,
    noWorkload: 0, notSteered: 0, oversize: 0, runt: 0, tapPackets: 0, injected: 0,
  };
}

/**
 * The live per-frame path: classify by steering MAC, run the engine, forward or drop.
 * Allocation-free: MACs become 48-bit numbers, counters are fields mutated in place,
 * the clock is a coarse value refreshed by a timer rather than Date.now() per frame.
 */
export class Pipeline {
  readonly counters = newPipelineCounters();
  /** The frame in process (engine events sample it) and the port it came in on (resets go out there). */
  readonly frame: { buf: Uint8Array | null; len: number } = { buf: null, len: 0 };
  currentSink: FrameSink | null = null;
  /** Coarse clock (ms), advanced by main's timer; the engine's timeouts are in seconds. */
  nowMs = Date.now();

  constructor(
    private readonly registry: EndpointRegistry,
    private readonly engine: EngineApi,
    private readonly forwardVerdict: number,
  ) {}

  /**
   * One captured frame of `len` bytes in `buf` (cap's reused buffer). `maxFrame` is the
   * largest frame the port may carry; `truncated` is cap's flag (frame bigger than buf).
   */
  /** Engine inject hook: sends a frame it built out of the current frame's port. */
  inject = (frame: Buffer, len: number): void => {
    if (this.currentSink?.send(frame, len)) this.counters.injected++;
    else this.counters.txErrors++;
  };

  onFrame(buf: Buffer, len: number, truncated: boolean, maxFrame: number, sink: FrameSink): void {
    const c = this.counters;
    c.rxPackets++;
    c.rxBytes += len;
    if (truncated || len > maxFrame) {
      c.oversize++;
      return;
    }
    if (len < 14) {
      c.runt++;
      return;
    }
    let ep: Endpoint | undefined;
    let ingress: boolean;
    // SA "NeuV": the workload sent it (egress); else DA "NeuV": toward the workload.
    if (isNeuvMac(buf, 6)) {
      ep = this.registry.byMacNumber(macToNumber(buf, 6));
      ingress = false;
    } else if (isNeuvMac(buf, 0)) {
      ep = this.registry.byMacNumber(macToNumber(buf, 0));
      ingress = true;
    } else {
      c.notSteered++;
      return;
    }
    if (ep === undefined) {
      c.noWorkload++;
      return;
    }
    // The engine counts the EP's rx (ingress) / tx (egress) packets and bytes.
    this.frame.buf = buf;
    this.frame.len = len;
    this.currentSink = sink;
    const verdict = this.engine.process(buf, len, this.nowMs, ep, ingress);
    if (ep.tap) {
      c.tapPackets++;
      return;
    }
    if (verdict !== this.forwardVerdict) {
      c.dropPackets++;
      ep.counters.dropPackets++;
      return;
    }
    if (sink.send(buf, len)) {
      c.txPackets++;
      c.txBytes += len;
    } else {
      c.txErrors++;
    }
  }
}

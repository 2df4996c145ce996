import { NativeAddon } from '../../shared/native/addon.js';

/** Ring geometry and fan-out of one packet socket (native/packet_ring.c open()). */
export interface RingOptions {
  /** Bytes per ring frame slot, a power of two; must hold the frame plus ~80 bytes of tpacket header. */
  frameSize: number;
  rxFrames: number;
  txFrames: number;
  /** Most frames handed to JS per call. */
  batch: number;
  /** Join this fanout group (workers of one dp share a group; the member is picked from the IP addresses). */
  fanoutGroup?: number;
  /**
   * 1: forwarded frames go through a PACKET_TX_RING; 0: one sendmmsg per batch straight
   * from the RX ring (no TX ring; see native/packet_ring.c kick_mmsg). Default 1.
   */
  txRing?: number;
  /** 1: PACKET_QDISC_BYPASS (frames skip the egress qdisc layer and tc egress hooks). */
  qdiscBypass?: number;
  /** Batches per poll wake-up before yielding to the event loop. */
  maxRounds?: number;
  /**
   * RX interrupt moderation: µs to wait before reading when the last wake-up found the
   * port busy (native/ring_rx.c coalesce()); 0 (the default): read at once, always.
   */
  coalesceUs?: number;
  /** Frames one wake-up must read for the port to count as busy (default 8). */
  busyFrames?: number;
}

/** The addon's per-socket object. */
export interface NativeRing {
  /** The RX ring (external ArrayBuffer over the mmap; detached on close). */
  readonly ring: ArrayBuffer;
  /** [offset into ring, caplen, wirelen] per batch entry. */
  readonly desc: Int32Array;
  /** One byte per batch entry, 1 = forward; the addon zeroes it before each batch. */
  readonly verdicts: Uint8Array;
  /** Counters, indexed by RingStat. */
  readonly stats: Float64Array;
  readonly frameSize: number;
  /** True when the kernel lacks PACKET_IGNORE_OUTGOING and the addon filters by sll_pkttype. */
  readonly outgoingFilter: boolean;
  /** Queues a frame on the TX ring (after the forwarded frames of the batch before `cursor`). */
  send(buf: Buffer, len: number, cursor?: number): boolean;
  /** Adds the kernel's RX drop count (PACKET_STATISTICS) to stats. */
  kernelStats(): void;
  close(): void;
}

interface RingModule {
  open(iface: string, opts: RingOptions, onBatch: (n: number) => void): NativeRing;
}

/** Slots of NativeRing.stats, in native/packet_ring.c order. */
export const RING_STATS = [
  'rx',
  'rxBytes',
  'tx',
  'txBytes',
  'txRingFull',
  'kicks',
  'kickErrors',
  'batches',
  'truncated',
  'outgoingSkipped',
  'injected',
  'injectErrors',
  'kernelDrops',
  'callbackErrors',
  'txTooBig',
  'vlanRestored',
  'csumCompleted',
  'csumUnplaced',
  'rxCoalesced',
] as const;
export type RingStatName = (typeof RING_STATS)[number];
export const RingStat = Object.fromEntries(RING_STATS.map((n, i) => [n, i])) as Record<RingStatName, number>;

const addon = new NativeAddon<RingModule>('packet_ring');

/** The addon, or null when it is not built (then the dp uses cap); see ringLoadError(). */
export function ringAddon(): RingModule | null {
  return addon.get();
}

export function ringLoadError(): string {
  return addon.error;
}

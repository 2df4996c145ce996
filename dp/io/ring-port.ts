import { TollgateError, errorMessage } from '../../shared/errors.js';
import type { FrameBatch } from '../pipeline.js';
import { ringAddon, ringLoadError, RING_STATS, RingStat, type NativeRing, type RingStatName } from './ring-native.js';

/** Frames handed to JS per call; NeuVector batches up to 4096, but 256 keeps latency and the TX ring small. */
const BATCH = 256;
/** 8192 slots of 2 KiB = 16 MiB RX ring (~80 ms at 100 kpps, as NeuVector sizes its service rings); TX needs only a few batches in flight. */
const RX_FRAMES = 8192;
const TX_FRAMES = 1024;
/** Batches per wake-up before the event loop turns (control datagrams in between); the addon's default. */
const MAX_ROUNDS = 16;
/**
 * Event-loop turns that read a full RX ring: each turn reads up to BATCH × MAX_ROUNDS
 * frames. What a drain (agent/daemon/dp-drain.ts) waits for, as keep-alive round trips.
 */
export const RING_TURNS_TO_EMPTY = Math.ceil(RX_FRAMES / (BATCH * MAX_ROUNDS));
/**
 * RX interrupt moderation (native/ring_rx.c coalesce()): on a busy port, wait this many µs
 * before reading, so what arrives meanwhile is read, decided and sent as one batch. 200 µs
 * took 64-byte UDP through the dp from about 70 to 88-135 kpps on the bench machine, with
 * the dp's CPU from ~60 % to ~40 % of a core (docs/BENCHMARKS.md); a busy port's frames wait
 * at most that long, a quiet port's not at all. The addon refuses more than the MAX too.
 */
export const RX_COALESCE_US = 200;
export const RX_COALESCE_US_MAX = 10_000;
/** A wake-up that reads at least this many frames marks the port busy. */
const BUSY_FRAMES = 8;
/** tpacket2 header + sockaddr_ll + alignment in front of a received frame. */
const RX_HEADROOM = 80;
/** L2 headroom over the MTU: Ethernet header plus two VLAN tags. */
export const L2_HEADROOM = 14 + 8;

export type BatchHandler = (batch: FrameBatch, n: number) => void;

/**
 * How forwarded frames leave: 'sendmmsg' (default) sends each batch with one sendmmsg
 * straight from the RX ring; 'txring' copies them into a PACKET_TX_RING and kicks once.
 * Both are one syscall per batch. sendmmsg measured faster on TCP here: TX-ring frames
 * become zero-copy page-fragment skbs that veth copies again into fresh pages
 * (skb_copy_ubufs) on the way to the peer, while sendmmsg builds linear skbs.
 */
export type RingTx = 'sendmmsg' | 'txring';
export const RING_TX_MODES: readonly RingTx[] = ['sendmmsg', 'txring'];

function frameSizeFor(maxFrame: number): number {
  let s = 2048;
  while (s < maxFrame + RX_HEADROOM) s *= 2;
  return s;
}

/**
 * A service port on a batched AF_PACKET ring (native/packet_ring.c): frames are read in
 * place in the RX ring, one JS call per batch; the pipeline writes a verdict byte per
 * frame and the addon sends the forwarded ones with one syscall per batch (RingTx).
 * The socket ignores its own outgoing frames, so what the dp sends is never seen again.
 */
export class RingPort implements FrameBatch {
  readonly maxFrame: number;
  readonly ring: Uint8Array;
  readonly desc: Int32Array;
  readonly verdicts: Uint8Array;
  cursor = 0;
  readonly backend = 'ring';
  readonly tx: RingTx;
  private readonly native: NativeRing;
  private closed = false;
  /** Ring-full/too-big TX failures already moved into the pipeline's counters. */
  private txFailSeen = 0;

  constructor(
    readonly iface: string,
    readonly mtu: number,
    onBatch: BatchHandler,
    private readonly onTxFail: (n: number) => void = () => {},
    fanoutGroup?: number,
    tx: RingTx = 'sendmmsg',
    rxCoalesceUs = RX_COALESCE_US,
  ) {
    const addon = ringAddon();
    if (!addon) throw new TollgateError('ENORING', `ring I/O unavailable: ${ringLoadError()}`, 'iface');
    this.maxFrame = mtu + L2_HEADROOM;
    this.tx = tx;
    const stats = (): Float64Array => this.native.stats;
    const handler = (n: number): void => {
      if (this.closed) return;
      // Frames the pipeline forwarded in an earlier batch but the TX ring refused.
      const s = stats();
      const fail = s[RingStat.txRingFull]! + s[RingStat.txTooBig]!;
      if (fail !== this.txFailSeen) {
        this.onTxFail(fail - this.txFailSeen);
        this.txFailSeen = fail;
      }
      try {
        onBatch(this, n);
      } catch {
        // The pipeline never throws; if it did, verdicts not yet written stay 0 (drop).
      }
    };
    try {
      this.native = addon.open(
        iface,
        {
          frameSize: frameSizeFor(this.maxFrame),
          rxFrames: RX_FRAMES,
          txFrames: TX_FRAMES,
          batch: BATCH,
          maxRounds: MAX_ROUNDS,
          txRing: tx === 'txring' ? 1 : 0,
          coalesceUs: rxCoalesceUs,
          busyFrames: BUSY_FRAMES,
          ...(fanoutGroup !== undefined ? { fanoutGroup } : {}),
        },
        handler,
      );
    } catch (e) {
      throw new TollgateError('EIFACE', `cannot open "${iface}" (AF_PACKET ring): ${errorMessage(e)}`, 'iface');
    }
    this.ring = new Uint8Array(this.native.ring);
    this.desc = this.native.desc;
    this.verdicts = this.native.verdicts;
  }

  /** An injected frame (TCP reset): queued after the forwarded frames decided before it. */
  send(buf: Buffer, len: number): boolean {
    if (this.closed) return false;
    return this.native.send(buf, len, this.cursor);
  }

  /** The addon's counters by name (kernel drops refreshed). */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    if (!this.closed) this.native.kernelStats();
    const s = this.native.stats;
    RING_STATS.forEach((n, i) => {
      out[n] = s[i]!;
    });
    return out;
  }

  /** One addon counter since open (RING_STATS). */
  stat(name: RingStatName): number {
    return this.native.stats[RingStat[name]]!;
  }

  /** Frames the kernel dropped because the RX ring was full, since open. */
  kernelDrops(): number {
    if (!this.closed) this.native.kernelStats();
    return this.native.stats[RingStat.kernelDrops]!;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close();
  }
}

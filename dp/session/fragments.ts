/**
 * Fragment tracking (not reassembly): the engine gives every fragment a verdict as it
 * passes. A datagram is keyed (endpoint, src, dst, id, protocol). Its first fragment (which
 * carries the ports) is decided like any packet; every other fragment of the datagram gets
 * that same verdict. Fragments that arrive before the first one are held (frag-hold.ts)
 * until it is judged, so out-of-order and reversed datagrams pass whole.
 *
 * A datagram's entry is freed as soon as all of its bytes have been seen and its first
 * fragment judged, so an IP ID reused later starts a fresh datagram. Entries not complete
 * expire: FRAG_HOLD_MS while no first fragment has been judged, FRAG_TIMEOUT_MS after.
 * Byte ranges are recorded to count exact duplicates and to catch overlapping rewrites
 * (teardrop and evasion); a datagram of more than MAX_FRAGMENTS pieces is refused
 * (counted), never checked only in part. Bounded in total and per endpoint; preallocated,
 * no allocation per packet.
 */
import { NO_SLOT } from './table.js';
import { HoldStore } from './frag-hold.js';

/** Lifetime of a datagram whose first fragment was judged (Linux ipfrag_time, NeuVector). */
export const FRAG_TIMEOUT_MS = 30_000;
/** How long fragments wait for their first fragment before they are discarded. */
export const FRAG_HOLD_MS = 5_000;
/** Pieces per datagram: 64 KiB in 1280-byte IPv6-minimum fragments is 52; 128 leaves room. */
export const MAX_FRAGMENTS = 128;

export const FragResult = {
  Ok: 0,
  Duplicate: 1,
  Overlap: 2,
  Full: 3,
  EndpointFull: 4,
  TooMany: 5,
} as const;

/** The first fragment's verdict, as recorded for the rest of its datagram. */
export const FragJudged = { No: 0, Forward: 1, Drop: 2 } as const;

export interface FragmentLimits {
  /** Datagrams tracked at once, all endpoints (default 4096). */
  capacity?: number;
  /** Datagrams tracked at once per endpoint (default a quarter of capacity). */
  perEndpoint?: number;
  /** Frames held waiting for their first fragment, all endpoints (default 1024). */
  holdCapacity?: number;
  /** Frames held per endpoint (default a quarter of holdCapacity). */
  holdPerEndpoint?: number;
}

export class FragmentTracker {
  readonly capacity: number;
  readonly perEndpoint: number;
  readonly held: HoldStore;
  private readonly key: Uint32Array; // 8 address words, id, proto, endpoint
  private readonly inUse: Uint8Array;
  private readonly expires: Float64Array;
  private readonly sessionSlot: Int32Array;
  private readonly sessionSerial: Uint32Array;
  private readonly judged: Uint8Array;
  private readonly heldHead: Int32Array;
  private readonly heldTail: Int32Array;
  private readonly ranges: Uint32Array; // start,end pairs
  private readonly rangeCount: Uint8Array;
  private readonly covered: Uint32Array;
  /** Datagram length once the last fragment is seen, else 0. */
  private readonly total: Uint32Array;
  private readonly heads: Int32Array;
  private readonly next: Int32Array;
  private readonly bucketOf: Uint32Array;
  private readonly mask: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly perEp = new Map<number, number>();
  count = 0;
  /** Set by track(): the entry used. */
  lastEntry = NO_SLOT;

  constructor(limits: FragmentLimits = {}) {
    const capacity = limits.capacity ?? 4096;
    this.capacity = capacity;
    this.perEndpoint = limits.perEndpoint ?? Math.max(1, capacity >> 2);
    const holdCap = limits.holdCapacity ?? 1024;
    this.held = new HoldStore(holdCap, limits.holdPerEndpoint ?? Math.max(1, holdCap >> 2));
    this.key = new Uint32Array(capacity * 11);
    this.inUse = new Uint8Array(capacity);
    this.expires = new Float64Array(capacity);
    this.sessionSlot = new Int32Array(capacity).fill(NO_SLOT);
    this.sessionSerial = new Uint32Array(capacity);
    this.judged = new Uint8Array(capacity);
    this.heldHead = new Int32Array(capacity).fill(NO_SLOT);
    this.heldTail = new Int32Array(capacity).fill(NO_SLOT);
    this.ranges = new Uint32Array(capacity * MAX_FRAGMENTS * 2);
    this.rangeCount = new Uint8Array(capacity);
    this.covered = new Uint32Array(capacity);
    this.total = new Uint32Array(capacity);
    let buckets = 1;
    while (buckets < capacity * 2) buckets <<= 1;
    this.heads = new Int32Array(buckets).fill(NO_SLOT);
    this.mask = buckets - 1;
    this.next = new Int32Array(capacity).fill(NO_SLOT);
    this.bucketOf = new Uint32Array(capacity);
    this.freeStack = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeStack[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  /**
   * Records one fragment of endpoint `ep` (addresses a[0..7], id, proto, byte range
   * [start, end), last = no more fragments). Returns a FragResult; lastEntry is the
   * datagram's entry (NO_SLOT when none could be made).
   */
  track(
    a: Uint32Array,
    id: number,
    proto: number,
    ep: number,
    start: number,
    end: number,
    last: boolean,
    nowMs: number,
  ): number {
    let e = this.find(a, id, proto, ep);
    if (e === NO_SLOT) {
      if (this.freeTop === 0) {
        this.lastEntry = NO_SLOT;
        return FragResult.Full;
      }
      if ((this.perEp.get(ep) ?? 0) >= this.perEndpoint) {
        this.lastEntry = NO_SLOT;
        return FragResult.EndpointFull;
      }
      e = this.insert(a, id, proto, ep, nowMs);
    }
    this.lastEntry = e;
    const R = this.ranges;
    const base = e * MAX_FRAGMENTS * 2;
    const n = this.rangeCount[e]!;
    for (let i = 0; i < n; i++) {
      const s0 = R[base + i * 2]!;
      const e0 = R[base + i * 2 + 1]!;
      if (s0 === start && e0 === end) return FragResult.Duplicate;
      if (start < e0 && s0 < end) return FragResult.Overlap;
    }
    if (n === MAX_FRAGMENTS) return FragResult.TooMany;
    R[base + n * 2] = start;
    R[base + n * 2 + 1] = end;
    this.rangeCount[e] = n + 1;
    if (last) this.total[e] = end;
    this.covered[e] = this.covered[e]! + (end - start);
    return FragResult.Ok;
  }

  /** Every byte of the datagram has been seen. */
  isComplete(e: number): boolean {
    return this.total[e] !== 0 && this.covered[e] === this.total[e];
  }

  judgedAs(e: number): number {
    return this.judged[e]!;
  }

  /** The first fragment was decided: `verdict` (FragJudged) and the session it resolved to. */
  judge(e: number, verdict: number, slot: number, serial: number, nowMs: number): void {
    this.judged[e] = verdict;
    this.sessionSlot[e] = slot;
    this.sessionSerial[e] = serial;
    this.expires[e] = nowMs + FRAG_TIMEOUT_MS;
  }

  boundSlot(e: number): number {
    return this.sessionSlot[e]!;
  }
  boundSerial(e: number): number {
    return this.sessionSerial[e]!;
  }

  /** Holds a frame of the datagram until its first fragment is judged; false when no room. */
  hold(e: number, ep: number, buf: Uint8Array, off: number, len: number): boolean {
    const h = this.held.hold(ep, buf, off, len);
    if (h === NO_SLOT) return false;
    const tail = this.heldTail[e]!;
    if (tail === NO_SLOT) this.heldHead[e] = h;
    else this.held.next[tail] = h;
    this.heldTail[e] = h;
    return true;
  }

  /**
   * Hands the datagram's held frames, in arrival order, to `each` (null: discards them),
   * then frees their slots. Returns how many there were.
   */
  releaseHeld(e: number, each: ((frame: Buffer, len: number) => void) | null): number {
    const H = this.held;
    let h = this.heldHead[e]!;
    let n = 0;
    while (h !== NO_SLOT) {
      const nx = H.next[h]!;
      if (each !== null) each(H.frame(h), H.length(h));
      H.free(h);
      n++;
      h = nx;
    }
    this.heldHead[e] = NO_SLOT;
    this.heldTail[e] = NO_SLOT;
    return n;
  }

  /** Told how many held frames of endpoint `ep` were discarded with an expired entry. */
  onDiscard: ((ep: number, n: number) => void) | null = null;

  /** Drops entries past their lifetime, discarding any frames they still hold. Returns the entries dropped. */
  expire(nowMs: number): number {
    let n = 0;
    if (this.count === 0) return 0;
    for (let e = 0; e < this.capacity; e++) {
      if (this.inUse[e] === 1 && this.expires[e]! <= nowMs) {
        this.drop(e);
        n++;
      }
    }
    return n;
  }

  /** Frees every entry (end of input). */
  clear(): void {
    for (let e = 0; e < this.capacity; e++) if (this.inUse[e] === 1) this.drop(e);
  }

  private drop(e: number): void {
    const d = this.releaseHeld(e, null);
    if (d > 0 && this.onDiscard !== null) this.onDiscard(this.key[e * 11 + 10]!, d);
    this.free(e);
  }

  /** Frees a datagram's entry (held frames must have been released). */
  free(e: number): void {
    if (this.inUse[e] !== 1) return;
    const b = this.bucketOf[e]!;
    let cur = this.heads[b]!;
    let prev = NO_SLOT;
    while (cur !== NO_SLOT && cur !== e) {
      prev = cur;
      cur = this.next[cur]!;
    }
    if (cur === e) {
      if (prev === NO_SLOT) this.heads[b] = this.next[e]!;
      else this.next[prev] = this.next[e]!;
    }
    const ep = this.key[e * 11 + 10]!;
    const used = (this.perEp.get(ep) ?? 1) - 1;
    if (used <= 0) this.perEp.delete(ep);
    else this.perEp.set(ep, used);
    this.inUse[e] = 0;
    this.freeStack[this.freeTop++] = e;
    this.count--;
  }

  private find(a: Uint32Array, id: number, proto: number, ep: number): number {
    const h = fragHash(a, id, proto, ep);
    let e = this.heads[h & this.mask]!;
    const K = this.key;
    while (e !== NO_SLOT) {
      const k = e * 11;
      if (
        K[k + 8] === id &&
        K[k + 9] === proto &&
        K[k + 10] === ep &&
        K[k] === a[0] &&
        K[k + 1] === a[1] &&
        K[k + 2] === a[2] &&
        K[k + 3] === a[3] &&
        K[k + 4] === a[4] &&
        K[k + 5] === a[5] &&
        K[k + 6] === a[6] &&
        K[k + 7] === a[7]
      )
        return e;
      e = this.next[e]!;
    }
    return NO_SLOT;
  }

  private insert(a: Uint32Array, id: number, proto: number, ep: number, nowMs: number): number {
    const e = this.freeStack[--this.freeTop]!;
    const k = e * 11;
    for (let i = 0; i < 8; i++) this.key[k + i] = a[i]!;
    this.key[k + 8] = id;
    this.key[k + 9] = proto;
    this.key[k + 10] = ep;
    this.inUse[e] = 1;
    this.expires[e] = nowMs + FRAG_HOLD_MS;
    this.sessionSlot[e] = NO_SLOT;
    this.judged[e] = FragJudged.No;
    this.heldHead[e] = NO_SLOT;
    this.heldTail[e] = NO_SLOT;
    this.rangeCount[e] = 0;
    this.covered[e] = 0;
    this.total[e] = 0;
    const b = fragHash(a, id, proto, ep) & this.mask;
    this.bucketOf[e] = b;
    this.next[e] = this.heads[b]!;
    this.heads[b] = e;
    this.perEp.set(ep, (this.perEp.get(ep) ?? 0) + 1);
    this.count++;
    return e;
  }
}

function fragHash(a: Uint32Array, id: number, proto: number, ep: number): number {
  let h = Math.imul(id ^ (proto << 24) ^ Math.imul(ep + 1, 0x27d4eb2f), 0x9e3779b1);
  for (let i = 0; i < 8; i++) h = Math.imul(h ^ a[i]!, 0x85ebca6b) ^ (h >>> 13);
  // 30 bits, a small integer (Smi): see hashAddr in dp/policy/address.ts.
  return h & 0x3fffffff;
}

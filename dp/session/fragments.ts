/**
 * Fragment tracking (not reassembly): the engine must give every fragment a verdict as it
 * passes, so the first fragment (which carries the ports) decides the flow's session and
 * later fragments of the same datagram, keyed (src, dst, id, proto), follow it. Byte
 * ranges are recorded to count duplicates and to catch overlapping rewrites (teardrop
 * and evasion) as malformed. Fixed capacity, 30 s lifetime, no allocation per packet.
 */
import { NO_SLOT } from './table.js';

export const FRAG_TIMEOUT_MS = 30_000;
const MAX_RANGES = 16;

export const FragResult = {
  Ok: 0,
  Duplicate: 1,
  Overlap: 2,
  Full: 3,
} as const;

export class FragmentTracker {
  readonly capacity: number;
  private readonly key: Uint32Array; // 8 address words, id, proto
  private readonly inUse: Uint8Array;
  private readonly expires: Float64Array;
  private readonly sessionSlot: Int32Array;
  private readonly sessionSerial: Uint32Array;
  private readonly ranges: Uint32Array; // start,end pairs
  private readonly rangeCount: Uint8Array;
  private readonly covered: Uint32Array;
  /** Datagram length once the last fragment is seen, else 0. */
  private readonly total: Uint32Array;
  private readonly complete: Uint8Array;
  private readonly heads: Int32Array;
  private readonly next: Int32Array;
  private readonly bucketOf: Uint32Array;
  private readonly mask: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  count = 0;
  /** Set by track(): the entry used. */
  lastEntry = NO_SLOT;
  /** Set by track(): true when this fragment completed its datagram's coverage. */
  lastCompleted = false;

  constructor(capacity = 4096) {
    this.capacity = capacity;
    this.key = new Uint32Array(capacity * 10);
    this.inUse = new Uint8Array(capacity);
    this.expires = new Float64Array(capacity);
    this.sessionSlot = new Int32Array(capacity).fill(NO_SLOT);
    this.sessionSerial = new Uint32Array(capacity);
    this.ranges = new Uint32Array(capacity * MAX_RANGES * 2);
    this.rangeCount = new Uint8Array(capacity);
    this.covered = new Uint32Array(capacity);
    this.total = new Uint32Array(capacity);
    this.complete = new Uint8Array(capacity);
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
   * Records one fragment (addresses a[0..7], id, proto, byte range [start, end), last =
   * no more fragments). Returns a FragResult; lastEntry is the datagram's entry.
   */
  track(a: Uint32Array, id: number, proto: number, start: number, end: number, last: boolean, nowMs: number): number {
    this.lastCompleted = false;
    let e = this.find(a, id, proto);
    if (e === NO_SLOT) {
      e = this.insert(a, id, proto, nowMs);
      if (e === NO_SLOT) {
        this.lastEntry = NO_SLOT;
        return FragResult.Full;
      }
    }
    this.lastEntry = e;
    if (last) this.total[e] = end;
    const R = this.ranges;
    const base = e * MAX_RANGES * 2;
    const n = this.rangeCount[e]!;
    for (let i = 0; i < n; i++) {
      const s0 = R[base + i * 2]!;
      const e0 = R[base + i * 2 + 1]!;
      if (s0 === start && e0 === end) return FragResult.Duplicate;
      if (start < e0 && s0 < end) return FragResult.Overlap;
    }
    if (n < MAX_RANGES) {
      R[base + n * 2] = start;
      R[base + n * 2 + 1] = end;
      this.rangeCount[e] = n + 1;
    }
    this.covered[e] = this.covered[e]! + (end - start);
    if (this.complete[e] === 0 && this.total[e] !== 0 && this.covered[e] === this.total[e]) {
      this.complete[e] = 1;
      this.lastCompleted = true;
    }
    return FragResult.Ok;
  }

  /** Binds a datagram to the session its first fragment resolved to. */
  bind(e: number, slot: number, serial: number): void {
    this.sessionSlot[e] = slot;
    this.sessionSerial[e] = serial;
  }

  boundSlot(e: number): number {
    return this.sessionSlot[e]!;
  }
  boundSerial(e: number): number {
    return this.sessionSerial[e]!;
  }

  /** Drops entries older than their lifetime; returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    if (this.count === 0) return 0;
    for (let e = 0; e < this.capacity; e++) {
      if (this.inUse[e] === 1 && this.expires[e]! <= nowMs) {
        this.remove(e);
        n++;
      }
    }
    return n;
  }

  private find(a: Uint32Array, id: number, proto: number): number {
    const h = fragHash(a, id, proto);
    let e = this.heads[h & this.mask]!;
    const K = this.key;
    while (e !== NO_SLOT) {
      const k = e * 10;
      if (K[k + 8] === id && K[k + 9] === proto && K[k] === a[0] && K[k + 1] === a[1] && K[k + 2] === a[2] &&
        K[k + 3] === a[3] && K[k + 4] === a[4] && K[k + 5] === a[5] && K[k + 6] === a[6] && K[k + 7] === a[7]) return e;
      e = this.next[e]!;
    }
    return NO_SLOT;
  }

  private insert(a: Uint32Array, id: number, proto: number, nowMs: number): number {
    if (this.freeTop === 0) return NO_SLOT;
    const e = this.freeStack[--this.freeTop]!;
    const k = e * 10;
    for (let i = 0; i < 8; i++) this.key[k + i] = a[i]!;
    this.key[k + 8] = id;
    this.key[k + 9] = proto;
    this.inUse[e] = 1;
    this.expires[e] = nowMs + FRAG_TIMEOUT_MS;
    this.sessionSlot[e] = NO_SLOT;
    this.rangeCount[e] = 0;
    this.covered[e] = 0;
    this.total[e] = 0;
    this.complete[e] = 0;
    const b = fragHash(a, id, proto) & this.mask;
    this.bucketOf[e] = b;
    this.next[e] = this.heads[b]!;
    this.heads[b] = e;
    this.count++;
    return e;
  }

  private remove(e: number): void {
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
    this.inUse[e] = 0;
    this.freeStack[this.freeTop++] = e;
    this.count--;
  }
}

function fragHash(a: Uint32Array, id: number, proto: number): number {
  let h = Math.imul(id ^ (proto << 24), 0x9e3779b1);
  for (let i = 0; i < 8; i++) h = Math.imul(h ^ a[i]!, 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

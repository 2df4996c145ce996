/**
 * The session table: struct-of-arrays over preallocated typed arrays, indexed by slot,
 * with a hash of the 5-tuple (+ endpoint) that is symmetric, so both orientations of a
 * flow land in the same bucket and one lookup finds either. Buckets chain through `next`
 * (Int32Array), free slots sit on a stack. No allocation after construction.
 */
export const NO_SLOT = -1;

export class SessionTable {
  readonly capacity: number;
  /** client words 0..3 then server words 4..7, per slot. */
  readonly addr: Uint32Array;
  readonly cport: Uint16Array;
  readonly sport: Uint16Array;
  readonly proto: Uint8Array;
  readonly ipVersion: Uint8Array;
  readonly ep: Int32Array;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  readonly inUse: Uint8Array;
  readonly startMs: Float64Array;
  readonly lastMs: Float64Array;
  /** [slot*2] client→server, [slot*2+1] server→client. */
  readonly pkts: Float64Array;
  readonly bytes: Float64Array;
  readonly action: Uint8Array;
  readonly ruleId: Uint32Array;
  readonly policyVersion: Float64Array;
  /** Global session id (unique over the engine's life), for events and ctrl. */
  readonly id: Float64Array;
  /** Bumped each time a slot is reused, so stale references (fragments) are detected. */
  readonly serial: Uint32Array;

  private readonly heads: Int32Array;
  private readonly next: Int32Array;
  private readonly hash: Uint32Array;
  private readonly mask: number;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  /** Slots below this have been used at least once (expiry scans stop here). */
  highWater = 0;
  count = 0;
  private nextId = 0;
  private readonly idStride: number;
  private readonly idOffset: number;

  /** Set by find(): 1 when the packet travels client → server, 0 when server → client. */
  lastFromClient = 1;

  /** Session ids are idOffset + n × idStride (n = 0, 1, …): unique across dp -n workers. */
  constructor(capacity: number, idStride = 1, idOffset = 1) {
    this.capacity = capacity;
    this.idStride = idStride;
    this.idOffset = idOffset;
    this.addr = new Uint32Array(capacity * 8);
    this.cport = new Uint16Array(capacity);
    this.sport = new Uint16Array(capacity);
    this.proto = new Uint8Array(capacity);
    this.ipVersion = new Uint8Array(capacity);
    this.ep = new Int32Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.inUse = new Uint8Array(capacity);
    this.startMs = new Float64Array(capacity);
    this.lastMs = new Float64Array(capacity);
    this.pkts = new Float64Array(capacity * 2);
    this.bytes = new Float64Array(capacity * 2);
    this.action = new Uint8Array(capacity);
    this.ruleId = new Uint32Array(capacity);
    this.policyVersion = new Float64Array(capacity);
    this.id = new Float64Array(capacity);
    this.serial = new Uint32Array(capacity);
    let buckets = 1;
    while (buckets < capacity * 2) buckets <<= 1;
    this.heads = new Int32Array(buckets).fill(NO_SLOT);
    this.mask = buckets - 1;
    this.next = new Int32Array(capacity).fill(NO_SLOT);
    this.hash = new Uint32Array(capacity);
    this.freeStack = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeStack[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  /**
   * Finds the session of a packet whose src words are a[o..o+3] and dst a[o+4..o+7].
   * Sets lastFromClient. Returns the slot or NO_SLOT.
   */
  find(a: Uint32Array, o: number, sp: number, dp: number, proto: number, ep: number): number {
    const h = flowHash(a, o, sp, dp, proto, ep);
    let s = this.heads[h & this.mask]!;
    const A = this.addr;
    while (s !== NO_SLOT) {
      if (this.hash[s] === h && this.proto[s] === proto && this.ep[s] === ep) {
        const k = s << 3;
        if (
          this.cport[s] === sp &&
          this.sport[s] === dp &&
          A[k] === a[o] &&
          A[k + 1] === a[o + 1] &&
          A[k + 2] === a[o + 2] &&
          A[k + 3] === a[o + 3] &&
          A[k + 4] === a[o + 4] &&
          A[k + 5] === a[o + 5] &&
          A[k + 6] === a[o + 6] &&
          A[k + 7] === a[o + 7]
        ) {
          this.lastFromClient = 1;
          return s;
        }
        if (
          this.cport[s] === dp &&
          this.sport[s] === sp &&
          A[k] === a[o + 4] &&
          A[k + 1] === a[o + 5] &&
          A[k + 2] === a[o + 6] &&
          A[k + 3] === a[o + 7] &&
          A[k + 4] === a[o] &&
          A[k + 5] === a[o + 1] &&
          A[k + 6] === a[o + 2] &&
          A[k + 7] === a[o + 3]
        ) {
          this.lastFromClient = 0;
          return s;
        }
      }
      s = this.next[s]!;
    }
    return NO_SLOT;
  }

  /**
   * Inserts a session. `swap` false: the packet's src is the client; true: its dst is.
   * Returns the slot, or NO_SLOT when the table is full.
   */
  insert(
    a: Uint32Array,
    o: number,
    sp: number,
    dp: number,
    proto: number,
    ep: number,
    swap: boolean,
    nowMs: number,
  ): number {
    if (this.freeTop === 0) return NO_SLOT;
    const s = this.freeStack[--this.freeTop]!;
    const h = flowHash(a, o, sp, dp, proto, ep);
    const k = s << 3;
    const A = this.addr;
    const c = swap ? o + 4 : o;
    const v = swap ? o : o + 4;
    A[k] = a[c]!;
    A[k + 1] = a[c + 1]!;
    A[k + 2] = a[c + 2]!;
    A[k + 3] = a[c + 3]!;
    A[k + 4] = a[v]!;
    A[k + 5] = a[v + 1]!;
    A[k + 6] = a[v + 2]!;
    A[k + 7] = a[v + 3]!;
    this.cport[s] = swap ? dp : sp;
    this.sport[s] = swap ? sp : dp;
    this.proto[s] = proto;
    this.ep[s] = ep;
    this.state[s] = 0;
    this.flags[s] = 0;
    this.inUse[s] = 1;
    this.startMs[s] = nowMs;
    this.lastMs[s] = nowMs;
    this.pkts[s * 2] = 0;
    this.pkts[s * 2 + 1] = 0;
    this.bytes[s * 2] = 0;
    this.bytes[s * 2 + 1] = 0;
    this.action[s] = 0;
    this.ruleId[s] = 0;
    this.policyVersion[s] = -1;
    this.id[s] = this.idOffset + this.nextId++ * this.idStride;
    this.serial[s] = (this.serial[s]! + 1) >>> 0;
    this.ipVersion[s] = a[o] === 0 && a[o + 1] === 0 && a[o + 2] === 0xffff ? 4 : 6;
    this.hash[s] = h;
    const b = h & this.mask;
    this.next[s] = this.heads[b]!;
    this.heads[b] = s;
    if (s >= this.highWater) this.highWater = s + 1;
    this.count++;
    this.lastFromClient = swap ? 0 : 1;
    return s;
  }

  remove(s: number): void {
    if (this.inUse[s] !== 1) return;
    const b = this.hash[s]! & this.mask;
    let cur = this.heads[b]!;
    let prev = NO_SLOT;
    while (cur !== NO_SLOT && cur !== s) {
      prev = cur;
      cur = this.next[cur]!;
    }
    if (cur === s) {
      if (prev === NO_SLOT) this.heads[b] = this.next[s]!;
      else this.next[prev] = this.next[s]!;
    }
    this.next[s] = NO_SLOT;
    this.inUse[s] = 0;
    this.freeStack[this.freeTop++] = s;
    this.count--;
    if (this.count === 0) this.compact();
  }

  /**
   * When the table empties, hand out low slots first again so expiry scans (which stop
   * at highWater) stay short after a burst (offline: between capture files).
   */
  private compact(): void {
    // Slots >= highWater were never popped, so stack positions below cap - highWater
    // still hold them in their original order: only the top highWater entries need
    // rewriting (O(highWater), not O(capacity)).
    const cap = this.capacity;
    for (let i = cap - this.highWater; i < cap; i++) this.freeStack[i] = cap - 1 - i;
    this.freeTop = cap;
    this.highWater = 0;
  }
}

/** Symmetric in (src, sport) ↔ (dst, dport): both orientations of a flow hash alike. */
export function flowHash(a: Uint32Array, o: number, sp: number, dp: number, proto: number, ep: number): number {
  let x = Math.imul(a[o]! ^ a[o + 1]! ^ a[o + 2]!, 0x9e3779b1) ^ Math.imul(a[o + 3]! ^ (sp << 16), 0x85ebca6b);
  let y = Math.imul(a[o + 4]! ^ a[o + 5]! ^ a[o + 6]!, 0x9e3779b1) ^ Math.imul(a[o + 7]! ^ (dp << 16), 0x85ebca6b);
  x ^= x >>> 15;
  y ^= y >>> 15;
  let h = (x + y) ^ Math.imul(proto + 1, 0xc2b2ae35) ^ Math.imul(ep + 1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  // 30 bits, a small integer (Smi): as hashAddr in dp/policy/address.ts, an unsigned
  // 32-bit result is a heap number per call wherever the call is not inlined.
  return h & 0x3fffffff;
}

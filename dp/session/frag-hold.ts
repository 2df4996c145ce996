/**
 * Frames held back: non-first fragments of an inline endpoint that arrive before their
 * datagram's first fragment (which carries the ports the policy needs). They wait here,
 * copied into fixed slots, until the first fragment is judged: then they are sent (allowed)
 * or discarded (denied), or they expire with their datagram. Bounded in total and per
 * endpoint; preallocated, so holding and releasing allocate nothing.
 */
import { NO_SLOT } from './table.js';

/** Largest frame a slot holds: a 1500-byte MTU frame with two VLAN tags, rounded up. */
export const HOLD_SLOT_BYTES = 2048;

export class HoldStore {
  readonly capacity: number;
  readonly perEndpoint: number;
  private readonly arena: Buffer;
  /** One Buffer view per slot, made once, so a release hands out no new object. */
  private readonly views: Buffer[];
  private readonly len: Int32Array;
  private readonly owner: Int32Array;
  readonly next: Int32Array;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly perEp = new Map<number, number>();
  count = 0;

  constructor(capacity = 1024, perEndpoint = Math.max(1, capacity >> 2)) {
    this.capacity = capacity;
    this.perEndpoint = perEndpoint;
    this.arena = Buffer.alloc(capacity * HOLD_SLOT_BYTES);
    this.views = [];
    for (let i = 0; i < capacity; i++)
      this.views.push(this.arena.subarray(i * HOLD_SLOT_BYTES, (i + 1) * HOLD_SLOT_BYTES));
    this.len = new Int32Array(capacity);
    this.owner = new Int32Array(capacity);
    this.next = new Int32Array(capacity).fill(NO_SLOT);
    this.freeStack = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.freeStack[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  /** Copies buf[off .. off+len) into a slot of endpoint `ep`; NO_SLOT when full or too large. */
  hold(ep: number, buf: Uint8Array, off: number, len: number): number {
    if (len > HOLD_SLOT_BYTES || this.freeTop === 0) return NO_SLOT;
    const used = this.perEp.get(ep) ?? 0;
    if (used >= this.perEndpoint) return NO_SLOT;
    const s = this.freeStack[--this.freeTop]!;
    // A plain loop: a subarray view of the source would allocate per held frame.
    const a = this.arena;
    const base = s * HOLD_SLOT_BYTES;
    for (let i = 0; i < len; i++) a[base + i] = buf[off + i]!;
    this.len[s] = len;
    this.owner[s] = ep;
    this.next[s] = NO_SLOT;
    this.perEp.set(ep, used + 1);
    this.count++;
    return s;
  }

  frame(s: number): Buffer {
    return this.views[s]!;
  }

  length(s: number): number {
    return this.len[s]!;
  }

  free(s: number): void {
    const ep = this.owner[s]!;
    const used = (this.perEp.get(ep) ?? 1) - 1;
    if (used <= 0) this.perEp.delete(ep);
    else this.perEp.set(ep, used);
    this.next[s] = NO_SLOT;
    this.freeStack[this.freeTop++] = s;
    this.count--;
  }
}

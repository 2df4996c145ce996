import { MAX_INTERNAL_NETS } from './limits.js';
import { TollgateError } from '../../shared/errors.js';
import { MSG_END, MSG_START } from '../../shared/ctrl/flags.js';

/** NeuVector's DP_IPTYPE_* (case-insensitive strings); anything else, or absent, is NONE. */
export const IPTYPE = { none: 0, tunnelip: 1, svcip: 2, hostip: 3, devip: 4, uwlip: 5, extip: 6 } as const;

export function iptypeCode(s: string | undefined): number {
  if (s === undefined) return IPTYPE.none;
  const k = s.toLowerCase();
  return Object.hasOwn(IPTYPE, k) ? IPTYPE[k as keyof typeof IPTYPE] : IPTYPE.none;
}

export interface Subnet {
  /** Network address as an unsigned 32-bit integer (already masked). */
  net: number;
  mask: number;
  iptype: number;
}

export function ipv4ToNumber(s: string): number {
  const p = s.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/**
 * The "internal" (east-west) IPv4 space, committed atomically from START..END chunks.
 * An empty or never-set list means everything is internal; 127/8 always is.
 *
 * A chunk that fails validation aborts the pending transaction (its END would otherwise
 * commit a partial list), so the END that follows is rejected with ECHUNK and the
 * configuration in force stays as it was.
 */
export class InternalNets {
  private active: Subnet[] = [];
  private pending: Subnet[] | undefined;
  /** Bumped on every commit, so consumers can cache derived data. */
  version = 0;

  get subnets(): readonly Subnet[] {
    return this.active;
  }

  get hasPending(): boolean {
    return this.pending !== undefined;
  }

  /** Applies one chunk; returns true when it committed a new list (END). */
  applyChunk(
    flag: number,
    entries: readonly { ip: string; mask: string; iptype?: string | undefined }[],
    field: string,
  ): boolean {
    const parsed = entries.map((e) => {
      const mask = ipv4ToNumber(e.mask);
      return { net: (ipv4ToNumber(e.ip) & mask) >>> 0, mask, iptype: iptypeCode(e.iptype) };
    });
    if (flag & MSG_START) {
      this.pending = parsed;
    } else if (!this.pending) {
      throw new TollgateError('ECHUNK', 'chunk without START (flag bit 1) and no pending START', `${field}.flag`);
    } else {
      if (this.pending.length + parsed.length > MAX_INTERNAL_NETS) {
        this.pending = undefined;
        throw new TollgateError(
          'ELIMIT',
          `more than ${MAX_INTERNAL_NETS} internal subnets are refused (the pending list is abandoned)`,
          field,
        );
      }
      for (const s of parsed) this.pending.push(s);
    }
    if (flag & MSG_END) {
      this.active = this.pending;
      this.pending = undefined;
      this.version++;
      return true;
    }
    return false;
  }

  /** Drops a pending START..END transaction (after a bad chunk). */
  abortPending(): void {
    this.pending = undefined;
  }

  /** Data path: is `ip` (u32) internal? */
  isInternal(ip: number): boolean {
    if (ip >>> 24 === 127) return true;
    const a = this.active;
    if (a.length === 0) return true;
    for (let i = 0; i < a.length; i++) {
      const s = a[i]!;
      if ((ip & s.mask) >>> 0 === s.net) return true;
    }
    return false;
  }

  toJSON(): { ip: string; mask: string; iptype: number }[] {
    return this.active.map((s) => ({ ip: numberToIpv4(s.net), mask: numberToIpv4(s.mask), iptype: s.iptype }));
  }
}

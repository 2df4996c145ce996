/**
 * Addresses in the policy code are 128-bit values held as four u32 words (big-endian
 * word order), IPv4 mapped into ::ffff:0:0/96. One representation for both families
 * keeps rule matching a few integer compares with no allocation.
 */
import ipaddr from 'ipaddr.js';
import { TollgateError } from '../../shared/errors.js';

export type Addr128 = Uint32Array; // length 4

export function newAddr(): Addr128 {
  return new Uint32Array(4);
}

/** Writes an IPv4 address (host-order u32) into `out` as ::ffff:a.b.c.d. */
export function setV4(out: Addr128, v4: number): Addr128 {
  out[0] = 0;
  out[1] = 0;
  out[2] = 0xffff;
  out[3] = v4 >>> 0;
  return out;
}

/** Reads 16 address bytes at `off` of a frame into `out`. */
export function setV6FromBytes(out: Addr128, b: Uint8Array, off: number): Addr128 {
  for (let w = 0; w < 4; w++) {
    const o = off + w * 4;
    out[w] = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  return out;
}

export function isV4Mapped(a: Addr128): boolean {
  return a[0] === 0 && a[1] === 0 && a[2] === 0xffff;
}

/** -1, 0, 1 lexicographic compare. */
export function cmpAddr(a: Addr128, b: Addr128): number {
  for (let i = 0; i < 4; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export function inRange(a: Addr128, lo: Addr128, hi: Addr128): boolean {
  return cmpAddr(a, lo) >= 0 && cmpAddr(a, hi) <= 0;
}

/** Parses a dotted IPv4 or an IPv6 string (control plane; throws with the field named). */
export function parseAddr(s: string, field: string): Addr128 {
  if (typeof s !== 'string' || !(ipaddr.IPv4.isValidFourPartDecimal(s) || ipaddr.IPv6.isValid(s))) {
    throw new TollgateError('EBADFIELD', `invalid IP address ${JSON.stringify(s)}`, field);
  }
  const ip = ipaddr.parse(s);
  const out = newAddr();
  if (ip.kind() === 'ipv4') {
    const o = (ip as ipaddr.IPv4).octets;
    return setV4(out, ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0);
  }
  const p = (ip as ipaddr.IPv6).parts;
  for (let w = 0; w < 4; w++) out[w] = ((p[w * 2]! << 16) | p[w * 2 + 1]!) >>> 0;
  return out;
}

export function formatAddr(a: Addr128): string {
  if (isV4Mapped(a)) {
    const v = a[3]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts: number[] = [];
  for (let w = 0; w < 4; w++) parts.push(a[w]! >>> 16, a[w]! & 0xffff);
  return ipaddr.fromByteArray(parts.flatMap((p) => [p >> 8, p & 255])).toString();
}

/**
 * Mixes an address into a 30-bit hash (FNV-style over the words). 30 bits: a small
 * integer (Smi) in V8, so the result never becomes a heap number, which a call the
 * optimizer did not inline would allocate for an unsigned value of 2^31 or more.
 */
export function hashAddr(h: number, a: Addr128): number {
  for (let i = 0; i < 4; i++) h = Math.imul(h ^ a[i]!, 0x01000193);
  return h & 0x3fffffff;
}

/** A CIDR or ip/mask pair as an inclusive range. */
export interface AddrRange {
  lo: Addr128;
  hi: Addr128;
}

/** `ip` + dotted `mask` (ctrl_cfg_internal_net shape) → range; IPv6 takes a prefix length as mask. */
export function rangeFromMask(ip: string, mask: string, field: string): AddrRange {
  const base = parseAddr(ip, `${field}.ip`);
  let prefix: number;
  if (isV4Mapped(base)) {
    if (typeof mask !== 'string' || !ipaddr.IPv4.isValid(mask)) {
      throw new TollgateError('EBADFIELD', `invalid netmask ${JSON.stringify(mask)}`, `${field}.mask`);
    }
    const p = ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask();
    if (p === null) throw new TollgateError('EBADFIELD', `non-contiguous netmask ${mask}`, `${field}.mask`);
    prefix = 96 + p;
  } else {
    const n = Number(mask);
    if (!Number.isInteger(n) || n < 0 || n > 128) {
      throw new TollgateError('EBADFIELD', `invalid IPv6 prefix length ${JSON.stringify(mask)}`, `${field}.mask`);
    }
    prefix = n;
  }
  const lo = newAddr();
  const hi = newAddr();
  for (let w = 0; w < 4; w++) {
    const bits = Math.max(0, Math.min(32, prefix - w * 32));
    const m = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    lo[w] = (base[w]! & m) >>> 0;
    hi[w] = (lo[w]! | (~m >>> 0)) >>> 0;
  }
  return { lo, hi };
}

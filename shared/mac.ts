import { TollgateError } from './errors.js';

/** "NeuV" in ASCII: the prefix of every steering MAC, as NeuVector uses it. */
export const NEUV_PREFIX = [0x4e, 0x65, 0x75, 0x56] as const;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function isMac(s: string): boolean {
  return MAC_RE.test(s);
}

export function parseMac(s: string, field?: string): Buffer {
  if (!isMac(s)) throw new TollgateError('EBADMAC', `invalid MAC address "${s}"`, field);
  return Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
}

export function formatMac(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (b[off + i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

/** A MAC as a 48-bit integer (exact in a JS number): the allocation-free map key for the hot path. */
export function macToNumber(b: Uint8Array, off = 0): number {
  return (
    ((b[off]! << 8) | b[off + 1]!) * 0x1_0000_0000 +
    (((b[off + 2]! << 24) | (b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!) >>> 0)
  );
}

export function macStringToNumber(s: string, field?: string): number {
  return macToNumber(parseMac(s, field));
}

/** True when the 6 bytes at `off` start with "NeuV". */
export function isNeuvMac(b: Uint8Array, off: number): boolean {
  return b[off] === 0x4e && b[off + 1] === 0x65 && b[off + 2] === 0x75 && b[off + 3] === 0x56;
}

/** Unique per-port MAC 4e:65:75:56:HH:LL, HH:LL the high and low bytes of the vex ifindex. */
export function ucmacForIfindex(ifindex: number): string {
  const hh = (ifindex >> 8) & 0xff;
  const ll = ifindex & 0xff;
  return `4e:65:75:56:${hh.toString(16).padStart(2, '0')}:${ll.toString(16).padStart(2, '0')}`;
}

/** NeuVector's (unused on the packet path) broadcast twin ff:ff:ff:00:HH:LL. */
export function bcmacForIfindex(ifindex: number): string {
  const hh = (ifindex >> 8) & 0xff;
  const ll = ifindex & 0xff;
  return `ff:ff:ff:00:${hh.toString(16).padStart(2, '0')}:${ll.toString(16).padStart(2, '0')}`;
}

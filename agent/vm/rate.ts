import { TollgateError } from '../../shared/errors.js';

/** Rates are bits per second. Below 1 kbit/s HTB cannot shape meaningfully. */
export const MIN_RATE_BPS = 1_000;
/** 100 Gbit/s: above any link a VM tap sees; larger values are typos. */
export const MAX_RATE_BPS = 100_000_000_000;

/** Decimal (SI) multipliers, as tc uses them for `kbit`, `mbit`, `gbit`. */
const BIT_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  bit: 1,
  k: 1e3,
  kbit: 1e3,
  m: 1e6,
  mbit: 1e6,
  g: 1e9,
  gbit: 1e9,
  t: 1e12,
  tbit: 1e12,
};

/** tc reads these as BYTES per second; accepting them silently would be off by 8. */
const BYTE_UNITS = new Set(['bps', 'kbps', 'mbps', 'gbps', 'tbps']);

export type RateInput = number | string;

/**
 * Parses a rate in bits/s: a number (`50000000`), or a string with a bit unit
 * (`"50mbit"`, `"50M"`, `"1.5gbit"`, `"800k"`). Throws ERATE naming `field` for anything
 * that is not a finite rate in [1 kbit/s, 100 Gbit/s].
 */
export function parseRate(value: unknown, field: string): number {
  let bps: number;
  if (typeof value === 'number') {
    bps = value;
  } else if (typeof value === 'string') {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
    if (!m)
      throw new TollgateError(
        'ERATE',
        `not a rate: ${JSON.stringify(value)} (use e.g. 50mbit, 50M or 50000000)`,
        field,
      );
    const unit = (m[2] ?? '').toLowerCase();
    if (BYTE_UNITS.has(unit)) {
      throw new TollgateError(
        'ERATE',
        `unit "${m[2]}" is bytes/s in tc terms; give bits/s (e.g. ${m[1]}${unit[0] === 'b' ? '' : unit[0]}bit)`,
        field,
      );
    }
    const mult = BIT_UNITS[unit];
    if (mult === undefined)
      throw new TollgateError('ERATE', `unknown rate unit "${m[2]}" (bit, kbit, mbit, gbit or k, M, G)`, field);
    bps = Number(m[1]) * mult;
  } else {
    throw new TollgateError(
      'ERATE',
      `rate must be a number of bits/s or a string like "50mbit", got ${typeof value}`,
      field,
    );
  }
  if (!Number.isFinite(bps)) throw new TollgateError('ERATE', `rate is not a finite number: ${String(value)}`, field);
  if (bps <= 0) throw new TollgateError('ERATE', `rate must be positive, got ${String(value)}`, field);
  if (bps < MIN_RATE_BPS)
    throw new TollgateError('ERATE', `rate ${String(value)} is below the minimum of 1kbit`, field);
  if (bps > MAX_RATE_BPS)
    throw new TollgateError('ERATE', `rate ${String(value)} is above the maximum of 100gbit`, field);
  return Math.round(bps);
}

/** The tc spelling of a rate: plain `<n>bit`, exact for every value parseRate returns. */
export function tcRate(bps: number): string {
  return `${bps}bit`;
}

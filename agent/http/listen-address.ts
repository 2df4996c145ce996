/**
 * `--metrics` / `--ui` addresses: `PORT` (then 127.0.0.1: nothing is exposed beyond the
 * node unless asked), `ADDR:PORT`, or `[V6ADDR]:PORT`.
 */
import ipaddr from 'ipaddr.js';
import { TollgateError } from '../../shared/errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(s: string, flag: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]:|([0-9.]+):)?(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[3]) : NaN;
  const host = m ? (m[1] ?? m[2] ?? '127.0.0.1') : '';
  // Dotted quads only: ipaddr.isValid would also take inet_aton forms such as "1.2.3".
  const validHost = m && (m[1] !== undefined ? ipaddr.IPv6.isValid(host) : ipaddr.IPv4.isValidFourPartDecimal(host));
  if (!m || port < 1 || port > 65535 || !validHost) {
    throw new TollgateError('EBADARG', `${flag} needs PORT, ADDR:PORT or [ADDR]:PORT (port 1-65535), got "${s}"`, flag);
  }
  return { host, port };
}

/** How to write it in a URL. */
export function urlHost(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * For a loopback bind, the Host header must name the loopback too: a web page whose DNS
 * name re-resolves to 127.0.0.1 (DNS rebinding) sends its own name and is refused.
 */
export function hostHeaderAllowed(host: string | undefined, a: ListenAddress): boolean {
  if (!ipaddr.parse(a.host).range().startsWith('loopback')) return true;
  const ok = [`127.0.0.1:${a.port}`, `localhost:${a.port}`, `[::1]:${a.port}`, `${urlHost(a)}`];
  return ok.includes((host ?? '').toLowerCase());
}

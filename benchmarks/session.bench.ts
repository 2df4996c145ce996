import { SessionTable } from '../dp/session/table.js';
import type { MicroCase } from './harness.js';

/** Sessions in the table while it is looked up: a busy node's worth. */
const SESSIONS = 50_000;

/**
 * Finding a packet's session in the session table (hash of the 5-tuple and endpoint,
 * both directions), half the lookups from the server side, against a plain Map lookup of
 * a number key per session: the cheapest keyed lookup JavaScript has.
 */
export function sessionCase(): MicroCase {
  const t = new SessionTable(SESSIONS * 2);
  const fwd = new Uint32Array(SESSIONS * 8);
  const rev = new Uint32Array(SESSIONS * 8);
  const map = new Map<number, number>();
  for (let i = 0; i < SESSIONS; i++) {
    const o = i * 8;
    // client 198.19.x.y, server 198.18.0.10, IPv4 mapped into IPv6 words (::ffff:a.b.c.d)
    fwd[o + 2] = rev[o + 6] = 0xffff;
    fwd[o + 3] = rev[o + 7] = (198 << 24) | (19 << 16) | i;
    fwd[o + 6] = rev[o + 2] = 0xffff;
    fwd[o + 7] = rev[o + 3] = (198 << 24) | (18 << 16) | 10;
    t.insert(fwd, o, 40000 + (i % 20000), 80, 6, 1, false, 0);
    map.set(i, i);
  }
  return {
    name: `session lookup (${SESSIONS.toLocaleString('en')} sessions, both directions)`,
    baselineName: 'Map.get of a number key',
    baseline: (i) => map.get(i % SESSIONS)!,
    subject: (i) => {
      const k = i % SESSIONS;
      const sp = 40000 + (k % 20000);
      return (i & 1) === 0 ? t.find(fwd, k * 8, sp, 80, 6, 1) : t.find(rev, k * 8, 80, sp, 6, 1);
    },
  };
}

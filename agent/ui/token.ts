/**
 * The graph page's authority to change state: a random token in a root-only file (0600,
 * in the daemon's 0700 run directory beside the API socket), so exactly who can use the
 * API socket can read it. `agent run --ui` prints the page URL with the token in the
 * fragment (never sent to the server in the URL; the page sends it as a Bearer header).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class UiToken {
  readonly value = randomBytes(32).toString('hex');

  constructor(readonly path: string) {}

  write(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    writeFileSync(this.path, `${this.value}\n`, { mode: 0o600 });
    chmodSync(this.path, 0o600);
  }

  remove(): void {
    try {
      unlinkSync(this.path);
    } catch {
      /* gone */
    }
  }

  /** `Authorization: Bearer <token>`, compared in constant time. */
  accepts(header: string | undefined): boolean {
    const m = /^Bearer ([0-9a-f]{64})$/.exec(header ?? '');
    if (!m) return false;
    return timingSafeEqual(Buffer.from(m[1]!), Buffer.from(this.value));
  }
}

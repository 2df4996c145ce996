/**
 * Control-socket counters, reported by ctrl_counter_device under "ctrl". Error counts
 * are kept per stable code (EBADJSON, EBADFIELD, ...), so a test or an operator can see
 * what kind of input was rejected and how often.
 */
import type { ErrorCode } from '../../shared/errors.js';
import type { CtrlCounterName } from '../../shared/names/counters.js';

export class CtrlCounters {
  datagrams = 0;
  messages = 0;
  ok = 0;
  errors = 0;
  repliesSent = 0;
  replyErrors = 0;
  readonly errorsByCode = new Map<string, number>();
  readonly messagesByName = new Map<string, number>();

  /** Counts one error of `code`; returns the running count for that code. */
  countError(code: ErrorCode): number {
    this.errors++;
    const n = (this.errorsByCode.get(code) ?? 0) + 1;
    this.errorsByCode.set(code, n);
    return n;
  }

  countMessage(name: string): void {
    this.messages++;
    this.messagesByName.set(name, (this.messagesByName.get(name) ?? 0) + 1);
  }

  /** Every name of CTRL_COUNTERS (shared/names/counters.ts), no other. */
  toJSON(): Record<CtrlCounterName, number | Record<string, number>> {
    return {
      datagrams: this.datagrams,
      messages: this.messages,
      ok: this.ok,
      errors: this.errors,
      repliesSent: this.repliesSent,
      replyErrors: this.replyErrors,
      errorsByCode: Object.fromEntries(this.errorsByCode),
      messagesByName: Object.fromEntries(this.messagesByName),
    };
  }
}

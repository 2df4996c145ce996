/**
 * Control-plane errors: a stable code, a human message, and the path of the offending
 * field (e.g. `workloads[1].mac`) where there is one. Data-path code never throws these;
 * it returns codes and counts reasons instead.
 */
export class TollgateError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'TollgateError';
  }
}

export function isTollgateError(e: unknown): e is TollgateError {
  return e instanceof TollgateError;
}

/** Best-effort message of any thrown value, for logs and error replies. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

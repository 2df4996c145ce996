import { isTollgateError, errorMessage, type ErrorCode } from '../../shared/errors.js';
import { handlers, onRejected, type Handler } from './handlers/index.js';
import { DP_MSG_SIZE } from './limits.js';
import { isCtrlName, schemas, type CtrlName } from '../../shared/ctrl/schemas.js';
import type { DpState, LazyReplies, Reply } from './state.js';

/** A rejected message, as replied (dp_error) and logged. */
export interface CtrlError {
  code: ErrorCode;
  message: string;
  field?: string;
  ctrl?: string;
}

/**
 * Handles one datagram: size check, JSON parse, then every top-level key in order (as
 * NeuVector does), each validated against its schema and run by its handler inside a
 * try/catch. Returns the reply datagrams as JSON text: each message gets exactly one
 * final reply (data, dp_ok or dp_error); a bad key never stops the keys after it, and
 * nothing here throws. Errors are counted and logged with their reason.
 */
export function dispatchDatagram(buf: Buffer, state: DpState): string[] {
  const out: string[] = [];
  for (const part of dispatchParts(buf, state)) for (const r of part) out.push(r);
  return out;
}

/**
 * dispatchDatagram for the socket: every message is applied now, but a streamed reply (a
 * session list) is built only as the socket takes its datagrams.
 */
export function dispatchDatagramStream(buf: Buffer, state: DpState): Iterable<string> {
  const parts = dispatchParts(buf, state);
  return (function* () {
    for (const p of parts) yield* p;
  })();
}

/** Applies every message of the datagram; returns each one's replies (a list, or a lazy sequence). */
function dispatchParts(buf: Buffer, state: DpState): Iterable<string>[] {
  const cc = state.ctrlCounters;
  cc.datagrams++;
  const out: Iterable<string>[] = [];
  if (buf.length > DP_MSG_SIZE) {
    out.push([reject(state, { code: 'EMSGSIZE', message: `datagram of ${buf.length} bytes exceeds ${DP_MSG_SIZE}` })]);
    return out;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    out.push([reject(state, { code: 'EBADJSON', message: `invalid JSON: ${errorMessage(e)}` })]);
    return out;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    out.push([reject(state, { code: 'EBADJSON', message: 'top level must be a JSON object {"ctrl_xxx": {...}}' })]);
    return out;
  }
  const keys = Object.keys(doc);
  if (keys.length === 0) {
    out.push([reject(state, { code: 'EEMPTY', message: 'no ctrl_* message in the object' })]);
    return out;
  }
  for (const key of keys) out.push(dispatchOne(key, (doc as Record<string, unknown>)[key], state));
  return out;
}

function dispatchOne(key: string, body: unknown, state: DpState): Iterable<string> {
  if (!isCtrlName(key)) {
    return [
      reject(state, { code: 'EUNKNOWNCTRL', message: `unknown message "${truncate(key)}"`, field: truncate(key) }),
    ];
  }
  state.ctrlCounters.countMessage(key);
  const parsed = schemas[key].safeParse(body);
  if (!parsed.success) {
    onRejected[key]?.(state);
    const issue = parsed.error.issues[0];
    const path = issue ? issue.path.map(String).join('.') : '';
    const missing = issue?.code === 'invalid_type' && valueAt(body, issue.path) === undefined;
    return [
      reject(state, {
        code: missing ? 'EMISSING' : 'EBADFIELD',
        message: missing ? 'required field is missing' : (issue?.message ?? 'invalid message'),
        field: path ? `${key}.${path}` : key,
        ctrl: key,
      }),
    ];
  }
  try {
    const res = (handlers[key] as Handler<CtrlName>)(parsed.data as never, state);
    state.ctrlCounters.ok++;
    if (res === undefined) return [JSON.stringify({ dp_ok: { ctrl: key } })];
    if (Array.isArray(res)) return res.map((r: Reply | string) => (typeof r === 'string' ? r : JSON.stringify(r)));
    if (isLazy(res)) return res;
    return [JSON.stringify(res)];
  } catch (e) {
    onRejected[key]?.(state);
    if (isTollgateError(e)) {
      return [
        reject(state, { code: e.code, message: rawMessage(e), field: e.field ? `${key}.${e.field}` : key, ctrl: key }),
      ];
    }
    state.log.error({ err: e, ctrl: key }, 'control handler failed');
    return [reject(state, { code: 'EINTERNAL', message: errorMessage(e), field: key, ctrl: key })];
  }
}

/** Counts and logs a rejected message; returns its dp_error reply text. */
function reject(state: DpState, err: CtrlError): string {
  const count = state.ctrlCounters.countError(err.code);
  state.log.warn(
    { code: err.code, field: err.field, ctrl: err.ctrl, reason: err.message, count },
    'control message rejected',
  );
  return JSON.stringify({ dp_error: { ...err, count } });
}

/** TollgateError prefixes its message with the field; the reply carries the field separately. */
function rawMessage(e: Error & { field?: string | undefined }): string {
  return e.field && e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = body;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}

function isLazy(x: unknown): x is LazyReplies {
  return (
    typeof x === 'object' && x !== null && typeof (x as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function'
  );
}

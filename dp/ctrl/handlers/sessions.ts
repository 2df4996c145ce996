import { streamReplies } from '../chunk-replies.js';
import { MAX_LISTED_SESSIONS } from '../limits.js';
import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState, Reply } from '../state.js';

/** The engine's session count, as an object (a bare number becomes {sessions: n}). */
export function sessionCountObject(state: DpState): Record<string, unknown> {
  const c = state.engine.sessionCount();
  if (typeof c === 'number') return { sessions: c };
  return c !== null && typeof c === 'object' ? { ...(c as Record<string, unknown>) } : { sessions: 0 };
}

export function countSession(_msg: CtrlMessage<'ctrl_count_session'>, state: DpState): Reply {
  return { dp_session_count: sessionCountObject(state) };
}

/**
 * Session list in as many datagrams as needed: {"dp_session_list":{"more":bool,"sessions":[...]}}.
 * Streamed: the datagrams are built as the socket takes them, from the table as it is then.
 */
export function listSession(_msg: CtrlMessage<'ctrl_list_session'>, state: DpState): Iterable<string> {
  let listed = 0;
  let truncated = 0;
  const records = state.engine.sessionRecords(MAX_LISTED_SESSIONS + 1);
  function* capped(): Generator<unknown> {
    for (const r of records) {
      if (listed === MAX_LISTED_SESSIONS) {
        truncated = 1;
        return;
      }
      listed++;
      yield r;
    }
  }
  return streamReplies('dp_session_list', 'sessions', capped(), () => ({ total: listed, truncated }));
}

export function clearSession(msg: CtrlMessage<'ctrl_clear_session'>, state: DpState): void {
  const cleared = state.engine.clearSessions(msg.filter_id);
  state.log.info({ filter_id: msg.filter_id, cleared }, 'sessions cleared');
}

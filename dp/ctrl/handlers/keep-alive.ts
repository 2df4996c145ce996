import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { Reply } from '../state.js';

/** Liveness probe: echoes seq_num so the client can match the reply to its probe. */
export function keepAlive(msg: CtrlMessage<'ctrl_keep_alive'>): Reply {
  return { dp_keep_alive: { seq_num: msg.seq_num } };
}

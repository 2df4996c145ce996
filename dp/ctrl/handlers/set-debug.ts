import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/**
 * Replaces the debug categories. "all" or "ctrl" (or any category) lowers the log level
 * to debug; an empty list returns to the level dp started with. The packet path never
 * logs per frame whatever the categories say (that would cost more than the forwarding).
 */
export function setDebug(msg: CtrlMessage<'ctrl_set_debug'>, state: DpState): void {
  state.debugCategories = new Set(msg.categories);
  state.log.level = msg.categories.length ? 'debug' : state.baseLogLevel;
  state.log.info({ categories: msg.categories }, 'debug categories set');
}

import { TollgateError } from '../../../shared/errors.js';
import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/** Closes a service port; endpoints and sessions stay (the port may come back). */
export function delSrvcPort(msg: CtrlMessage<'ctrl_del_srvc_port'>, state: DpState): void {
  if (!state.ports?.close(msg.iface)) {
    throw new TollgateError('ENOTFOUND', `service port "${msg.iface}" is not open`, 'iface');
  }
  state.log.info({ iface: msg.iface }, 'service port closed');
}

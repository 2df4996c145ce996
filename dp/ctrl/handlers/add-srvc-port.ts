import { TollgateError } from '../../../shared/errors.js';
import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/** Opens the service port (vth) for live inline I/O; re-adding an open port re-opens it. */
export function addSrvcPort(msg: CtrlMessage<'ctrl_add_srvc_port'>, state: DpState): void {
  if (!state.ports) throw new TollgateError('ENOLIVE', 'this dp runs without live I/O', 'iface');
  const port = state.ports.open(msg.iface);
  state.log.info({ iface: msg.iface, mtu: port.mtu, jumboframe: msg.jumboframe ?? false }, 'service port open');
}

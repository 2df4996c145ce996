import { TollgateError } from '../../../shared/errors.js';
import type { CtrlMessage } from '../schemas.js';
import type { DpState } from '../state.js';

/** Removes an EP and purges its sessions. */
export function delMac(msg: CtrlMessage<'ctrl_del_mac'>, state: DpState): void {
  const ep = state.registry.delete(msg.mac);
  if (!ep) throw new TollgateError('ENOTFOUND', `no endpoint with mac ${msg.mac}`, 'mac');
  state.engine.purgeEndpoint(ep.id);
  state.policy.forgetEndpoint(ep.id);
  state.events?.forget(ep.id);
  state.log.info({ mac: ep.mac, id: ep.id }, 'endpoint deleted');
}

import { TollgateError } from '../../../shared/errors.js';
import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/** Removes an EP and purges its sessions. */
export function delMac(msg: CtrlMessage<'ctrl_del_mac'>, state: DpState): void {
  // --- fast path: the endpoint's flows leave the kernel before the endpoint goes (dp/fastpath/) ---
  const known = state.registry.byMac(msg.mac);
  if (known && state.fastPath) state.fastPath.removeEndpoints([known.id]);
  const ep = state.registry.delete(msg.mac);
  if (!ep) throw new TollgateError('ENOTFOUND', `no endpoint with mac ${msg.mac}`, 'mac');
  state.engine.purgeEndpoint(ep.id);
  state.policy.forgetEndpoint(ep.id);
  state.events?.forget(ep.id);
  state.log.info({ mac: ep.mac, id: ep.id }, 'endpoint deleted');
}

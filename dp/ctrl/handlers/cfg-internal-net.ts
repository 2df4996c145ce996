import type { CtrlMessage } from '../schemas.js';
import type { DpState } from '../state.js';

/** One START..END chunk of the internal (east-west) subnet list; committed on END. */
export function cfgInternalNet(msg: CtrlMessage<'ctrl_cfg_internal_net'>, state: DpState): void {
  const committed = state.internalNets.applyChunk(msg.flag, msg.subnet_addr, 'subnet_addr');
  if (committed) state.log.info({ subnets: state.internalNets.subnets.length }, 'internal nets committed');
}

/** A rejected chunk voids the pending transaction, so a later END cannot commit half a list. */
export function cfgInternalNetRejected(state: DpState): void {
  state.internalNets.abortPending();
}

import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';
import { newAddr, setV4 } from '../../policy/address.js';

/** One START..END chunk of the internal (east-west) subnet list; committed on END. */
export function cfgInternalNet(msg: CtrlMessage<'ctrl_cfg_internal_net'>, state: DpState): void {
  const committed = state.internalNets.applyChunk(msg.flag, msg.subnet_addr, 'subnet_addr');
  if (!committed) return;
  // --- fast path: internal/external decides policy for every endpoint (dp/fastpath/) ---
  state.fastPath?.removeAll();
  // The policy's internal/external test uses the same list (IPv4 as ::ffff:a.b.c.d ranges).
  state.policy.setInternalNets(
    state.internalNets.subnets.map((n) => ({
      lo: setV4(newAddr(), n.net),
      hi: setV4(newAddr(), (n.net | ~n.mask) >>> 0),
    })),
  );
  state.log.info({ subnets: state.internalNets.subnets.length }, 'internal nets committed');
}

/** A rejected chunk voids the pending transaction, so a later END cannot commit half a list. */
export function cfgInternalNetRejected(state: DpState): void {
  state.internalNets.abortPending();
}

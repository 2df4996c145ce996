import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/**
 * One START..END chunk of an endpoint set's policy. On END the rules are compiled and
 * swapped in; sessions of those endpoints are decided again on their next packet (a
 * now-denied inline TCP session is cut with resets both ways).
 */
export function cfgPolicy(msg: CtrlMessage<'ctrl_cfg_policy'>, state: DpState): void {
  // --- fast path: a committing chunk first takes these endpoints' flows out of the
  // kernel, so none of them is forwarded there under the old decision (dp/fastpath/) ---
  if (state.fastPath && (msg.cmd === 3 || (msg.flag & 2) !== 0))
    state.fastPath.removeEndpoints(endpointIds(msg.mac, state));
  const ids = state.policyChunks.apply(msg, state.policy, (mac) => state.registry.byMac(mac)?.id);
  if (ids)
    state.log.info(
      { endpoints: ids.length, cmd: msg.cmd, defact: msg.defact, rules: msg.rules?.length ?? 0 },
      'policy committed',
    );
}

export function cfgPolicyRejected(state: DpState): void {
  state.policyChunks.abort();
}

/** NeuVector allows all ICMP unless this is on; with it, ICMP is matched like TCP/UDP. */
export function enableIcmpPolicy(msg: CtrlMessage<'ctrl_enable_icmp_policy'>, state: DpState): void {
  state.policy.enableIcmpPolicy = msg.enable_icmp_policy;
}

function endpointIds(macs: readonly string[], state: DpState): number[] {
  const ids: number[] = [];
  for (const m of macs) {
    const id = state.registry.byMac(m)?.id;
    if (id !== undefined) ids.push(id);
  }
  return ids;
}

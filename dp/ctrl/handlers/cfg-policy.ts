import type { CtrlMessage } from '../schemas.js';
import type { DpState } from '../state.js';

/**
 * One START..END chunk of an endpoint set's policy. On END the rules are compiled and
 * swapped in; sessions of those endpoints are decided again on their next packet (a
 * now-denied inline TCP session is cut with resets both ways).
 */
export function cfgPolicy(msg: CtrlMessage<'ctrl_cfg_policy'>, state: DpState): void {
  const ids = state.policyChunks.apply(msg, state.policy, (mac) => state.registry.byMac(mac)?.id);
  if (ids) state.log.info({ endpoints: ids.length, cmd: msg.cmd, defact: msg.defact, rules: msg.rules?.length ?? 0 }, 'policy committed');
}

export function cfgPolicyRejected(state: DpState): void {
  state.policyChunks.abort();
}

/** NeuVector allows all ICMP unless this is on; with it, ICMP is matched like TCP/UDP. */
export function enableIcmpPolicy(msg: CtrlMessage<'ctrl_enable_icmp_policy'>, state: DpState): void {
  state.policy.enableIcmpPolicy = msg.enable_icmp_policy;
}

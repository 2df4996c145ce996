import type { CtrlMessage, CtrlName } from '../../../shared/ctrl/schemas.js';
import type { DpState, HandlerOutput } from '../state.js';
import { addMac } from './add-mac.js';
import { addSrvcPort } from './add-srvc-port.js';
import { cfgInternalNet, cfgInternalNetRejected } from './cfg-internal-net.js';
import { cfgMac } from './cfg-mac.js';
import { cfgPolicy, cfgPolicyRejected, enableIcmpPolicy } from './cfg-policy.js';
import { delMac } from './del-mac.js';
import { delSrvcPort } from './del-srvc-port.js';
import { keepAlive } from './keep-alive.js';
import { listMac } from './list-mac.js';
import { clearSession, countSession, listSession } from './sessions.js';
import { setDebug } from './set-debug.js';
import { counterDevice, statsDevice, statsMacs } from './stats.js';

export type Handler<N extends CtrlName> = (msg: CtrlMessage<N>, state: DpState) => HandlerOutput;

/** One handler per ctrl_* message; the schema table (schemas.ts) has exactly these keys. */
export const handlers: { [N in CtrlName]: Handler<N> } = {
  ctrl_keep_alive: keepAlive,
  ctrl_add_srvc_port: addSrvcPort,
  ctrl_del_srvc_port: delSrvcPort,
  ctrl_cfg_internal_net: cfgInternalNet,
  ctrl_add_mac: addMac,
  ctrl_del_mac: delMac,
  ctrl_cfg_mac: cfgMac,
  ctrl_count_session: countSession,
  ctrl_list_session: listSession,
  ctrl_clear_session: clearSession,
  ctrl_stats_device: statsDevice,
  ctrl_counter_device: counterDevice,
  ctrl_stats_macs: statsMacs,
  ctrl_list_mac: listMac,
  ctrl_set_debug: setDebug,
  ctrl_cfg_policy: cfgPolicy,
  ctrl_enable_icmp_policy: enableIcmpPolicy,
};

/** Extra clean-up when a message of this kind is rejected (before or inside its handler). */
export const onRejected: Partial<Record<CtrlName, (state: DpState) => void>> = {
  ctrl_cfg_internal_net: cfgInternalNetRejected,
  ctrl_cfg_policy: cfgPolicyRejected,
};

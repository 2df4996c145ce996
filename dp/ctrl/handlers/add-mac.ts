import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/**
 * Adds a workload EP under its mac, ucmac and bcmac. Same mac or oldmac already known →
 * the new record inherits its id, tap flag, counters and apps (NeuVector's tap↔inline
 * switch); a new EP starts tapped.
 */
export function addMac(msg: CtrlMessage<'ctrl_add_mac'>, state: DpState): void {
  const { ep, inheritedFrom } = state.registry.add({
    iface: msg.iface,
    mac: msg.mac,
    ucmac: msg.ucmac,
    bcmac: msg.bcmac,
    oldmac: msg.oldmac,
  });
  // Events name the endpoint by its MAC: a replaced record must not keep the old one.
  state.events?.forget(ep.id);
  state.log.info(
    { mac: ep.mac, ucmac: ep.ucmac, id: ep.id, tap: ep.tap, inherited: inheritedFrom?.mac },
    'endpoint added',
  );
}

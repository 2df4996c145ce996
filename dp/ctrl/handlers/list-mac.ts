import { chunkReplies } from '../chunk-replies.js';
import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/** Tollgate extension: every EP with its keys and mode, chunked like the session list. */
export function listMac(_msg: CtrlMessage<'ctrl_list_mac'>, state: DpState): string[] {
  const eps = state.registry.list().map((ep) => ({
    id: ep.id,
    iface: ep.iface,
    mac: ep.mac,
    ucmac: ep.ucmac,
    bcmac: ep.bcmac,
    tap: ep.tap,
    apps: ep.apps?.size ?? 0,
  }));
  return chunkReplies('dp_mac_list', 'macs', eps, { total: eps.length });
}

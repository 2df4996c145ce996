import { TollgateError } from '../../../shared/errors.js';
import { appKey, type Endpoint } from '../../endpoints/endpoint.js';
import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState } from '../state.js';

/**
 * Sets tap/inline and the controller's listening-port map of the listed EPs. All MACs
 * are checked first: one unknown MAC rejects the whole message and changes nothing.
 * `apps` replaces the ctrl-sourced entries; entries the dp learned itself are kept.
 */
export function cfgMac(msg: CtrlMessage<'ctrl_cfg_mac'>, state: DpState): void {
  const eps: Endpoint[] = msg.macs.map((mac, i) => {
    const ep = state.registry.byMac(mac);
    if (!ep) throw new TollgateError('ENOTFOUND', `no endpoint with mac ${mac}`, `macs.${i}`);
    return ep;
  });
  // --- fast path: a mode switch takes the endpoints' flows out of the kernel first (dp/fastpath/) ---
  if (state.fastPath && msg.tap !== undefined)
    state.fastPath.removeEndpoints(eps.filter((e) => e.tap !== msg.tap).map((e) => e.id));
  // A mode change is a policy input: the endpoints' sessions are decided again (and a
  // session denied while tapped is cut on its next packet once inline).
  const moved = eps.filter((ep) => msg.tap !== undefined && ep.tap !== msg.tap).map((ep) => ep.id);
  if (moved.length) state.policy.touch(moved);
  for (const ep of eps) {
    if (msg.tap !== undefined) ep.tap = msg.tap;
    if (msg.apps) {
      const apps = (ep.apps ??= new Map());
      for (const [k, a] of apps) if (a.source === 'ctrl') apps.delete(k);
      for (const a of msg.apps) {
        apps.set(appKey(a.ip_proto, a.port), {
          ipProto: a.ip_proto,
          port: a.port,
          app: a.app,
          server: a.server,
          source: 'ctrl',
        });
      }
    }
  }
  state.log.info({ macs: msg.macs, tap: msg.tap, apps: msg.apps?.length }, 'endpoints configured');
}

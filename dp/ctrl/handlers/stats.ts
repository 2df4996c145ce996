import { TollgateError } from '../../../shared/errors.js';
import { newCounters, type Endpoint } from '../../endpoints/endpoint.js';
import type { CtrlMessage } from '../../../shared/ctrl/schemas.js';
import type { DpState, Reply } from '../state.js';
import { sessionCountObject } from './sessions.js';

/** Device-wide traffic totals since start (live path), sessions and configuration sizes. */
export function statsDevice(_msg: CtrlMessage<'ctrl_stats_device'>, state: DpState): Reply {
  const c = state.pipelineCounters;
  return {
    dp_stats_device: {
      uptime_s: Math.floor((Date.now() - state.startedAtMs) / 1000),
      rx_packets: c.rxPackets,
      rx_bytes: c.rxBytes,
      tx_packets: c.txPackets,
      tx_bytes: c.txBytes,
      drop_packets: c.dropPackets,
      endpoints: state.registry.size,
      ports: state.ports?.list() ?? [],
      internal_nets: state.internalNets.subnets.length,
      sessions: sessionCountObject(state),
    },
  };
}

/** Every counter: the live path's, the engine's and the control socket's (errors by code). */
export function counterDevice(_msg: CtrlMessage<'ctrl_counter_device'>, state: DpState): Reply {
  // --- fast path: fold the kernel's counts in first, so the reply is current (dp/fastpath/) ---
  const fp = state.fastPath;
  fp?.sync(Date.now());
  return {
    dp_counter_device: {
      pipeline: { ...state.pipelineCounters },
      engine: state.engine.counters,
      ctrl: state.ctrlCounters.toJSON(),
      ...(fp ? { fastPath: { ...fp.counters } } : {}),
    },
  };
}

/**
 * Per-EP counters summed over the listed MACs (NeuVector sums too). Unknown MACs are
 * listed in "unknown"; if none is known the request is an error.
 */
export function statsMacs(msg: CtrlMessage<'ctrl_stats_macs'>, state: DpState): Reply {
  const sum = newCounters();
  const unknown: string[] = [];
  const found: Endpoint[] = [];
  for (const mac of msg.macs) {
    const ep = state.registry.byMac(mac);
    if (!ep) unknown.push(mac);
    else found.push(ep);
  }
  if (found.length === 0) throw new TollgateError('ENOTFOUND', `no endpoint with mac ${msg.macs.join(', ')}`, 'macs');
  for (const ep of found) {
    const c = ep.counters;
    sum.rxPackets += c.rxPackets;
    sum.rxBytes += c.rxBytes;
    sum.txPackets += c.txPackets;
    sum.txBytes += c.txBytes;
    sum.dropPackets += c.dropPackets;
    sum.sessions += c.sessions;
    sum.curSessions += c.curSessions;
  }
  return {
    dp_stats_macs: {
      macs: found.map((ep) => ep.mac),
      unknown,
      tap: found.map((ep) => ep.tap),
      rx_packets: sum.rxPackets,
      rx_bytes: sum.rxBytes,
      tx_packets: sum.txPackets,
      tx_bytes: sum.txBytes,
      drop_packets: sum.dropPackets,
      sessions: sum.sessions,
      cur_sessions: sum.curSessions,
    },
  };
}

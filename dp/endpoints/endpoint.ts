/**
 * A workload endpoint as the dp knows it (NeuVector's EP): keyed by its real MAC, its
 * unique steering MAC (ucmac) and bcmac. Counters are plain numbers mutated in place on
 * the hot path (no allocation).
 */
import { ENDPOINT_COUNTERS, namesOf, zeroed, type EndpointCounterName } from '../../shared/names/counters.js';

/** Names, merge rule and meaning: shared/names/counters.ts. */
export type EndpointCounters = Record<EndpointCounterName, number>;

export interface Endpoint {
  /** Small integer id, stable for the EP's life (used in session records). */
  id: number;
  iface: string;
  mac: string;
  ucmac: string;
  bcmac: string;
  /** 48-bit integer forms, for allocation-free lookups. */
  macNum: number;
  ucmacNum: number;
  /** bcmac as a number (optional so engine-made dummy EPs need not set it). */
  bcmacNum?: number;
  /** Listening-port map from ctrl_cfg_mac.apps (and later dp learning), keyed by appKey(). */
  apps?: Map<number, EndpointApp>;
  /** tap: inspect only, never forward. A new EP starts tapped, as in NeuVector. */
  tap: boolean;
  counters: EndpointCounters;
}

export function newCounters(): EndpointCounters {
  return zeroed(namesOf(ENDPOINT_COUNTERS));
}

/** One listening port of a workload: NeuVector's app map entry. */
export interface EndpointApp {
  ipProto: number;
  port: number;
  app: number;
  server: number;
  /** 'ctrl' entries are replaced by each ctrl_cfg_mac.apps; 'dp' entries (learned) are kept. */
  source: 'ctrl' | 'dp';
}

/** Numeric key of an app entry: protocol and port in one integer. */
export function appKey(ipProto: number, port: number): number {
  return ipProto * 0x10000 + port;
}

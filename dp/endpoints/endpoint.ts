/**
 * A workload endpoint as the dp knows it (NeuVector's EP): keyed by its real MAC, its
 * unique steering MAC (ucmac) and bcmac. Counters are plain numbers mutated in place on
 * the hot path (no allocation).
 */
export interface EndpointCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  dropPackets: number;
  sessions: number;
  curSessions: number;
}

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
  /** tap: inspect only, never forward. A new EP starts tapped, as in NeuVector. */
  tap: boolean;
  counters: EndpointCounters;
}

export function newCounters(): EndpointCounters {
  return { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, dropPackets: 0, sessions: 0, curSessions: 0 };
}

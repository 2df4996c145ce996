/**
 * Idle timeouts in milliseconds, NeuVector's defaults (dpi_session.c): a session expires
 * when no packet was seen for this long in its current state.
 */
export const TIMEOUT_MS = {
  tcpOpen: 20_000, // SYN or SYN-ACK seen, handshake not complete
  tcpActive: 1_200_000, // established, payload seen
  tcpActiveNoData: 30_000, // established, no payload yet in either direction
  tcpHalfClose: 90_000, // one FIN
  tcpClose: 15_000, // both FINs
  tcpRst: 60_000, // reset (kept so late segments still match)
  udp: 30_000,
  icmp: 5_000,
  ip: 15_000,
} as const;

/**
 * TCP connection tracking, per session: which handshake step, which side closed. The
 * engine decides creation (SYN, SYN-ACK, mid-stream; never on RST or FIN); this module
 * moves an existing session along and names its idle timeout.
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../decode/packet.js';
import { TIMEOUT_MS } from './timeouts.js';

export const TcpState = {
  None: 0,
  SynSent: 1,
  SynReceived: 2,
  Established: 3,
  HalfClosed: 4,
  Closed: 5,
  Reset: 6,
} as const;

export const TCP_STATE_NAMES = [
  'none',
  'syn_sent',
  'syn_received',
  'established',
  'half_closed',
  'closed',
  'reset',
] as const;

/** Session flag bits (SessionTable.flags). */
export const SF_CLIENT_FIN = 0x01;
export const SF_SERVER_FIN = 0x02;
export const SF_MIDSTREAM = 0x04;
export const SF_INGRESS = 0x08;
export const SF_DATA = 0x10;
/** An inline session that is DENY has been cut (resets sent, violation reported). */
export const SF_CUT = 0x20;

/**
 * Next state after a segment. `fromClient`: the segment travels client → server.
 * Returns the new state and updates fin/data bits through `flagsOut` (returned combined
 * as state | flags << 8 to avoid allocating a pair).
 */
export function tcpAdvance(
  state: number,
  flags: number,
  tcpFlags: number,
  fromClient: boolean,
  payloadLen: number,
): number {
  if (payloadLen > 0) flags |= SF_DATA;
  if ((tcpFlags & TCP_RST) !== 0) return TcpState.Reset | (flags << 8);
  if (state === TcpState.Reset) return state | (flags << 8);
  if ((tcpFlags & TCP_FIN) !== 0) {
    flags |= fromClient ? SF_CLIENT_FIN : SF_SERVER_FIN;
    const both = (flags & (SF_CLIENT_FIN | SF_SERVER_FIN)) === (SF_CLIENT_FIN | SF_SERVER_FIN);
    return (both ? TcpState.Closed : TcpState.HalfClosed) | (flags << 8);
  }
  switch (state) {
    case TcpState.SynSent:
      if ((tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) && !fromClient)
        return TcpState.SynReceived | (flags << 8);
      if (payloadLen > 0 || ((tcpFlags & TCP_ACK) !== 0 && (tcpFlags & TCP_SYN) === 0))
        return TcpState.Established | (flags << 8);
      return state | (flags << 8);
    case TcpState.SynReceived:
      if ((tcpFlags & TCP_SYN) === 0 && (tcpFlags & TCP_ACK) !== 0) return TcpState.Established | (flags << 8);
      return state | (flags << 8);
    default:
      return state | (flags << 8);
  }
}

/** True when a SYN from the client should start a new connection on a finished tuple. */
export function isReuse(state: number, tcpFlags: number): boolean {
  return (
    (tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN &&
    (state === TcpState.Closed || state === TcpState.Reset || state === TcpState.HalfClosed)
  );
}

export function tcpTimeout(state: number, flags: number): number {
  switch (state) {
    case TcpState.SynSent:
    case TcpState.SynReceived:
      return TIMEOUT_MS.tcpOpen;
    case TcpState.Established:
      return (flags & SF_DATA) !== 0 ? TIMEOUT_MS.tcpActive : TIMEOUT_MS.tcpActiveNoData;
    case TcpState.HalfClosed:
      return TIMEOUT_MS.tcpHalfClose;
    case TcpState.Closed:
      return TIMEOUT_MS.tcpClose;
    case TcpState.Reset:
      return TIMEOUT_MS.tcpRst;
    default:
      return TIMEOUT_MS.tcpOpen;
  }
}

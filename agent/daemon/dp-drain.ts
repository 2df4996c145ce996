/**
 * Waits until the dp has sent on every frame it held when the call began, by keep-alive
 * round trips: the dp reads its control socket and its service rings in one event loop
 * (dp/io/ring-port.ts), and an answer to a keep-alive sent after the previous answer
 * arrived proves that the loop turn which handled the previous one has ended. A turn in
 * which the ring was readable reads up to BATCH × MAX_ROUNDS frames of it and sends the
 * forwarded ones before the turn ends, so RING_TURNS_TO_EMPTY + 1 round trips see a full
 * ring read and sent. Frames must stop arriving first (the steering's drain mode, see
 * SteeringBackend.planDrain), or the ring never empties.
 */
import { RING_TURNS_TO_EMPTY } from '../../dp/io/ring-port.js';

/** The part of the dp client a drain needs. */
export interface KeepAliveClient {
  ping(timeoutMs?: number): Promise<boolean>;
}

/** Round trips that prove a full service ring has been read and sent. */
export const DRAIN_ROUND_TRIPS = RING_TURNS_TO_EMPTY + 1;

/**
 * True once the dp has drained; false when it did not answer within `timeoutMs` per round
 * trip (a dp that hangs: what it holds is lost with it, and the supervisor replaces it).
 */
export async function drainDp(client: KeepAliveClient, timeoutMs = 3000): Promise<boolean> {
  for (let i = 0; i < DRAIN_ROUND_TRIPS; i++) if (!(await client.ping(timeoutMs))) return false;
  return true;
}

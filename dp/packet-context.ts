import { PacketView } from './decode/packet.js';
import type { Endpoint } from './endpoints/endpoint.js';
import { NO_SLOT } from './session/table.js';

/** Endpoint id used for sessions of frames with no endpoint (offline / promiscuous). */
export const NO_EP = 0;

/**
 * What every stage of the engine knows about the frame in process (dp/engine.ts), in one
 * object the engine allocates once and refills per frame, so a stage takes (ctx, now)
 * instead of a long list of positional parameters.
 *
 * The clock is not in it: `now` travels as an argument, exactly as the caller passed it.
 * Stored in an object field and read back, a time beyond V8's small integers would be
 * re-boxed as a new heap number at every call that passes it on.
 */
export class PacketContext {
  /** The decoded frame (zero-copy views into `buf`). */
  readonly p = new PacketView();
  /** The frame's bytes, for resets built from it and held fragments; not kept past the frame. */
  buf: Uint8Array | null = null;
  off = 0;
  capLen = 0;
  /** Length on the wire (≥ capLen). */
  wire = 0;
  ep: Endpoint | null = null;
  epId = NO_EP;
  /** The frame travels toward the endpoint. */
  ingress = false;
  /** The endpoint is inline (protect): drops are real. */
  inline = false;
  /** Slot the packet was accounted to (a first fragment binds its datagram to it). */
  slot = NO_SLOT;
  /** 1-based index of the frame in the engine's input. */
  frames = 0;
}

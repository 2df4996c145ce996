/**
 * The agent's end of the event stream: a ZeroMQ PULL socket the agent binds (so it
 * outlives dp restarts) and reads msgpack records from. `pause()` stops reading, which
 * is how a slow agent looks to the dp (its queue fills, it drops and counts; it never
 * waits), and what the slow-consumer test uses.
 */
import { Pull } from 'zeromq';
import { decodeEvent } from '../../shared/events/codec.js';
import type { EventRecord } from '../../shared/events/schema.js';

export class EventConsumer {
  private readonly sock: Pull;
  private running = false;
  private paused = false;
  private resumeWaiter: (() => void) | undefined;
  received = 0;
  undecodable = 0;

  constructor(
    readonly endpoint: string,
    private readonly onRecord: (r: EventRecord) => void,
  ) {
    this.sock = new Pull({ receiveHighWaterMark: 1000, linger: 0 });
  }

  async start(): Promise<void> {
    await this.sock.bind(this.endpoint);
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      if (this.paused) await new Promise<void>((r) => (this.resumeWaiter = r));
      if (!this.running) break;
      let frames: Buffer[];
      try {
        frames = await this.sock.receive();
      } catch {
        break; // socket closed
      }
      const rec = frames[0] ? decodeEvent(frames[0]) : null;
      if (!rec) {
        this.undecodable++;
        continue;
      }
      this.received++;
      try {
        this.onRecord(rec);
      } catch {
        /* a consumer bug must not stop the stream */
      }
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.resumeWaiter?.();
    this.resumeWaiter = undefined;
  }

  close(): void {
    this.running = false;
    this.resume();
    this.sock.close();
  }
}

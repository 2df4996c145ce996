/**
 * Sends event records to the agent over ZeroMQ without ever making the data path wait.
 *
 * The dp PUSH socket connects to the agent's PULL endpoint (the agent binds it, so it
 * survives dp restarts). Records go into a bounded in-process queue; a pump drains it
 * with non-blocking sends (sendTimeout 0 → EAGAIN when ZeroMQ's own high-water mark is
 * reached). When the agent is slow or gone and the queue is full, new records are
 * dropped and counted; the count is reported in the next counters record.
 */
import { Push } from 'zeromq';
import type { Logger } from '../../shared/log.js';
import { encodeEvent } from '../../shared/events/codec.js';
import type { EventRecord } from '../../shared/events/schema.js';

export interface PublisherOptions {
  endpoint: string; // e.g. ipc:///tmp/tollgate-events.sock
  maxQueue?: number;
  /** ZeroMQ send high-water mark (messages buffered inside the socket). */
  sendHighWaterMark?: number;
  log?: Logger;
}

export class EventPublisher {
  private readonly sock: Push;
  private readonly queue: Buffer[] = [];
  private readonly maxQueue: number;
  private pumping = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  dropped = 0;
  sent = 0;

  constructor(private readonly opts: PublisherOptions) {
    this.maxQueue = opts.maxQueue ?? 4096;
    this.sock = new Push({
      sendHighWaterMark: opts.sendHighWaterMark ?? 1000,
      sendTimeout: 0,
      linger: 0,
      immediate: true,
    });
    this.sock.connect(opts.endpoint);
  }

  publish(r: EventRecord): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push(encodeEvent(r));
    if (!this.pumping) void this.pump();
  }

  get queued(): number {
    return this.queue.length;
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed && this.queue.length > 0) {
        const msg = this.queue[0]!;
        try {
          await this.sock.send(msg);
          this.queue.shift();
          this.sent++;
        } catch (e) {
          const code = (e as { code?: string }).code;
          if (code !== 'EAGAIN') this.opts.log?.warn({ err: String(e) }, 'event send failed');
          // Agent slow or absent: leave the record queued and try again shortly.
          if (!this.closed) this.retryTimer = setTimeout(() => void this.pump(), 100);
          return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.sock.close();
  }
}

import { chmodSync, lstatSync, type Stats, unlinkSync } from 'node:fs';
import { errorMessage } from '../../shared/errors.js';
import { createUnixDgramSocket, type UnixDgramSocket } from '../../shared/unix-dgram.js';
import type { Logger } from '../../shared/log.js';
import type { CtrlCounters } from './counters.js';
import { DP_MSG_SIZE } from './limits.js';

const REPLY_RETRY_MS = 1;
const REPLY_GIVE_UP_MS = 2000;
/** unix-dgram's codes for a full receiver queue: 1 (connected send), -EAGAIN, -ENOBUFS (sendto). */
const CONGESTION_CODES = new Set<unknown>([1, -11, -105]);

/**
 * What the socket needs: a logger, the reply counters, and the handler of one datagram.
 * `dispatch` returns the replies synchronously (one data event loop: dispatchDatagram on
 * the dp's state) or as a promise (dp -n N: every worker applies it, replies merged).
 * Promises must resolve in datagram order; replies are sent in that order.
 */
export interface CtrlServerDeps {
  readonly log: Logger;
  readonly ctrlCounters: CtrlCounters;
  dispatch(buf: Buffer): Iterable<string> | Promise<string[]>;
}

/**
 * The control socket: AF_UNIX SOCK_DGRAM at `path` (unlinked first, mode 0600), one
 * JSON object per datagram. Replies go to the sender's bound path (rinfo.path); an
 * unbound sender gets none, but its errors are still logged and counted.
 */
export class CtrlServer {
  private sock: UnixDgramSocket | undefined;

  constructor(
    readonly path: string,
    private readonly state: CtrlServerDeps,
  ) {}

  start(): void {
    clearSocketPath(this.path);
    const sock = createUnixDgramSocket();
    let bindError: Error | undefined;
    sock.on('error', (e) => {
      bindError = e;
      this.state.log.error({ err: e }, 'control socket error');
    });
    sock.bind(this.path);
    if (bindError) throw new Error(`cannot bind control socket ${this.path}: ${errorMessage(bindError)}`);
    chmodSync(this.path, 0o600);
    sock.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.path));
    this.sock = sock;
    this.state.log.info({ path: this.path }, 'control socket listening');
  }

  private onDatagram(buf: Buffer, from: string | undefined): void {
    let replies: Iterable<string> | Promise<string[]>;
    try {
      replies = this.state.dispatch(buf);
    } catch (e) {
      // dispatchDatagram does not throw; this is the last line of defence for the process.
      this.state.log.error({ err: e }, 'control dispatch failed');
      return;
    }
    if (!(replies instanceof Promise)) {
      // Streamed: datagrams are taken from the sequence only as the socket sends them.
      if (from) this.enqueue(replies[Symbol.iterator](), from);
      return;
    }
    replies.then(
      (rs) => {
        if (from && this.sock) for (const r of rs) this.send(r, from);
      },
      (e: unknown) => this.state.log.error({ err: e }, 'control dispatch failed'),
    );
  }

  /**
   * Replies queue per dp: a burst (e.g. a long session list) can fill the client's
   * receive queue (EAGAIN, "congestion" in unix-dgram). Then the rest waits and is
   * retried shortly, in order, instead of being lost; a client that stops reading for
   * REPLY_GIVE_UP_MS loses its queued replies (counted in replyErrors).
   */
  private readonly outbox: {
    buf: Buffer | undefined;
    rest: Iterator<string> | undefined;
    to: string;
    since: number;
  }[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  /**
   * A streamed reply's datagrams are written here, one at a time (the socket's send copies
   * synchronously, and only the outbox's head is ever being built): a 100,000-session
   * listing is ~2,500 datagrams, whose own Buffers would each hold 8 KiB outside the V8
   * heap until a full collection, ~20 MiB at the listing's end.
   */
  private readonly scratch = Buffer.allocUnsafe(DP_MSG_SIZE);

  private send(text: string, to: string): void {
    this.outbox.push({ buf: Buffer.from(text), rest: undefined, to, since: 0 });
    if (!this.retryTimer) this.flush();
  }

  private enqueue(replies: Iterator<string>, to: string): void {
    this.outbox.push({ buf: undefined, rest: replies, to, since: 0 });
    if (!this.retryTimer) this.flush();
  }

  private flush(): void {
    this.retryTimer = undefined;
    const sock = this.sock;
    const cc = this.state.ctrlCounters;
    while (sock && this.outbox.length) {
      const item = this.outbox[0]!;
      if (item.buf === undefined) {
        // A streamed reply: build its next datagram now.
        let next: IteratorResult<string> | undefined;
        try {
          next = item.rest!.next();
        } catch (e) {
          this.state.log.error({ err: e }, 'building a streamed reply failed');
        }
        if (next === undefined || next.done) {
          this.outbox.shift();
          continue;
        }
        item.buf =
          Buffer.byteLength(next.value) <= this.scratch.length
            ? this.scratch.subarray(0, this.scratch.write(next.value))
            : Buffer.from(next.value);
      }
      let congested = false;
      let failed: unknown;
      try {
        sock.send(item.buf, 0, item.buf.length, item.to, (err) => {
          if (!err) return;
          if (CONGESTION_CODES.has((err as Error & { code?: unknown }).code)) congested = true;
          else failed = err;
        });
      } catch (e) {
        failed = e;
      }
      if (congested) {
        const now = Date.now();
        if (!item.since) item.since = now;
        if (now - item.since < REPLY_GIVE_UP_MS) {
          this.retryTimer = setTimeout(() => this.flush(), REPLY_RETRY_MS);
          return;
        }
        // The client stopped reading: drop everything queued for it.
        for (let i = this.outbox.length - 1; i >= 0; i--) {
          if (this.outbox[i]!.to === item.to) {
            this.outbox.splice(i, 1);
            cc.replyErrors++;
          }
        }
        this.state.log.warn({ to: item.to }, 'control client not reading: replies dropped');
        continue;
      }
      // A stream goes on with its next datagram, unless its client is gone.
      if (item.rest !== undefined && !failed) {
        item.buf = undefined;
        item.since = 0;
      } else this.outbox.shift();
      if (failed) {
        cc.replyErrors++;
        this.state.log.debug({ to: item.to, err: errorMessage(failed) }, 'control reply not delivered');
      } else cc.repliesSent++;
    }
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.outbox.length = 0;
    if (!this.sock) return;
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
    this.sock = undefined;
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Makes room for the socket at `path`: a stale socket (a dp that died) or a symlink is
 * unlinked (a symlink is replaced, never followed); anything else there (a directory, a
 * regular file, a device) is someone else's and is an error naming the path. Never
 * removes a directory's contents.
 */
export function clearSocketPath(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`control socket path ${path}: ${errorMessage(e)}`);
  }
  if (!st.isSocket() && !st.isSymbolicLink()) {
    const what = st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file' : 'not a socket';
    throw new Error(`control socket path ${path} is ${what}, not a socket: remove it or choose another --ctrl path`);
  }
  unlinkSync(path);
}

/**
 * The one client of the dp control socket, used by the agent (agent/daemon/dp-supervisor.ts),
 * the tests (test/helpers/dp-client.ts) and the bench (scripts/bench-ctrl.ts): a bound unix
 * datagram socket (so the dp can reply) that sends `{"ctrl_xxx": {...}}` datagrams to the
 * dp's socket.
 *
 * Matching replies to requests: every request is bracketed by two keep-alives with fresh
 * sequence numbers (open, request, close). The dp handles datagrams in order and replies in
 * order (docs/CONTROL.md "Transport"), so the replies between the open keep-alive's echo
 * and the close keep-alive's echo are exactly this request's. A reply that arrives while no
 * window is open (a late reply of an earlier, timed-out request, or of a datagram sent with
 * sendRaw) belongs to no request: it is counted (`staleReplies`) and kept for sync() and
 * drain() (the newest MAX_UNCLAIMED), never taken for the answer to a later request.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { TollgateError } from '../errors.js';
import { createUnixDgramSocket, type UnixDgramSocket } from '../unix-dgram.js';
import type { CtrlRequest } from './schemas.js';

/** One reply datagram, parsed: `{"dp_ok": {...}}`, `{"dp_error": {...}}`, `{"dp_stats_device": {...}}`, ... */
// biome-ignore lint/suspicious/noExplicitAny: replies are loose JSON read field by field by each caller
export type DpReply = Record<string, any>;

/** What a request may carry: a message the schemas type, or raw text / bytes (tests send malformed ones). */
export type Datagram = CtrlRequest | string | Buffer;

/** Unclaimed replies kept for sync() / drain(). */
const MAX_UNCLAIMED = 1024;

interface Pending {
  /** Sequence numbers of the keep-alives before and after the request (open < 0: none, a barrier). */
  open: number;
  close: number;
  /** The open keep-alive's echo has arrived: what follows is this request's. */
  opened: boolean;
  replies: DpReply[];
  resolve: (r: DpReply[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface DpClientOptions {
  /** Part of the client's own socket name (/tmp/tg_client.<tag>.<pid>.<random>.sock). */
  tag?: string;
  /** The client's own socket path, instead of one made from `tag`. */
  localPath?: string;
}

export class DpClient {
  private sock: UnixDgramSocket | undefined;
  readonly localPath: string;
  private seq = Math.floor(Math.random() * 1e6);
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private unclaimed: DpReply[] = [];
  /** Replies that arrived outside any request's window (late replies of timed-out requests, replies to sendRaw). */
  staleReplies = 0;

  constructor(
    readonly serverPath: string,
    opts: DpClientOptions | string = {},
  ) {
    const o = typeof opts === 'string' ? { tag: opts } : opts;
    this.localPath =
      o.localPath ?? `/tmp/tg_client.${o.tag ?? 'agent'}.${process.pid}.${randomBytes(3).toString('hex')}.sock`;
  }

  open(): void {
    if (this.sock) return;
    const s = createUnixDgramSocket();
    s.on('error', () => {
      /* send errors are reported per request through their callbacks */
    });
    s.on('message', (buf) => this.onMessage(buf));
    s.bind(this.localPath);
    this.sock = s;
  }

  private onMessage(buf: Buffer): void {
    let msg: DpReply;
    try {
      msg = JSON.parse(buf.toString('utf8')) as DpReply;
    } catch {
      return;
    }
    const p = this.pending;
    const ka = msg.dp_keep_alive as { seq_num?: number } | undefined;
    if (p && !p.opened) {
      if (ka && ka.seq_num === p.open) p.opened = true;
      else this.stale(msg);
      return;
    }
    if (!p) {
      this.stale(msg);
      return;
    }
    if (ka && ka.seq_num === p.close) {
      clearTimeout(p.timer);
      this.pending = undefined;
      p.resolve(p.replies);
      return;
    }
    p.replies.push(msg);
  }

  private stale(msg: DpReply): void {
    this.staleReplies++;
    this.unclaimed.push(msg);
    if (this.unclaimed.length > MAX_UNCLAIMED) this.unclaimed.shift();
  }

  /** Sends one datagram as is, outside any request window (its replies are unclaimed: see sync()). */
  sendRaw(d: Datagram | object): Promise<void> {
    const sock = this.sock;
    if (!sock) return Promise.reject(new TollgateError('EDPCLIENT', 'dp client is not open'));
    const buf = Buffer.isBuffer(d) ? d : Buffer.from(typeof d === 'string' ? d : JSON.stringify(d));
    return new Promise((resolve, reject) => {
      try {
        sock.send(buf, 0, buf.length, this.serverPath, (err) =>
          err ? reject(new TollgateError('EDPSEND', `dp socket ${this.serverPath}: ${err.message}`)) : resolve(),
        );
      } catch (e) {
        reject(new TollgateError('EDPSEND', `dp socket ${this.serverPath}: ${(e as Error).message}`));
      }
    });
  }

  private nextSeq(): number {
    return (this.seq = (this.seq + 1) >>> 0);
  }

  /** One window: open keep-alive (unless a barrier), the datagram, close keep-alive; serialized. */
  private windowed(d: Datagram | object | undefined, timeoutMs: number): Promise<DpReply[]> {
    const run = async (): Promise<DpReply[]> => {
      const barrier = d === undefined;
      const open = barrier ? -1 : this.nextSeq();
      const close = this.nextSeq();
      const done = new Promise<DpReply[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending = undefined;
          reject(new TollgateError('EDPTIMEOUT', `dp did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        // A barrier takes every unclaimed reply up to its keep-alive's echo.
        const replies = barrier ? this.unclaimed.splice(0) : [];
        this.pending = { open, close, opened: barrier, replies, resolve, reject, timer };
      });
      try {
        if (!barrier) await this.sendRaw({ ctrl_keep_alive: { seq_num: open } });
        if (!barrier) await this.sendRaw(d);
        await this.sendRaw({ ctrl_keep_alive: { seq_num: close } });
      } catch (e) {
        clearTimeout(this.pending?.timer);
        this.pending = undefined;
        throw e;
      }
      return done;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * Sends one datagram and resolves with the dp's replies to it (every message's chunks and
   * final reply: dp_ok / dp_error / data). Requests are serialized. Rejects with EDPTIMEOUT
   * when the dp does not answer.
   */
  request(msg: Datagram | object, timeoutMs = 3000): Promise<DpReply[]> {
    return this.windowed(msg, timeoutMs);
  }

  /** Like request, for a message the schemas type; throws EDPREJECT when the dp answered with dp_error. */
  async command(msg: CtrlRequest, timeoutMs?: number): Promise<DpReply[]> {
    const replies = await this.request(msg, timeoutMs);
    const err = replies.find((r) => r.dp_error) as
      | { dp_error: { code: string; message: string; field?: string } }
      | undefined;
    if (err) {
      throw new TollgateError(
        'EDPREJECT',
        `dp rejected ${Object.keys(msg)[0]}: ${err.dp_error.code} ${err.dp_error.field ?? ''} ${err.dp_error.message}`.trim(),
      );
    }
    return replies;
  }

  /**
   * Barrier: a keep-alive with a fresh sequence number; resolves with every reply no request
   * claimed (replies to sendRaw datagrams, late replies) up to its echo.
   */
  sync(timeoutMs = 5000): Promise<DpReply[]> {
    return this.windowed(undefined, timeoutMs);
  }

  /** The unclaimed replies received so far, removed. */
  drain(): DpReply[] {
    return this.unclaimed.splice(0);
  }

  /** One keep-alive round trip; true when the dp answered in time. */
  async ping(timeoutMs = 3000): Promise<boolean> {
    try {
      await this.request({ ctrl_keep_alive: { seq_num: 0 } }, timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending.reject(new TollgateError('EDPCLIENT', 'dp client closed'));
      this.pending = undefined;
    }
    try {
      this.sock?.close();
    } catch {
      /* closed */
    }
    this.sock = undefined;
    try {
      unlinkSync(this.localPath);
    } catch {
      /* gone */
    }
  }
}

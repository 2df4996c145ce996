/**
 * The agent's side of the dp control socket: a bound unix datagram socket (so the dp can
 * reply) that sends `{"ctrl_xxx": {...}}` datagrams to the dp's socket.
 *
 * Framing: every request is bracketed by two keep-alives with fresh sequence numbers
 * (open, request, close). The dp handles datagrams in order and replies in order, so the
 * replies between the open keep-alive's reply and the close keep-alive's reply are
 * exactly this request's. Anything that arrives while no window is open (a late reply of
 * an earlier, timed-out request) is dropped and counted (`staleReplies`): it can never be
 * taken for the answer to a later request.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { TollgateError } from '../../shared/errors.js';
import { createUnixDgramSocket, type UnixDgramSocket } from '../../shared/unix-dgram.js';


export type DpReply = Record<string, unknown>;

interface Pending {
  /** Sequence numbers of the keep-alives before and after the request. */
  open: number;
  close: number;
  /** The open keep-alive's reply has arrived: what follows is this request's. */
  opened: boolean;
  replies: DpReply[];
  resolve: (r: DpReply[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class DpClient {
  private sock: UnixDgramSocket | undefined;
  readonly localPath: string;
  private seq = Math.floor(Math.random() * 1e6);
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Replies that arrived outside any request's window (late replies of timed-out requests). */
  staleReplies = 0;

  constructor(readonly serverPath: string, tag = 'agent') {
    this.localPath = `/tmp/tg_client.${tag}.${process.pid}.${randomBytes(3).toString('hex')}.sock`;
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
      else this.staleReplies++;
      return;
    }
    if (!p) {
      this.staleReplies++;
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

  private sendRaw(obj: unknown): Promise<void> {
    const sock = this.sock;
    if (!sock) return Promise.reject(new TollgateError('EDPCLIENT', 'dp client is not open'));
    const buf = Buffer.from(JSON.stringify(obj));
    return new Promise((resolve, reject) => {
      try {
        sock.send(buf, 0, buf.length, this.serverPath, (err) => (err ? reject(new TollgateError('EDPSEND', `dp socket ${this.serverPath}: ${err.message}`)) : resolve()));
      } catch (e) {
        reject(new TollgateError('EDPSEND', `dp socket ${this.serverPath}: ${(e as Error).message}`));
      }
    });
  }

  /**
   * Sends one ctrl message and resolves with the dp's replies to it (dp_ok / dp_error /
   * data). Requests are serialized. Rejects with EDPTIMEOUT when the dp does not answer.
   */
  request(msg: object, timeoutMs = 3000): Promise<DpReply[]> {
    const run = async (): Promise<DpReply[]> => {
      const open = (this.seq = (this.seq + 1) >>> 0);
      const close = (this.seq = (this.seq + 1) >>> 0);
      const done = new Promise<DpReply[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending = undefined;
          reject(new TollgateError('EDPTIMEOUT', `dp did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        this.pending = { open, close, opened: false, replies: [], resolve, reject, timer };
      });
      try {
        await this.sendRaw({ ctrl_keep_alive: { seq_num: open } });
        await this.sendRaw(msg);
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

  /** Like request, but throws EDPREJECT when the dp answered with dp_error. */
  async command(msg: object, timeoutMs?: number): Promise<DpReply[]> {
    const replies = await this.request(msg, timeoutMs);
    const err = replies.find((r) => r.dp_error) as { dp_error: { code: string; message: string; field?: string } } | undefined;
    if (err) throw new TollgateError('EDPREJECT', `dp rejected ${Object.keys(msg)[0]}: ${err.dp_error.code} ${err.dp_error.field ?? ''} ${err.dp_error.message}`.trim());
    return replies;
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

/**
 * The agent's side of the dp control socket: a bound unix datagram socket (so the dp can
 * reply) that sends `{"ctrl_xxx": {...}}` datagrams to the dp's socket.
 *
 * Framing: every request is followed by a keep-alive with a fresh sequence number. The
 * dp handles datagrams in order, so the replies that arrive before the matching
 * keep-alive reply are exactly this request's replies. A late reply of an earlier,
 * timed-out request can therefore never be taken for the answer to a later one.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { TollgateError } from '../../shared/errors.js';
import { createUnixDgramSocket, type UnixDgramSocket } from '../../shared/unix-dgram.js';


export type DpReply = Record<string, unknown>;

interface Pending {
  seq: number;
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
    if (!p) return;
    const ka = msg.dp_keep_alive as { seq_num?: number } | undefined;
    if (ka && ka.seq_num === p.seq) {
      clearTimeout(p.timer);
      this.pending = undefined;
      p.resolve(p.replies);
      return;
    }
    if (ka) return; // a stale keep-alive of an earlier request
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
      const seq = ++this.seq >>> 0;
      const done = new Promise<DpReply[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending = undefined;
          reject(new TollgateError('EDPTIMEOUT', `dp did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        this.pending = { seq, replies: [], resolve, reject, timer };
      });
      try {
        await this.sendRaw(msg);
        await this.sendRaw({ ctrl_keep_alive: { seq_num: seq } });
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

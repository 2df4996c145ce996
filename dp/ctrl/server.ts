import { chmodSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { errorMessage } from '../../shared/errors.js';
import { dispatchDatagram } from './dispatch.js';
import type { DpState } from './state.js';

const require = createRequire(import.meta.url);

interface UnixDgramSocket {
  bind(path: string): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
  on(ev: 'message', fn: (buf: Buffer, rinfo: { path?: string }) => void): void;
  on(ev: 'error' | 'listening', fn: (e?: Error) => void): void;
}

/**
 * The control socket: AF_UNIX SOCK_DGRAM at `path` (unlinked first, mode 0600), one
 * JSON object per datagram. Replies go to the sender's bound path (rinfo.path); an
 * unbound sender gets none, but its errors are still logged and counted.
 */
export class CtrlServer {
  private sock: UnixDgramSocket | undefined;

  constructor(readonly path: string, private readonly state: DpState) {}

  start(): void {
    const unix = require('unix-dgram') as { createSocket(t: 'unix_dgram'): UnixDgramSocket };
    try {
      unlinkSync(this.path);
    } catch {
      /* not there */
    }
    const sock = unix.createSocket('unix_dgram');
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
    let replies: string[];
    try {
      replies = dispatchDatagram(buf, this.state);
    } catch (e) {
      // dispatchDatagram does not throw; this is the last line of defence for the process.
      this.state.log.error({ err: e }, 'control dispatch failed');
      return;
    }
    if (!from) return;
    for (const r of replies) this.send(r, from);
  }

  private send(text: string, to: string): void {
    const sock = this.sock;
    if (!sock) return;
    const buf = Buffer.from(text);
    const cc = this.state.ctrlCounters;
    try {
      sock.send(buf, 0, buf.length, to, (err) => {
        if (err) {
          cc.replyErrors++;
          this.state.log.debug({ to, err: errorMessage(err) }, 'control reply not delivered');
        } else cc.repliesSent++;
      });
    } catch (e) {
      cc.replyErrors++;
      this.state.log.debug({ to, err: errorMessage(e) }, 'control reply not delivered');
    }
  }

  stop(): void {
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

/**
 * A stand-in dp peer that answers every control datagram in order but can hold its replies
 * back: what a dp under load looks like to the agent's client (late replies of timed-out
 * requests). Used by the client's reply-matching tests.
 */
import { createUnixDgramSocket } from '../../shared/unix-dgram.js';
import { tempSockPath } from './dp-client.js';

export interface LateDp {
  path: string;
  /** Replies to datagrams from now on wait until `ms` from now. */
  stallFor(ms: number): void;
  close(): void;
}

export function startLateDp(name: string): LateDp {
  const path = tempSockPath(name);
  const sock = createUnixDgramSocket();
  let stallUntil = 0;
  const queue: { buf: Buffer; to: string }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    for (const q of queue.splice(0)) sock.send(q.buf, 0, q.buf.length, q.to, () => {});
  };
  sock.on('error', () => {});
  sock.on('message', (buf, rinfo) => {
    const msg = JSON.parse(buf.toString()) as Record<string, { seq_num?: number }>;
    const key = Object.keys(msg)[0]!;
    const reply =
      key === 'ctrl_keep_alive' ? { dp_keep_alive: { seq_num: msg[key]!.seq_num } } : { dp_ok: { ctrl: key } };
    queue.push({ buf: Buffer.from(JSON.stringify(reply)), to: rinfo.path! });
    if (!timer) timer = setTimeout(flush, Math.max(0, stallUntil - Date.now()));
  });
  sock.bind(path);
  return {
    path,
    stallFor: (ms) => {
      stallUntil = Date.now() + ms;
    },
    close: () => {
      sock.close();
      if (timer) clearTimeout(timer);
    },
  };
}

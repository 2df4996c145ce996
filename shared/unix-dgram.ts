import { createRequire } from 'node:module';

/**
 * AF_UNIX SOCK_DGRAM sockets through the `unix-dgram` addon (Node's dgram has no unix
 * datagrams). Its events and callbacks are synchronous; `send` with a path is sendto(2).
 */
export interface UnixDgramSocket {
  bind(path: string): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
  on(ev: 'message', fn: (buf: Buffer, rinfo: { path?: string }) => void): void;
  on(ev: 'error' | 'listening', fn: (e?: Error) => void): void;
}

const require = createRequire(import.meta.url);

export function createUnixDgramSocket(): UnixDgramSocket {
  const unix = require('unix-dgram') as { createSocket(t: 'unix_dgram'): UnixDgramSocket };
  return unix.createSocket('unix_dgram');
}

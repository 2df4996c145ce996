import { createRequire } from 'node:module';
import { unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);

interface UnixDgramSocket {
  bind(path: string): void;
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
  on(ev: 'message', fn: (buf: Buffer) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
}

/**
 * The bench's control client: sends one ctrl_* datagram at a time and waits for the
 * dp's final reply (dp_ok / dp_error / data), so configuration is known applied before
 * traffic starts. Bound to its own /tmp path so the dp can answer.
 */
export class BenchCtrl {
  readonly path = `/tmp/tg-benchcli-${process.pid}-${randomBytes(3).toString('hex')}.sock`;
  private readonly sock: UnixDgramSocket;
  private replies: Record<string, unknown>[] = [];
  private wake: (() => void) | undefined;

  constructor(readonly server: string) {
    const unix = require('unix-dgram') as { createSocket(t: 'unix_dgram'): UnixDgramSocket };
    this.sock = unix.createSocket('unix_dgram');
    this.sock.on('error', () => {});
    this.sock.on('message', (buf) => {
      this.replies.push(JSON.parse(buf.toString('utf8')) as Record<string, unknown>);
      this.wake?.();
    });
    this.sock.bind(this.path);
  }

  /** Sends `msg` (JSON text) and returns the final reply; throws on dp_error or a timeout (default 5 s). */
  async call(msg: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    this.replies = [];
    const buf = Buffer.from(msg);
    await new Promise<void>((res, rej) => this.sock.send(buf, 0, buf.length, this.server, (e) => (e ? rej(e) : res())));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.shift();
      if (r) {
        const body = Object.values(r)[0] as { more?: boolean } | undefined;
        if (body?.more === true) continue;
        if ('dp_error' in r) throw new Error(`dp rejected ${msg}: ${JSON.stringify(r)}`);
        return r;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply from dp to ${msg}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.wake = () => {
          clearTimeout(t);
          res();
        };
      });
      this.wake = undefined;
    }
  }

  close(): void {
    try {
      this.sock.close();
    } catch { /* closed */ }
    try {
      unlinkSync(this.path);
    } catch { /* gone */ }
  }
}

/** The four datagrams of issue 3 that put one workload inline on vth. */
export function inlineConfig(wlMac: string, ucMac: string): string[] {
  return [
    '{"ctrl_cfg_internal_net":{"flag":3,"subnet_addr":[{"ip":"198.18.0.0","mask":"255.254.0.0"},{"ip":"198.18.0.66","mask":"255.255.255.0","iptype":"devip"}]}}',
    '{"ctrl_add_srvc_port":{"iface":"vth","jumboframe":false}}',
    `{"ctrl_add_mac":{"iface":"vth","mac":"${wlMac}","ucmac":"${ucMac}","bcmac":"ff:ff:ff:00:${ucMac.slice(12)}","oldmac":"","pmac":"","pips":null}}`,
    `{"ctrl_cfg_mac":{"tap":false,"macs":["${wlMac}"]}}`,
  ];
}

/**
 * The daemon's local API: a unix stream socket only root can use (directory 0700, socket
 * 0600), newline-delimited JSON. Request `{"id":1,"cmd":"mode","args":{...}}`, response
 * `{"id":1,"ok":true,"result":...}` or `{"id":1,"ok":false,"error":{"code":..,"message":..}}`.
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { TollgateError, errorMessage, isErrorCode, isTollgateError } from '../../shared/errors.js';

export const API_DIR = '/run/tollgate';

export function apiSocketPath(labId: string): string {
  return `${API_DIR}/${labId}.sock`;
}

export type ApiHandler = (cmd: string, args: Record<string, unknown>) => Promise<unknown>;

export class ApiServer {
  private server: Server | undefined;

  constructor(
    readonly path: string,
    private readonly handler: ApiHandler,
  ) {}

  async start(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    chmodSync(dirname(this.path), 0o700);
    try {
      unlinkSync(this.path);
    } catch {
      /* not there */
    }
    const server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  private serve(sock: Socket): void {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > 1 << 20) {
        sock.destroy();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void this.answer(sock, line);
      }
    });
  }

  private async answer(sock: Socket, line: string): Promise<void> {
    let id: unknown = null;
    try {
      const req = JSON.parse(line) as { id?: unknown; cmd?: unknown; args?: unknown };
      id = req.id ?? null;
      if (typeof req.cmd !== 'string') throw new TollgateError('EBADREQ', 'request needs a string "cmd"');
      const args = req.args && typeof req.args === 'object' ? (req.args as Record<string, unknown>) : {};
      const result = await this.handler(req.cmd, args);
      sock.write(`${JSON.stringify({ id, ok: true, result })}\n`);
    } catch (e) {
      const error = isTollgateError(e)
        ? { code: e.code, message: e.message }
        : { code: 'EINTERNAL', message: errorMessage(e) };
      sock.write(`${JSON.stringify({ id, ok: false, error })}\n`);
    }
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    try {
      unlinkSync(this.path);
    } catch {
      /* gone */
    }
  }
}

/** One request to a running daemon; throws the daemon's error as a TollgateError. */
export function callDaemon(
  path: string,
  cmd: string,
  args: Record<string, unknown> = {},
  timeoutMs = 30_000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new TollgateError('EAPITIMEOUT', `agent daemon did not answer "${cmd}" within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new TollgateError('ENODAEMON', `no agent daemon at ${path} (${e.message}); start one with "agent run"`));
    });
    sock.on('connect', () => sock.write(`${JSON.stringify({ id: 1, cmd, args })}\n`));
    sock.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const res = JSON.parse(buf.slice(0, nl)) as {
          ok: boolean;
          result?: unknown;
          error?: { code: string; message: string };
        };
        if (res.ok) resolve(res.result);
        else
          reject(
            new TollgateError(
              isErrorCode(res.error?.code) ? res.error.code : 'EDAEMON',
              res.error?.message ?? 'daemon error',
            ),
          );
      } catch (e) {
        reject(new TollgateError('EDAEMON', `bad answer from daemon: ${errorMessage(e)}`));
      }
    });
  });
}

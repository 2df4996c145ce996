/**
 * `agent run --ui ADDR:PORT`: the live connection graph. One page (agent/ui/page/) with
 * cytoscape served from node_modules, so nothing is fetched from outside; the graph as
 * JSON; a server-sent event stream (`graph` when anything changed, checked every second,
 * and `violation` the moment a violation record arrives). Reading needs only a connection
 * (127.0.0.1 unless told otherwise, as for /metrics); changing state (a group's mode, a
 * rule deletion) needs the token (token.ts), else 401 and nothing changes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { errorMessage, isTollgateError } from '../../shared/errors.js';
import { repoRoot } from '../../shared/repo-root.js';
import type { ObserveHub } from '../observe/hub.js';
import type { DaemonControl, DaemonView } from '../observe/view.js';
import { closeServer, listen } from '../http/serve.js';
import { hostHeaderAllowed, type ListenAddress } from '../http/listen-address.js';
import { GraphModel } from './graph.js';
import type { UiToken } from './token.js';

const require = createRequire(import.meta.url);

const STATIC: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => join(repoRoot(), 'agent', 'ui', 'page', 'index.html'), type: 'text/html; charset=utf-8' },
  '/graph.js': {
    file: () => join(repoRoot(), 'agent', 'ui', 'page', 'graph.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/vendor/cytoscape.min.js': {
    file: () => require.resolve('cytoscape/dist/cytoscape.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface UiServerOptions {
  address: ListenAddress;
  view: DaemonView;
  control: DaemonControl;
  hub: ObserveHub;
  token: UiToken;
}

export class UiServer {
  private server: Server | undefined;
  private readonly model: GraphModel;
  private readonly streams = new Set<ServerResponse>();
  private lastGraph = '';
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** State-changing requests refused for a missing or wrong token. */
  refused = 0;

  constructor(private readonly o: UiServerOptions) {
    this.model = new GraphModel(o.view);
  }

  async start(): Promise<void> {
    this.unsubscribe = this.o.hub.on('record', (r) => {
      if (r.type !== 'violation') return;
      const edge = this.model.violation(r);
      this.broadcast('violation', JSON.stringify(edge));
    });
    const server = createServer((req, res) => {
      this.route(req, res).catch((e: unknown) => {
        const status = e instanceof HttpError ? e.status : isTollgateError(e) ? 400 : 500;
        if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json', ...SECURITY_HEADERS });
        res.end(JSON.stringify({ error: errorMessage(e), code: isTollgateError(e) ? e.code : undefined }));
      });
    });
    await listen(server, this.o.address);
    this.server = server;
    this.timer = setInterval(() => this.pushGraphIfChanged(), 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    for (const s of this.streams) s.end();
    this.streams.clear();
    await closeServer(this.server);
    this.server = undefined;
  }

  private graphText(): string {
    return JSON.stringify(this.model.graph());
  }

  private pushGraphIfChanged(): void {
    if (!this.streams.size) return;
    const g = this.graphText();
    if (g === this.lastGraph) return;
    this.lastGraph = g;
    this.broadcast('graph', g);
  }

  private broadcast(event: string, data: string): void {
    for (const s of this.streams) s.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    let text = '';
    for await (const chunk of req) {
      text += String(chunk);
      if (text.length > 65536) throw new HttpError(413, 'request body over 64 KiB');
    }
    try {
      const v = JSON.parse(text || '{}') as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* answered below */
    }
    throw new HttpError(400, 'request body must be a JSON object');
  }

  private authorize(req: IncomingMessage): void {
    if (this.o.token.accepts(req.headers.authorization)) return;
    this.refused++;
    throw new HttpError(
      401,
      'this request changes state: it needs "Authorization: Bearer <token>" (the token agent run printed; root can read it from the file beside the API socket)',
    );
  }

  private json(res: ServerResponse, status: number, v: unknown): void {
    res
      .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS })
      .end(JSON.stringify(v));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostHeaderAllowed(req.headers.host, this.o.address))
      throw new HttpError(403, `Host "${req.headers.host ?? ''}" is not this server's loopback address`);
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const stat = STATIC[path];
    if (method === 'GET' && stat) {
      const body = await readFile(stat.file());
      res.writeHead(200, { 'content-type': stat.type, ...SECURITY_HEADERS }).end(body);
      return;
    }
    if (method === 'GET' && path === '/api/graph') return this.json(res, 200, this.model.graph());
    if (method === 'GET' && path === '/api/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        ...SECURITY_HEADERS,
      });
      res.write(`event: graph\ndata: ${this.graphText()}\n\n`);
      this.streams.add(res);
      req.on('close', () => this.streams.delete(res));
      return;
    }
    const mode = /^\/api\/groups\/([^/]+)\/mode$/.exec(path);
    if (mode && method === 'POST') {
      this.authorize(req);
      const b = await this.body(req);
      let group: string;
      try {
        group = decodeURIComponent(mode[1]!);
      } catch {
        throw new HttpError(400, 'bad group name in the path');
      }
      const r = await this.o.control.setMode(group, String(b.mode ?? ''));
      this.pushGraphIfChanged();
      return this.json(res, 200, r);
    }
    const rule = /^\/api\/rules\/(\d+)$/.exec(path);
    if (rule && method === 'DELETE') {
      this.authorize(req);
      const r = await this.o.control.removeRule(Number(rule[1]));
      this.pushGraphIfChanged();
      return this.json(res, 200, r);
    }
    if (mode || rule) throw new HttpError(405, `${method} not allowed on ${path}`);
    throw new HttpError(404, `not found: ${path}`);
  }
}

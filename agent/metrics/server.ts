/**
 * `agent run --metrics ADDR:PORT`: GET /metrics in the Prometheus text format. Read-only,
 * so no token; it binds to 127.0.0.1 unless an address is given.
 */
import { createServer, type Server } from 'node:http';
import type { ListenAddress } from '../http/listen-address.js';
import type { TollgateMetrics } from './registry.js';
import { listen, closeServer } from '../http/serve.js';

export class MetricsServer {
  private server: Server | undefined;

  constructor(
    private readonly metrics: TollgateMetrics,
    readonly address: ListenAddress,
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
        return;
      }
      this.metrics.text().then(
        (body) => res.writeHead(200, { 'content-type': this.metrics.contentType }).end(body),
        (e: unknown) =>
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(e)}\n`),
      );
    });
    await listen(server, this.address);
    this.server = server;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
    this.server = undefined;
  }
}

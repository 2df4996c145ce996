/**
 * A small in-process Kubernetes API server for custom resources: list and watch on
 * cluster-scoped collections, speaking the real protocol — a list with
 * metadata.resourceVersion, then `?watch=true&resourceVersion=N` answered with a chunked
 * HTTP body of one JSON watch event per line ({"type":"ADDED|MODIFIED|DELETED","object":…}),
 * events after N replayed first, and an ERROR event with a 410 Status when N is too old.
 * Records every request (path, query, Authorization) so a test can see what the client did.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface Event {
  rv: number;
  plural: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

export class FakeKubeApi {
  private server: Server | undefined;
  private rv = 100;
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly history: Event[] = [];
  private readonly watches = new Set<{ plural: string; res: ServerResponse }>();
  /** Events older than this resourceVersion are gone (410 on a watch from before it). */
  compactedBefore = 0;
  /** Watches answered with 410 Gone. */
  goneAnswers = 0;
  readonly requests: { method: string; path: string; query: Record<string, string>; auth: string | undefined }[] = [];
  port = 0;

  constructor(private readonly prefix: string) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        auth: req.headers.authorization,
      });
      const plural = url.pathname.startsWith(`${this.prefix}/`) ? url.pathname.slice(this.prefix.length + 1) : '';
      if (req.method !== 'GET' || !plural || plural.includes('/')) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }));
        return;
      }
      if (url.searchParams.get('watch') === 'true')
        return this.watch(plural, Number(url.searchParams.get('resourceVersion') || 0), res);
      const items = [...(this.objects.get(plural)?.values() ?? [])];
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: String(this.rv) }, items }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  private watch(plural: string, from: number, res: ServerResponse): void {
    // No content-length: Node sends the body chunked, as the API server does; headers go
    // out at once (the API server flushes them before the first event, clients wait for them).
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    if (from && from < this.compactedBefore) {
      const status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${from} (${this.compactedBefore})`,
        reason: 'Expired',
        code: 410,
      };
      this.goneAnswers++;
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    for (const e of this.history)
      if (e.plural === plural && e.rv > from) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    const w = { plural, res };
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
  }

  private emit(plural: string, type: Event['type'], object: Obj): void {
    const e: Event = { rv: this.rv, plural, type, object };
    this.history.push(e);
    for (const w of this.watches) if (w.plural === plural) w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  /** Creates or replaces an object (ADDED / MODIFIED to watchers). */
  put(plural: string, obj: Obj): void {
    const m = this.objects.get(plural) ?? new Map<string, Obj>();
    this.objects.set(plural, m);
    const type = m.has(obj.metadata.name) ? 'MODIFIED' : 'ADDED';
    this.rv++;
    const o = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv) } };
    m.set(o.metadata.name, o);
    this.emit(plural, type, o);
  }

  delete(plural: string, name: string): void {
    const o = this.objects.get(plural)?.get(name);
    if (!o) return;
    this.objects.get(plural)!.delete(name);
    this.rv++;
    this.emit(plural, 'DELETED', { ...o, metadata: { ...o.metadata, resourceVersion: String(this.rv) } });
  }

  /** Ends every open watch, as the API server does when a watch times out. */
  closeWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /**
   * Forgets the event history (as etcd compaction does) and moves the resourceVersion on:
   * a watch from any earlier resourceVersion gets 410 Gone, a fresh list gets the new one.
   */
  compact(): void {
    this.rv++;
    this.compactedBefore = this.rv;
    this.history.length = 0;
  }

  openWatches(plural: string): number {
    return [...this.watches].filter((w) => w.plural === plural).length;
  }

  async stop(): Promise<void> {
    this.closeWatches();
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/**
 * The Docker Engine API through dockerode. dockerd and podman's compatible service
 * (`podman system service`) speak the same API for everything the agent uses (list,
 * inspect, networks, the event stream), so one adapter serves both; only the kind
 * differs, and it is told apart by the version answer.
 */
import Docker from 'dockerode';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import type {
  ContainerInfo,
  ContainerNetwork,
  ContainerRuntime,
  RuntimeEvent,
  RuntimeEventKind,
  RuntimeKind,
  RuntimeSubnet,
} from './runtime.js';

const EVENT_KINDS: ReadonlySet<string> = new Set<RuntimeEventKind>([
  'create',
  'start',
  'die',
  'destroy',
  'restart',
  'connect',
  'disconnect',
]);
/** Attributes Docker and podman put beside the labels in an event's Actor. */
const NON_LABEL_ATTRS = new Set([
  'name',
  'image',
  'containerExitCode',
  'podId',
  'exitCode',
  'execID',
  'signal',
  'container',
  'type',
]);

interface InspectShape {
  Id: string;
  Name?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  State?: { Pid?: number; Running?: boolean; StartedAt?: string };
  NetworkSettings?: {
    Networks?: Record<
      string,
      { IPAddress?: string; IPPrefixLen?: number; GlobalIPv6Address?: string; MacAddress?: string }
    > | null;
  };
}

/** A Docker API inspect answer → ContainerInfo (exported for the unit test of the mapping). */
export function containerFromInspect(c: InspectShape): ContainerInfo {
  const networks: ContainerNetwork[] = Object.entries(c.NetworkSettings?.Networks ?? {}).map(([network, n]) => ({
    network,
    ip: n.IPAddress ?? '',
    prefixLength: n.IPPrefixLen ?? 0,
    ipv6: n.GlobalIPv6Address ?? '',
    mac: (n.MacAddress ?? '').toLowerCase(),
  }));
  const running = c.State?.Running === true && (c.State.Pid ?? 0) > 0;
  return {
    id: c.Id,
    name: (c.Name ?? '').replace(/^\//, ''),
    image: c.Config?.Image ?? '',
    labels: { ...(c.Config?.Labels ?? {}) },
    pid: running ? (c.State?.Pid ?? 0) : 0,
    running,
    startedAt: running ? (c.State?.StartedAt ?? '') : '',
    networks,
  };
}

interface EventShape {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** One event line → RuntimeEvent, or null for events the agent does not follow. */
export function parseRuntimeEvent(e: EventShape): RuntimeEvent | null {
  const action = (e.Action ?? e.status ?? '').split(':')[0] ?? '';
  if (!EVENT_KINDS.has(action)) return null;
  const attrs = e.Actor?.Attributes ?? {};
  if (e.Type === 'network') {
    const id = attrs.container;
    return id ? { kind: action as RuntimeEventKind, id } : null;
  }
  if (e.Type !== undefined && e.Type !== 'container') return null;
  const id = e.Actor?.ID ?? e.id;
  if (!id) return null;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (!NON_LABEL_ATTRS.has(k)) labels[k] = v;
  const ev: RuntimeEvent = { kind: action as RuntimeEventKind, id, labels };
  if (attrs.name) ev.name = attrs.name;
  if (attrs.image) ev.image = attrs.image;
  return ev;
}

/** Inspections in flight while listing. */
const LIST_CONCURRENCY = 8;

export class DockerApiRuntime implements ContainerRuntime {
  private readonly api: Docker;
  /** The events stream has its own client: the request timeout would cut an idle stream every 15 s. */
  private readonly events: Docker;

  constructor(
    readonly kind: RuntimeKind,
    readonly socketPath: string,
  ) {
    this.api = new Docker({ socketPath, timeout: 15_000 });
    this.events = new Docker({ socketPath });
  }

  private fail(what: string, e: unknown): TollgateError {
    return new TollgateError(
      'ERUNTIME',
      `${this.kind} API at ${this.socketPath}: ${what} failed: ${errorMessage(e)}`,
      'runtime',
    );
  }

  async ping(): Promise<void> {
    try {
      await this.api.ping();
    } catch (e) {
      throw this.fail('ping', e);
    }
  }

  /** 'podman' when the version answer names podman's libpod component, else 'docker'. */
  async detectKind(): Promise<RuntimeKind> {
    try {
      const v = (await this.api.version()) as { Components?: { Name?: string }[] };
      return v.Components?.some((c) => /podman/i.test(c.Name ?? '')) ? 'podman' : 'docker';
    } catch (e) {
      throw this.fail('version', e);
    }
  }

  async list(): Promise<ContainerInfo[]> {
    let ids: string[];
    try {
      ids = (await this.api.listContainers()).map((c) => c.Id);
    } catch (e) {
      throw this.fail('list', e);
    }
    // A few inspections at a time: one by one, a node of 100 containers takes seconds.
    const out: (ContainerInfo | null)[] = new Array<ContainerInfo | null>(ids.length).fill(null);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < ids.length; i = next++) out[i] = await this.inspect(ids[i]!);
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, ids.length) }, worker));
    return out.filter((c): c is ContainerInfo => c?.running === true);
  }

  async inspect(id: string): Promise<ContainerInfo | null> {
    try {
      return containerFromInspect((await this.api.getContainer(id).inspect()) as InspectShape);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return null;
      throw this.fail(`inspect ${id.slice(0, 12)}`, e);
    }
  }

  async subnets(): Promise<RuntimeSubnet[]> {
    try {
      const nets = (await this.api.listNetworks()) as {
        Name: string;
        IPAM?: { Config?: { Subnet?: string }[] | null };
      }[];
      return nets.flatMap((n) =>
        (n.IPAM?.Config ?? []).filter((c) => c.Subnet).map((c) => ({ network: n.Name, cidr: c.Subnet! })),
      );
    } catch (e) {
      throw this.fail('network list', e);
    }
  }

  async follow(onEvent: (e: RuntimeEvent) => void, onEnd: (reason: string) => void): Promise<() => void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.events.getEvents({ filters: { type: ['container', 'network'] } })) as NodeJS.ReadableStream;
    } catch (e) {
      throw this.fail('events', e);
    }
    let buf = '';
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      onEnd(reason);
    };
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        try {
          const ev = parseRuntimeEvent(JSON.parse(line) as EventShape);
          if (ev) onEvent(ev);
        } catch {
          /* a line that is not JSON: the stream is resynchronized at the next newline */
        }
      }
    });
    stream.on('end', () => end('event stream ended'));
    stream.on('close', () => end('event stream closed'));
    stream.on('error', (e: unknown) => end(`event stream failed: ${errorMessage(e)}`));
    return () => {
      ended = true;
      (stream as unknown as { destroy?: () => void }).destroy?.();
    };
  }
}

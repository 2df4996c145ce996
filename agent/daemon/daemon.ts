/**
 * `agent run`: owns the desired state of one agent instance and keeps the world in line
 * with it:
 *  - workloads from a lab spec, from ports already pulled (adopted after a restart), and
 *    from the node's container runtime (enrolled as they start, removed as they go),
 *  - starts and supervises the dp in the enforcer namespace, replaying the full state
 *    whenever it (re)starts,
 *  - learns group rules from the dp's LEARN reports (only for the side that is learning),
 *    compiles them to the members' current addresses, keeps hit counts, records violations,
 *  - switches group modes in an order that loses no packet of an allowed flow,
 *  - answers the CLI and the OCI hook over a root-only local socket.
 */
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { labNamespaces, type LabSpec, type Mode, type SteeringChoice } from '../topology/spec.js';
import { applyLab, isLabPort } from '../topology/reconcile.js';
import { readLabState } from '../topology/lab-state.js';
import { openSteering, servicePair } from '../topology/steering-bridge.js';
import { netnsPath, pinDirFor, VBR, VBR_IFINDEX, vexName, vinName } from '../topology/names.js';
import { planCreateNamespace, planServicePair, serviceMtu } from '../topology/agent-ns.js';
import { execute } from '../topology/commands.js';
import { listNamespaces, readLinks } from '../topology/ip-state.js';
import type { SteeringBackend } from '../steering/index.js';
import { RuleStore } from '../learn/rule-store.js';
import { learnFrom } from '../learn/learner.js';
import { EventConsumer } from '../learn/event-consumer.js';
import { DpSupervisor } from './dp-supervisor.js';
import type { DpClient } from '../dp-client/client.js';
import { ApiServer, API_DIR, apiSocketPath } from './api.js';
import { desiredDpMessages, internalNetMessage } from './dp-state.js';
import { policyMessages } from '../policy/compile.js';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import { isWorkloadMode, MODES } from '../../shared/policy-actions.js';
import { run } from '../../shared/exec.js';
import { dpCommand } from '../../shared/repo-root.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import { fastPathDpArgs } from '../steering/bpf-flows.js';
import type { Logger } from '../../shared/log.js';
import type { ConnectionRecord, CountersRecord, EventRecord, ViolationRecord } from '../../shared/events/schema.js';
import type { ContainerInfo, ContainerRuntime, RuntimeEvent } from '../runtime/runtime.js';
import { RuntimeFollower } from '../runtime/follower.js';
import { groupOf, isGroupName, selects } from '../runtime/identity.js';
import { installHook, writeHookState } from '../runtime/oci-hook.js';
import { installWrapper } from '../runtime/oci-wrapper.js';
import { WorkloadRegistry, type Workload } from './workloads.js';
import { Enroller } from './enrol.js';
import { netnsInode } from './container-port.js';
import { exportPolicy } from '../export/export.js';
import { importPolicy, type PolicyTarget } from '../export/import.js';
import { parseTollgateYaml } from '../export/tollgate-yaml.js';
import type { PolicySource } from '../export/source.js';
import { ObserveHub } from '../observe/hub.js';
import { startObservers, type Observers } from '../observe/start.js';
import type { DaemonView } from '../observe/view.js';
import { startInClusterWatch } from '../kubernetes/in-cluster.js';
import type { PolicyWatch } from '../kubernetes/watch.js';

export interface DaemonOptions {
  /** Instance name: API socket, state and (without a spec) the enforcer namespace derive from it. */
  name?: string;
  /** Lab workloads to build and enforce (tests and the demo); optional with a runtime. */
  spec?: LabSpec;
  rulesPath: string;
  log: Logger;
  runtime?: ContainerRuntime | null;
  /** `--select LABEL=VALUE`: only matching containers are this agent's. */
  selectors?: readonly { key: string; value: string }[];
  /** `--internal-net CIDR` flags, added to the runtime's and the spec's subnets. */
  internalNets?: readonly string[];
  /** Mode of a group the agent has not seen before (default learn). */
  defaultMode?: Mode;
  /** Install the OCI hook (enrolment before a container's first packet) in this directory (podman). */
  hooksDir?: string;
  /** Write the wrapper runtime that adds the same hook for dockerd at this path. */
  ociWrapper?: string;
  /** Steering without a spec (a spec names its own). */
  steering?: SteeringChoice;
  /** Where hook state lives (default /var/lib/tollgate/<name>). */
  stateDir?: string;
  /** Seconds between dp event flushes. */
  reportInterval?: number;
  /** Extra dp arguments (tests). */
  dpArgs?: string[];
  /** `--metrics` / `--ui` listen addresses (agent/observe/start.ts); off when absent. */
  metrics?: string;
  ui?: string;
  /** Kernel fast path (BPF steering only); false = `agent run --no-fast-path`. Default true. */
  fastPath?: boolean;
  /** Seconds a starting dp has to answer on its control socket (default 15). */
  dpStartTimeout?: number;
  /** Seconds a dp has to answer a keep-alive before it is restarted (default 3). */
  keepAliveTimeout?: number;
}

export interface WorkloadStatus {
  name: string;
  port: string;
  container: string | null;
  group: string;
  ip: string;
  mac: string;
  ucmac: string | undefined;
  mode: Mode;
  steeringMode: string;
  source: string;
  since: string;
  reason: string;
}

export interface DaemonStatus {
  lab: string;
  name: string;
  agentNs: string;
  steering: string;
  runtime: { kind: string; socket: string; connected: boolean; lastError: string | null; reconnects: number } | null;
  dp: { pid: number | undefined; healthy: boolean; restarts: number; lastKeepAlive: string | null };
  workloads: WorkloadStatus[];
  groups: { name: string; mode: Mode; members: number }[];
  internalNets: string[];
  rules: number;
  events: { received: number; violations: number; eventsDroppedByDp: number };
  counters: CountersRecord | null;
  recentViolations: ViolationRecord[];
}

/** Containers whose identity is not known when their hook runs are held here, protected, until it is. */
export const UNIDENTIFIED_GROUP = 'unidentified';
/** Containers enrolled at once by a resync. */
const RESYNC_CONCURRENCY = 6;
/** How long a hook waits for the runtime's create event (which carries the labels). */
const IDENTITY_WAIT_MS = 3000;

export function defaultStateDir(name: string): string {
  return `/var/lib/tollgate/${name}`;
}

export class Daemon {
  readonly spec: LabSpec | undefined;
  readonly name: string;
  readonly agentNs: string;
  readonly store: RuleStore;
  readonly registry: WorkloadRegistry;
  private readonly enroller: Enroller;
  private backend: SteeringBackend | null = null;
  private supervisor: DpSupervisor | undefined;
  private consumer: EventConsumer | undefined;
  private api: ApiServer | undefined;
  private follower: RuntimeFollower | undefined;
  /** Identities from create events: a hook can use them before the container is inspectable. */
  private identities = new Map<string, { name: string; labels: Record<string, string>; image: string }>();
  private identityWaiters = new Map<string, (() => void)[]>();
  private internalNets: string[] = [];
  private lastCounters: CountersRecord | null = null;
  /** dp -n N: the latest counters record of each data worker (lastCounters is their sum). */
  private workerCounters = new Map<number, CountersRecord>();
  private violations: ViolationRecord[] = [];
  private violationCount = 0;
  private pendingConnections: ConnectionRecord[] = [];
  private learnTimer: NodeJS.Timeout | undefined;
  /** Serializes state changes (enrolment, mode switches, rule edits, learning pushes). */
  private lock: Promise<unknown> = Promise.resolve();
  readonly ctrlPath: string;
  readonly eventsEndpoint: string;
  readonly apiPath: string;
  readonly stateDir: string;
  private readonly defaultMode: Mode;
  /** Events for metrics and the graph page. */
  readonly hub = new ObserveHub();
  observers: Observers | undefined;
  private kube: PolicyWatch | undefined;

  constructor(private readonly o: DaemonOptions) {
    this.spec = o.spec ? structuredClone(o.spec) : undefined;
    this.agentNs = this.spec ? labNamespaces(this.spec).agent : (o.name ?? 'tollgate');
    this.name = o.name ?? this.agentNs;
    this.store = new RuleStore(o.rulesPath);
    this.defaultMode = o.defaultMode ?? 'learn';
    this.registry = new WorkloadRegistry((g) => this.modeOf(g));
    this.ctrlPath = `${API_DIR}/${this.name}.dp.sock`;
    this.eventsEndpoint = `ipc://${API_DIR}/${this.name}.events`;
    this.apiPath = apiSocketPath(this.name);
    this.stateDir = o.stateDir ?? defaultStateDir(this.name);
    this.enroller = new Enroller({
      agentNs: this.agentNs,
      backend: () => this.backend,
      registry: this.registry,
      store: this.store,
      modeOf: (g) => this.modeOf(g),
      dp: async () => {
        const s = this.supervisor;
        if (!s) return null;
        await s.settled();
        return s.healthy ? s.client : null;
      },
      log: o.log.child({ part: 'enrol' }),
    });
  }

  private get log(): Logger {
    return this.o.log;
  }

  /** A group's mode: what was set (persisted), a lab workload's spec mode, else the default for new groups. */
  modeOf(group: string): Mode {
    const m = this.store.modes[group];
    if (m) return m;
    if (group === UNIDENTIFIED_GROUP) return 'protect';
    return this.spec?.workloads.find((w) => w.name === group)?.mode ?? this.defaultMode;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn, fn);
    this.lock = p.catch(() => undefined);
    return p;
  }

  async start(): Promise<void> {
    // 1. Rules and persisted modes first: a corrupt file stops us before anything changes.
    await this.store.load();
    const rec = this.store.recovered;
    if (rec)
      this.log.error(
        { rulesFile: this.store.path, reason: rec.reason, movedTo: rec.movedTo, lastGood: this.store.lastGoodPath, rules: this.store.list().length, modes: this.store.modes },
        'the rules file was unusable: enforcing the last good rules and modes instead (never falling back to learn mode)',
      );
    // 2. The enforcer namespace, steering, lab topology (idempotent).
    this.backend = await openSteering(this.spec?.steering ?? this.o.steering ?? 'auto', pinDirFor(this.agentNs));
    if (this.spec) {
      for (const w of this.spec.workloads) w.mode = this.modeOf(w.name);
      await applyLab(this.spec, this.backend);
    } else await this.ensureEnforcer();
    await this.registerLabWorkloads();
    // 3. Ports already here: adopt those whose workload lives, sweep the rest.
    const running = this.o.runtime ? await this.o.runtime.list().catch(() => null) : null;
    const alive = (id: string, inode: number): boolean | undefined => {
      if (!running) return undefined;
      const c = running.find((x) => x.id === id);
      if (!c) return false;
      try {
        return netnsInode(`/proc/${c.pid}/ns/net`) === inode;
      } catch {
        return false;
      }
    };
    const labState = this.spec ? await readLabState(this.spec) : undefined;
    const adopted = await this.enroller.adopt(alive, (label, m) => (this.spec && labState ? isLabPort(this.spec, labState, label, m) : false));
    for (const w of adopted) {
      await this.enroller.steer(w, this.modeOf(w.group));
      this.log.info({ workload: w.name, port: w.key, group: w.group, container: w.containerId?.slice(0, 12) }, 'adopted');
    }
    this.internalNets = await this.computeInternalNets();
    // 4. Events, then the dp (its replay needs the workloads), then the API; all under the root-only dir.
    mkdirSync(API_DIR, { recursive: true, mode: 0o700 });
    // Observers before the dp: a bad or busy --metrics/--ui address stops us before anything runs.
    this.observers = await startObservers({ metrics: this.o.metrics, ui: this.o.ui, uiTokenPath: `${API_DIR}/${this.name}.ui-token`, view: this.observeView(), control: this, hub: this.hub, log: this.log.child({ part: 'observe' }) });
    this.consumer = new EventConsumer(this.eventsEndpoint, (r) => this.onRecord(r));
    await this.killStaleDp();
    await this.consumer.start();
    const dpArgs = [
      '--report-interval', String(this.o.reportInterval ?? 2),
      ...(await fastPathDpArgs(this.backend, this.o.fastPath !== false)),
      ...(this.o.dpArgs ?? []),
    ];
    this.supervisor = new DpSupervisor({
      agentNs: this.agentNs,
      ctrlPath: this.ctrlPath,
      eventsEndpoint: this.eventsEndpoint,
      // `ip netns exec <agent-ns> dp`, with this checkout's dp rather than whichever is on PATH.
      command: ['ip', 'netns', 'exec', this.agentNs, ...dpCommand(), '-n', '1', '--ctrl', this.ctrlPath, '--events', this.eventsEndpoint, ...dpArgs],
      log: this.log.child({ part: 'dp-supervisor' }),
      replay: (c) => this.replay(c),
      ...(this.o.dpStartTimeout !== undefined ? { startTimeoutMs: this.o.dpStartTimeout * 1000 } : {}),
      ...(this.o.keepAliveTimeout !== undefined ? { keepAliveTimeoutMs: this.o.keepAliveTimeout * 1000 } : {}),
    });
    this.supervisor.on('keepalive', (s: number) => this.hub.keepAlive(s));
    await this.supervisor.start();
    this.api = new ApiServer(this.apiPath, (cmd, args) => this.handle(cmd, args));
    await this.api.start();
    this.kube = await startInClusterWatch(this.policyTarget(), this.log.child({ part: 'kubernetes' }));
    // 5. The runtime: hook first (so no container starts unseen from now on), then list + events.
    if (this.o.hooksDir || this.o.ociWrapper) this.writeHookState();
    if (this.o.hooksDir) {
      const p = installHook(this.o.hooksDir, this.name);
      this.log.info({ hook: p }, 'OCI hook installed: containers are enrolled before their first packet');
    }
    if (this.o.ociWrapper) {
      installWrapper(this.o.ociWrapper, this.name);
      this.log.info({ wrapper: this.o.ociWrapper }, 'OCI wrapper runtime written: dockerd containers run through it are enrolled before their first packet');
    }
    if (this.o.runtime) {
      this.follower = new RuntimeFollower(this.o.runtime, { resync: (r) => this.resync(r), event: (e) => this.onRuntimeEvent(e) }, this.log.child({ part: 'runtime' }));
      await this.follower.start();
    }
    this.log.info({ name: this.name, agentNs: this.agentNs, api: this.apiPath, steering: this.backend?.kind ?? 'none', runtime: this.o.runtime ? `${this.o.runtime.kind} ${this.o.runtime.socketPath}` : 'none', workloads: this.registry.all().length }, 'agent running');
  }

  /** Without a lab: the enforcer namespace and its vbr/vth pair, steered. */
  private async ensureEnforcer(): Promise<void> {
    const exists = (await listNamespaces()).includes(this.agentNs);
    const links = exists ? await readLinks(this.agentNs) : [];
    await execute([...(exists ? [] : planCreateNamespace(this.agentNs, true)), ...planServicePair(this.agentNs, links, serviceMtu([1500]))]);
    if (this.backend) {
      const vbr = (await readLinks(this.agentNs)).find((l) => l.ifname === VBR);
      await this.backend.applyPlan(this.agentNs, await this.backend.planService(servicePair(this.agentNs, vbr?.ifindex ?? VBR_IFINDEX)));
    }
  }

  private async registerLabWorkloads(): Promise<void> {
    if (!this.spec) return;
    const links = await readLinks(this.agentNs);
    const ns = labNamespaces(this.spec);
    for (const w of this.spec.workloads) {
      const vex = links.find((l) => l.ifname === vexName(w.name));
      const vin = links.find((l) => l.ifname === vinName(w.name));
      if (!vex || !vin) continue;
      const path = netnsPath(ns.workload(w.name));
      this.registry.set({
        key: w.name, name: w.name, source: 'lab', group: w.name, ip: w.address, ips: [w.address], mac: w.mac,
        netns: path, netnsInode: netnsInode(path), vexIfindex: vex.ifindex, vinIfindex: vin.ifindex,
        ucmac: ucmacForIfindex(vex.ifindex), since: new Date().toISOString(), reason: 'lab',
      });
    }
  }

  /** Internal (east-west) nets: the spec's subnets, the runtime's networks, and --internal-net. */
  private async computeInternalNets(): Promise<string[]> {
    const out = new Set<string>(this.o.internalNets ?? []);
    const net = (cidr: string) => {
      try {
        const [a, bits] = ipaddr.parseCIDR(cidr);
        if (a.kind() === 'ipv4') out.add(`${ipaddr.IPv4.networkAddressFromCIDR(cidr).toString()}/${bits}`);
      } catch {
        /* not a CIDR */
      }
    };
    if (this.spec) {
      net(this.spec.hostSide.address);
      for (const w of this.spec.workloads) net(w.ip);
    }
    if (this.o.runtime) for (const s of await this.o.runtime.subnets().catch(() => [])) net(s.cidr);
    return [...out].sort();
  }

  /** A dp left running by an agent that was killed would hold the service port: stop it first. */
  private async killStaleDp(): Promise<void> {
    const r = await run(['ip', 'netns', 'pids', this.agentNs], { allowFail: true });
    for (const pid of r.stdout.split('\n').filter(Boolean).map(Number)) {
      if (pid > 1 && pid !== process.pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }

  /** Full state into a fresh dp, in NeuVector's order. */
  private async replay(c: DpClient): Promise<void> {
    const ucmacs = new Map(this.registry.all().map((w) => [w.key, w.ucmac]));
    const views = this.registry.views();
    const rules = this.store.list();
    const policies = views.flatMap((v) => policyMessages(v, views, rules));
    for (const m of desiredDpMessages({ internalNets: this.internalNets, workloads: views, ucmacs, policies })) await c.command(m);
  }

  private client(): DpClient {
    if (!this.supervisor) throw new TollgateError('ENOTRUNNING', 'agent is not running');
    return this.supervisor.client;
  }

  // --- the runtime -----------------------------------------------------------------

  private selected(labels: Record<string, string>): boolean {
    return selects(this.o.selectors ?? [], labels);
  }

  private groupFor(c: { labels: Record<string, string>; image: string; name: string }): string {
    return groupOf(c);
  }

  private onRuntimeEvent(e: RuntimeEvent): void {
    if (e.kind === 'create') {
      this.identities.set(e.id, { name: e.name ?? e.id.slice(0, 12), labels: e.labels ?? {}, image: e.image ?? '' });
      for (const wake of this.identityWaiters.get(e.id) ?? []) wake();
      this.identityWaiters.delete(e.id);
      return;
    }
    const rt = this.o.runtime;
    if (!rt) return;
    if (e.kind === 'start' || e.kind === 'restart' || e.kind === 'connect' || e.kind === 'disconnect') {
      // Inspect outside the lock: a runtime holds its container lock while the container
      // starts, and the start waits for our hook, which waits for the lock.
      void rt
        .inspect(e.id)
        .then((c) => {
          if (!c?.running || !this.selected(c.labels)) return;
          return this.serial(async () => {
            // The process may be gone by the time the lock is ours (stopped or restarted meanwhile).
            if (!existsSync(`/proc/${c.pid}/ns/net`)) return;
            await this.enrolOrRegroup(c, e.kind);
          });
        })
        .catch((err) => this.log.warn({ id: e.id.slice(0, 12), event: e.kind, err: errorMessage(err) }, 'enrolment failed'));
    } else if (e.kind === 'die' || e.kind === 'destroy') {
      void this.serial(() => this.removeIfGone(e.id, e.kind)).catch((err) => this.log.warn({ id: e.id.slice(0, 12), err: errorMessage(err) }, 'removal failed'));
      if (e.kind === 'destroy') this.identities.delete(e.id);
    }
  }

  /** Enrols a container, or (already enrolled by its hook) moves it out of the unidentified group. */
  private async enrolOrRegroup(c: ContainerInfo, reason: string, deferPeers = false): Promise<Workload[]> {
    const group = this.groupFor(c);
    const have = this.registry.ofContainer(c.id);
    const inode = netnsInode(`/proc/${c.pid}/ns/net`);
    if (have.length && have.every((w) => w.netnsInode === inode)) {
      for (const w of have) w.name = c.name;
      if (have.some((w) => w.group !== group)) await this.regroup(have, group);
      return [];
    }
    const ws = await this.enroller.enrolContainer(c, group, reason, { deferPeers });
    if (!deferPeers) this.writeHookState();
    return ws;
  }

  /** The container's ports go only when its netns is really gone (a hook may already have re-enrolled it). */
  private async removeIfGone(id: string, why: string): Promise<void> {
    const ws = this.registry.ofContainer(id);
    const stale = ws.filter((w) => {
      try {
        return netnsInode(w.netns) !== w.netnsInode;
      } catch {
        return true;
      }
    });
    if (!ws.length || stale.length) await this.enroller.removeContainer(id, `container ${why}`);
    this.writeHookState();
  }

  private async resync(running: ContainerInfo[]): Promise<void> {
    const mine = running.filter((c) => this.selected(c.labels));
    await this.serial(async () => {
      for (const c of mine) this.identities.set(c.id, { name: c.name, labels: c.labels, image: c.image });
      const nets = await this.computeInternalNets();
      if (nets.join() !== this.internalNets.join()) {
        this.internalNets = nets;
        if (this.supervisor?.healthy) await this.client().command(internalNetMessage(nets)).catch(() => undefined);
      }
      const touched = new Set<string>();
      // Containers are independent: enrol a few at a time (each waits mostly on ip/tc/bpftool).
      const queue = [...mine];
      const worker = async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          try {
            const ws = await this.enrolOrRegroup(c, 'resync', true);
            for (const w of ws) for (const g of this.enroller.peersOf(w.group)) touched.add(g);
          } catch (e) {
            this.log.warn({ container: c.name, err: errorMessage(e) }, 'enrolment failed');
          }
        }
      };
      await Promise.all(Array.from({ length: RESYNC_CONCURRENCY }, worker));
      // One policy push for everything the batch touched (not one per container).
      await this.enroller.pushGroups(touched);
      const ids = new Set(mine.map((c) => c.id));
      for (const w of this.registry.all()) if (w.source === 'ctr' && w.containerId && !ids.has(w.containerId)) await this.removeIfGone(w.containerId, 'gone (resync)');
      this.writeHookState();
    });
  }

  /** Moves workloads to another group: marker, policy, steering in that group's mode. */
  private async regroup(ws: Workload[], group: string): Promise<void> {
    const from = ws[0]!.group;
    const fromMode = this.modeOf(from);
    for (const w of ws) w.group = group;
    const to = this.modeOf(group);
    await this.applyMode(ws, fromMode, to);
    await this.enroller.pushGroups(new Set([...this.enroller.peersOf(from), ...this.enroller.peersOf(group)]));
    this.log.info({ container: ws[0]!.name, from, to: group, mode: to }, 're-grouped');
  }

  /** The OCI hook: enrol before the container's process runs. */
  private async hookEnrol(args: Record<string, unknown>): Promise<unknown> {
    const id = String(args.id ?? '');
    const pid = Number(args.pid);
    if (!/^[0-9a-f]{12,64}$/.test(id)) throw new TollgateError('EBADARG', `hook: "${id}" is not a container id`, 'id');
    if (!Number.isInteger(pid) || pid <= 0) throw new TollgateError('EBADARG', `hook: pid must be a positive integer`, 'pid');
    const annotations = (args.annotations && typeof args.annotations === 'object' ? args.annotations : {}) as Record<string, string>;
    let ident = this.identities.get(id);
    if (!ident && !this.registry.ofContainer(id).length) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, IDENTITY_WAIT_MS);
        const list = this.identityWaiters.get(id) ?? [];
        list.push(() => {
          clearTimeout(t);
          resolve();
        });
        this.identityWaiters.set(id, list);
      });
      ident = this.identities.get(id);
    }
    const known = this.registry.ofContainer(id)[0];
    const annotated = annotations['tollgate.group'];
    let group: string;
    if (ident) {
      if (!this.selected(ident.labels)) return { enrolled: 0, skipped: 'not selected' };
      group = this.groupFor({ ...ident });
    } else if (known) group = known.group;
    else if (annotated && isGroupName(annotated) && !(this.o.selectors ?? []).length) group = annotated;
    else if ((this.o.selectors ?? []).length) return { enrolled: 0, skipped: 'identity unknown, and this agent only takes selected containers' };
    else group = UNIDENTIFIED_GROUP;
    const c: ContainerInfo = { id, name: ident?.name ?? known?.name ?? id.slice(0, 12), image: ident?.image ?? '', labels: ident?.labels ?? {}, pid, running: true, startedAt: '', networks: [] };
    const mode = this.modeOf(group);
    return this.serial(async () => {
      try {
        const ws = await this.enroller.enrolContainer(c, group, 'hook');
        this.writeHookState();
        return { enrolled: ws.length, group, mode };
      } catch (e) {
        // Fail closed for protect: the hook's error fails the container's start.
        if (mode === 'protect') throw new TollgateError('EENROL', `cannot enrol ${c.name} (group ${group}, protect): ${errorMessage(e)}`);
        this.log.warn({ container: c.name, group, err: errorMessage(e) }, 'hook enrolment failed; the start event retries');
        return { enrolled: 0, group, mode, warning: errorMessage(e) };
      }
    });
  }

  private writeHookState(): void {
    if (!this.o.hooksDir && !this.o.ociWrapper) return;
    const containers: Record<string, string> = {};
    for (const w of this.registry.all()) if (w.containerId) containers[w.containerId] = w.group;
    try {
      writeHookState(this.stateDir, { containers, modes: { ...this.store.modes }, defaultMode: this.defaultMode });
    } catch (e) {
      this.log.warn({ err: errorMessage(e) }, 'cannot write the hook state file');
    }
  }

  // --- events ----------------------------------------------------------------------

  /**
   * Keeps the latest record per worker (no `worker`: a one-worker dp, id 0) and returns
   * their sum: device counters and per-endpoint counters added, the rest from the newest.
   * Workers silent for 10 s (a dp restarted with fewer workers) drop out of the sum.
   */
  private sumWorkerCounters(r: CountersRecord): CountersRecord {
    const byWorker = this.workerCounters;
    byWorker.set(r.worker ?? 0, r);
    for (const [w, c] of byWorker) if (c.at < r.at - 10) byWorker.delete(w);
    if (byWorker.size === 1) return r;
    const device: Record<string, number> = {};
    const eps = new Map<string, CountersRecord['endpoints'][number]>();
    let eventsDropped = 0;
    for (const c of byWorker.values()) {
      for (const [k, v] of Object.entries(c.device)) device[k] = (device[k] ?? 0) + v;
      for (const e of c.endpoints) {
        const s = eps.get(e.mac);
        if (!s) eps.set(e.mac, { ...e });
        else for (const k of ['rxPackets', 'rxBytes', 'dropPackets', 'sessions', 'curSessions'] as const) s[k] += e[k];
      }
      eventsDropped += c.eventsDropped;
    }
    const { worker: _w, ...rest } = r;
    return { ...rest, device, endpoints: [...eps.values()], eventsDropped };
  }

  private onRecord(r: EventRecord): void {
    this.hub.record(r);
    if (r.type === 'counters') {
      this.lastCounters = this.sumWorkerCounters(r);
      return;
    }
    if (r.type === 'violation') {
      this.violationCount++;
      this.violations.push(r);
      if (this.violations.length > 100) this.violations.shift();
      const w = this.registry.byMac(r.ep);
      this.log.warn({ workload: w?.name ?? r.ep, group: w?.group, client: r.client, server: r.server, port: r.serverPort, proto: r.proto, ruleId: r.ruleId, action: r.action, dropped: r.dropped, count: r.count }, 'policy violation');
      return;
    }
    // Batch: one learn pass (and at most one rules-file write) per burst of reports.
    this.pendingConnections.push(r);
    if (!this.learnTimer) {
      this.learnTimer = setTimeout(() => {
        this.learnTimer = undefined;
        const batch = this.pendingConnections.splice(0);
        void this.serial(() => this.learn(batch));
      }, 200);
    }
  }

  private async learn(records: ConnectionRecord[]): Promise<void> {
    // Only reports of workloads in learn mode teach (the dp reports LEARN only for them;
    // a report that raced a mode switch must not teach a group that no longer learns).
    const fresh = records.filter((r) => {
      const w = this.registry.byMac(r.ep);
      return !w || this.modeOf(w.group) === 'learn' || r.action !== 1;
    });
    const res = learnFrom(fresh, this.store, this.registry.views());
    if (!res.added.length && !res.widened.length && !res.hit.length) return;
    await this.store.save();
    if (!res.added.length && !res.widened.length) return;
    this.hub.learned(res.added);
    for (const r of res.added) this.log.info({ rule: r }, 'learned rule');
    for (const r of res.widened) this.log.info({ rule: r }, 'learned rule now applies at both ends');
    // Push policy to the groups where the new rules apply: the learning side only.
    const groups = new Set<string>();
    for (const r of [...res.added, ...res.widened]) {
      if (r.side !== 'ingress') groups.add(r.from);
      if (r.side !== 'egress') groups.add(r.to);
    }
    try {
      await this.enroller.pushGroups(groups);
    } catch (e) {
      this.log.warn({ err: String(e) }, 'policy push after learning failed; the next dp replay will carry it');
    }
  }

  // --- commands ----------------------------------------------------------------------

  /** A group name, or a workload / container reference → its group. */
  resolveGroup(ref: string): string {
    if (this.registry.groups().includes(ref) || this.store.modes[ref] || this.spec?.workloads.some((w) => w.name === ref)) return ref;
    const ws = this.registry.find(ref);
    const groups = [...new Set(ws.map((w) => w.group))];
    if (groups.length === 1) return groups[0]!;
    if (groups.length > 1) throw new TollgateError('EAMBIGUOUS', `"${ref}" matches workloads of several groups (${groups.join(', ')})`, 'group');
    const known = this.registry.groups().join(', ') || 'none';
    throw new TollgateError('ENOGROUP', `unknown group or container "${ref}" (groups: ${known})`, 'group');
  }

  /** Steering and dp state of `ws` from mode `from` to `to`, in the order that loses no allowed packet. */
  private async applyMode(ws: readonly Workload[], from: Mode, to: Mode): Promise<void> {
    // Without a healthy dp nothing is sent: the replay of the restarted dp carries the new mode.
    await this.enroller.switchMode(ws, from, to);
  }

  /** Switches a group's mode (also by container or workload name) without losing packets of allowed flows. */
  setMode(ref: string, mode: string): Promise<{ name: string; group: string; from: Mode; to: Mode; members: number }> {
    return this.serial(async () => {
      if (!isWorkloadMode(mode)) throw new TollgateError('EBADMODE', `invalid mode "${mode}" (learn, monitor or protect)`, 'mode');
      const group = this.resolveGroup(ref);
      const from = this.modeOf(group);
      const members = this.registry.members(group);
      if (from === mode) return { name: ref, group, from, to: mode, members: members.length };
      this.store.modes[group] = mode;
      const labW = this.spec?.workloads.find((w) => w.name === group);
      if (labW) labW.mode = mode;
      try {
        await this.applyMode(members, from, mode);
      } catch (e) {
        // Back to where it was, so the mode in force and the mode on record agree.
        this.store.modes[group] = from;
        if (labW) labW.mode = from;
        await this.applyMode(members, mode, from).catch(() => undefined);
        throw e;
      }
      await this.store.save();
      this.writeHookState();
      this.log.info({ group, from, to: mode, members: members.length }, 'mode switched');
      return { name: ref, group, from, to: mode, members: members.length };
    });
  }

  removeRule(id: number): Promise<{ removed: number }> {
    return this.serial(async () => {
      const r = this.store.removeById(id);
      if (!r) throw new TollgateError('ENORULE', `no rule with id ${id}`, 'id');
      await this.store.save();
      await this.enroller.pushGroups([r.from, r.to]);
      return { removed: id };
    });
  }

  /** Rules, group modes and group labels for policy export. */
  policySource(): PolicySource {
    const groups = new Set([...this.registry.groups(), ...Object.keys(this.store.modes)]);
    return { rules: this.store.list(), modes: Object.fromEntries([...groups].map((g) => [g, this.modeOf(g)])), labels: this.groupLabels() };
  }

  /**
   * The labels every member of a group shares (`tollgate.group` or the compose service
   * among them): what a Kubernetes selector for the group would match. Lab groups have none.
   */
  private groupLabels(): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {};
    for (const g of this.registry.groups()) {
      const sets = this.registry.members(g).flatMap((w) => (w.containerId ? [this.identities.get(w.containerId)?.labels ?? {}] : []));
      if (!sets.length) continue;
      const common: Record<string, string> = {};
      for (const [k, v] of Object.entries(sets[0]!)) if (sets.every((l) => l[k] === v)) common[k] = v;
      if (Object.keys(common).length) out[g] = common;
    }
    return out;
  }

  /** Rule changes from import and the Kubernetes watch: serialized, saved, pushed to the groups they name. */
  policyTarget(): PolicyTarget {
    return {
      changeRules: (change) =>
        this.serial(async () => {
          const r = change(this.store);
          await this.store.save();
          await this.enroller.pushGroups(this.registry.groups());
          return r;
        }),
      setMode: (group, mode) => this.setMode(group, mode),
      knownGroups: () => [...new Set([...this.registry.groups(), ...Object.keys(this.store.modes), ...(this.spec?.workloads.map((w) => w.name) ?? [])])],
    };
  }

  /** What metrics and the graph page read (agent/observe/view.ts): groups with their members. */
  observeView(): DaemonView {
    return {
      groups: () => {
        const labels = this.groupLabels();
        return this.registry.groups().map((g) => ({
          name: g,
          mode: this.modeOf(g),
          workloads: this.registry.members(g).map((w) => ({ name: w.name, ip: w.ip, mac: w.mac })),
          labels: labels[g] ?? {},
        }));
      },
      rules: () => this.store.list(),
      dp: () => ({ healthy: this.supervisor?.healthy ?? false, restarts: this.supervisor?.restarts ?? 0 }),
      eventsReceived: () => this.consumer?.received ?? 0,
    };
  }

  workloadStatus(): WorkloadStatus[] {
    return this.registry.all().map((w) => {
      const mode = this.modeOf(w.group);
      return {
        name: w.name, port: w.key, container: w.containerId ?? null, group: w.group, ip: w.ip, mac: w.mac, ucmac: w.ucmac,
        mode, steeringMode: MODES[mode].tap ? 'tap' : 'inline', source: w.source, since: w.since, reason: w.reason,
      };
    });
  }

  status(): DaemonStatus {
    const s = this.supervisor;
    const f = this.follower;
    const groups = new Set([...this.registry.groups(), ...Object.keys(this.store.modes)]);
    return {
      lab: this.agentNs,
      name: this.name,
      agentNs: this.agentNs,
      steering: this.backend?.kind ?? 'none',
      runtime: this.o.runtime ? { kind: this.o.runtime.kind, socket: this.o.runtime.socketPath, connected: f?.connected ?? false, lastError: f?.lastError ?? null, reconnects: f?.reconnects ?? 0 } : null,
      dp: { pid: s?.pid, healthy: s?.healthy ?? false, restarts: s?.restarts ?? 0, lastKeepAlive: s?.lastKeepAlive ? new Date(s.lastKeepAlive).toISOString() : null },
      workloads: this.workloadStatus(),
      groups: [...groups].sort().map((g) => ({ name: g, mode: this.modeOf(g), members: this.registry.members(g).length })),
      internalNets: this.internalNets,
      rules: this.store.list().length,
      events: { received: this.consumer?.received ?? 0, violations: this.violationCount, eventsDroppedByDp: this.lastCounters?.eventsDropped ?? 0 },
      counters: this.lastCounters,
      recentViolations: this.violations.slice(-20),
    };
  }

  /** The daemon's API: one handler per command. */
  private readonly commands: Record<string, (args: Record<string, unknown>) => Promise<unknown> | unknown> = {
    status: () => this.status(),
    workloads: () => this.workloadStatus(),
    mode: (a) => this.setMode(String(a.group ?? a.workload ?? ''), String(a.mode ?? '')),
    rules: (a) => (a.group ? this.store.list().filter((r) => r.from === a.group || r.to === a.group) : this.store.list()),
    'rule-delete': (a) => this.removeRule(Number(a.id)),
    'hook-enrol': (a) => this.hookEnrol(a),
    'rules-export': (a) => exportPolicy(String(a.format ?? ''), this.policySource(), a.group === undefined ? undefined : String(a.group)),
    'rules-import': (a) => importPolicy(this.policyTarget(), parseTollgateYaml(String(a.text ?? ''), String(a.source ?? 'import')), String(a.source ?? 'import')),
    'pause-events': () => {
      this.consumer?.pause();
      return { paused: true };
    },
    'resume-events': () => {
      this.consumer?.resume();
      return { paused: false };
    },
    'dp-restart': async () => {
      await this.supervisor?.restart('requested');
      return { restarts: this.supervisor?.restarts };
    },
    stop: () => {
      setImmediate(() => void this.stop().then(() => process.exit(0)));
      return { stopping: true };
    },
  };

  private async handle(cmd: string, args: Record<string, unknown>): Promise<unknown> {
    const h = Object.hasOwn(this.commands, cmd) ? this.commands[cmd] : undefined;
    if (!h) throw new TollgateError('EBADCMD', `unknown command "${cmd}" (${Object.keys(this.commands).join(', ')})`);
    return h(args);
  }

  async stop(): Promise<void> {
    if (this.learnTimer) clearTimeout(this.learnTimer);
    this.follower?.stop();
    await this.kube?.stop();
    await this.observers?.stop();
    await this.api?.stop();
    await this.supervisor?.stop();
    this.consumer?.close();
    try {
      unlinkSync(this.eventsEndpoint.slice('ipc://'.length));
    } catch {
      /* already gone */
    }
    this.log.info('agent stopped (ports, steering and the OCI hook stay in place; "agent down" restores and removes them)');
  }
}


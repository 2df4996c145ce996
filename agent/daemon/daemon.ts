/**
 * `agent run`: owns the desired state of one agent instance and keeps the world in line
 * with it. This file is the lifecycle and the wiring; the parts live beside it:
 *  - workloads from a lab spec, from ports already pulled (adopted after a restart), and
 *    from the node's container runtime (container-sync.ts, enrol.ts),
 *  - the dp, started and supervised in the enforcer namespace, and replayed the full state
 *    whenever it (re)starts (dp-supervisor.ts, dp-state.ts),
 *  - rules learned from the dp's reports, counters and violations (event-state.ts),
 *  - group modes switched in an order that loses no packet of an allowed flow (mode-switch.ts),
 *  - the CLI and the OCI hook answered over a root-only local socket (api.ts, api-commands.ts).
 */
import { mkdirSync, unlinkSync } from 'node:fs';
import { labNamespaces, type LabSpec, type Mode } from '../topology/spec.js';
import { applyLab } from '../topology/reconcile.js';
import { openSteering } from '../topology/steering-bridge.js';
import { pinDirFor } from '../topology/names.js';
import { adoptPorts, dpArgv, ensureEnforcer, internalNetsOf, killStaleDp, registerLabWorkloads } from './enforcer.js';
import type { SteeringBackend } from '../steering/index.js';
import { RuleStore } from '../learn/rule-store.js';
import { EventConsumer } from '../learn/event-consumer.js';
import { DpSupervisor } from './dp-supervisor.js';
import type { DpClient } from '../../shared/ctrl/client.js';
import { ApiServer, API_DIR, apiSocketPath } from './api.js';
import { apiHandler } from './api-handlers.js';
import { desiredDpMessages, internalNetMessage } from './dp-state.js';
import { policyMessages } from '../policy/compile.js';
import { TollgateError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { RuntimeFollower } from '../runtime/follower.js';
import { installHook } from '../runtime/oci-hook.js';
import { installWrapper } from '../runtime/oci-wrapper.js';
import { WorkloadRegistry } from './workloads.js';
import { Enroller } from './enrol.js';
import { Serializer } from './serial.js';
import { EventState } from './event-state.js';
import { ModeSwitcher } from './mode-switch.js';
import { ContainerSync, UNIDENTIFIED_GROUP } from './container-sync.js';
import { RulesApi } from './rules-api.js';
import type { DaemonOptions } from './options.js';
import {
  observeViewOf,
  statusOf,
  workloadStatusOf,
  type DaemonStatus,
  type ShownParts,
  type WorkloadStatus,
} from './status.js';
import { ObserveHub } from '../observe/hub.js';
import { startObservers, type Observers } from '../observe/start.js';
import type { DaemonView } from '../observe/view.js';
import { startInClusterWatch } from '../kubernetes/in-cluster.js';
import type { PolicyWatch } from '../kubernetes/watch.js';

export type { DaemonOptions } from './options.js';
export type { DaemonStatus, WorkloadStatus } from './status.js';
export { UNIDENTIFIED_GROUP } from './container-sync.js';

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
  private readonly serial = new Serializer();
  private readonly events: EventState;
  private readonly modes: ModeSwitcher;
  private readonly containers: ContainerSync;
  readonly rules: RulesApi;
  private backend: SteeringBackend | null = null;
  private supervisor: DpSupervisor | undefined;
  private consumer: EventConsumer | undefined;
  private api: ApiServer | undefined;
  private follower: RuntimeFollower | undefined;
  private internalNets: string[] = [];
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
    const modeOf = (g: string) => this.modeOf(g);
    this.enroller = new Enroller({
      agentNs: this.agentNs,
      backend: () => this.backend,
      registry: this.registry,
      store: this.store,
      modeOf,
      dp: async () => {
        const s = this.supervisor;
        if (!s) return null;
        await s.settled();
        return s.healthy ? s.client : null;
      },
      log: o.log.child({ part: 'enrol' }),
    });
    const common = { registry: this.registry, store: this.store, serial: this.serial, modeOf };
    this.events = new EventState({
      ...common,
      hub: this.hub,
      pushGroups: (g) => this.enroller.pushGroups(g),
      log: o.log,
    });
    this.modes = new ModeSwitcher({
      ...common,
      spec: this.spec,
      enroller: this.enroller,
      switched: () => this.containers.writeHookState(),
      log: o.log,
    });
    this.containers = new ContainerSync({
      ...common,
      runtime: o.runtime ?? null,
      selectors: o.selectors ?? [],
      enroller: this.enroller,
      applyMode: (ws, from, to) => this.modes.apply(ws, from, to),
      refreshInternalNets: () => this.refreshInternalNets(),
      hookState: {
        dir: this.stateDir,
        enabled: Boolean(o.hooksDir || o.ociWrapper),
        modes: () => this.store.modes,
        defaultMode: this.defaultMode,
      },
      log: o.log,
    });
    this.rules = new RulesApi({
      ...common,
      spec: this.spec,
      enroller: this.enroller,
      setMode: (g, m) => this.modes.set(g, m),
      labelsOf: (id) => this.containers.identity(id)?.labels,
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

  /** See ModeSwitcher.set. */
  setMode(ref: string, mode: string) {
    return this.modes.set(ref, mode);
  }

  async start(): Promise<void> {
    // 1. Rules and persisted modes first: a corrupt file stops us before anything changes.
    await this.store.load();
    const rec = this.store.recovered;
    const why = 'the rules file was unusable: enforcing the last good rules and modes instead (never learn mode)';
    if (rec)
      this.log.error(
        { rulesFile: this.store.path, ...rec, lastGood: this.store.lastGoodPath, modes: this.store.modes },
        why,
      );
    // 2. The enforcer namespace, steering, lab topology (idempotent).
    this.backend = await openSteering(this.spec?.steering ?? this.o.steering ?? 'auto', pinDirFor(this.agentNs));
    if (this.spec) {
      for (const w of this.spec.workloads) w.mode = this.modeOf(w.name);
      await applyLab(this.spec, this.backend);
    } else await ensureEnforcer(this.agentNs, this.backend);
    if (this.spec) await registerLabWorkloads(this.spec, this.agentNs, this.registry);
    // 3. Ports already here: adopt those whose workload lives, sweep the rest.
    await adoptPorts({
      enroller: this.enroller,
      runtime: this.o.runtime,
      spec: this.spec,
      modeOf: (g) => this.modeOf(g),
      log: this.log,
    });
    this.internalNets = await internalNetsOf(this.spec, this.o.runtime, this.o.internalNets ?? []);
    // 4. Events, then the dp (its replay needs the workloads), then the API; all under the root-only dir.
    mkdirSync(API_DIR, { recursive: true, mode: 0o700 });
    // Observers before the dp: a bad or busy --metrics/--ui address stops us before anything runs.
    this.observers = await startObservers({
      metrics: this.o.metrics,
      ui: this.o.ui,
      uiTokenPath: `${API_DIR}/${this.name}.ui-token`,
      view: this.observeView(),
      control: { setMode: (g, m) => this.modes.set(g, m), removeRule: (id) => this.rules.removeRule(id) },
      hub: this.hub,
      log: this.log.child({ part: 'observe' }),
    });
    this.consumer = new EventConsumer(this.eventsEndpoint, (r) => this.events.onRecord(r));
    await killStaleDp(this.agentNs);
    await this.consumer.start();
    this.supervisor = new DpSupervisor({
      agentNs: this.agentNs,
      ctrlPath: this.ctrlPath,
      eventsEndpoint: this.eventsEndpoint,
      command: await dpArgv(this.agentNs, this.ctrlPath, this.eventsEndpoint, this.backend, this.o),
      log: this.log.child({ part: 'dp-supervisor' }),
      replay: (c) => this.replay(c),
      ...(this.o.dpStartTimeout !== undefined ? { startTimeoutMs: this.o.dpStartTimeout * 1000 } : {}),
      ...(this.o.keepAliveTimeout !== undefined ? { keepAliveTimeoutMs: this.o.keepAliveTimeout * 1000 } : {}),
    });
    this.supervisor.on('keepalive', (s: number) => this.hub.keepAlive(s));
    await this.supervisor.start();
    // The API (api-handlers.ts): one handler per command of API_COMMANDS.
    const handle = apiHandler({
      status: () => this.status(),
      workloads: () => this.workloadStatus(),
      modes: this.modes,
      rules: this.rules,
      store: this.store,
      containers: this.containers,
      consumer: () => this.consumer,
      supervisor: () => this.supervisor,
      stop: () => this.stop(),
    });
    this.api = new ApiServer(this.apiPath, handle);
    await this.api.start();
    this.kube = await startInClusterWatch(this.rules.policyTarget(), this.log.child({ part: 'kubernetes' }));
    // 5. The runtime: hook first (so no container starts unseen from now on), then list + events.
    this.containers.writeHookState();
    if (this.o.hooksDir) {
      const p = installHook(this.o.hooksDir, this.name);
      this.log.info({ hook: p }, 'OCI hook installed: containers are enrolled before their first packet');
    }
    if (this.o.ociWrapper) {
      installWrapper(this.o.ociWrapper, this.name);
      this.log.info(
        { wrapper: this.o.ociWrapper },
        'OCI wrapper runtime written: dockerd containers run through it are enrolled before their first packet',
      );
    }
    if (this.o.runtime) {
      this.follower = new RuntimeFollower(
        this.o.runtime,
        { resync: (r) => this.containers.resync(r), event: (e) => this.containers.onEvent(e) },
        this.log.child({ part: 'runtime' }),
      );
      await this.follower.start();
    }
    this.log.info(
      {
        name: this.name,
        agentNs: this.agentNs,
        api: this.apiPath,
        steering: this.backend?.kind ?? 'none',
        runtime: this.o.runtime ? `${this.o.runtime.kind} ${this.o.runtime.socketPath}` : 'none',
        workloads: this.registry.all().length,
      },
      'agent running',
    );
  }

  /** Recomputes the internal nets; a change goes to a healthy dp at once (a restarted one gets it in its replay). */
  private async refreshInternalNets(): Promise<void> {
    const nets = await internalNetsOf(this.spec, this.o.runtime, this.o.internalNets ?? []);
    if (nets.join() === this.internalNets.join()) return;
    this.internalNets = nets;
    if (this.supervisor?.healthy)
      await this.client()
        .command(internalNetMessage(nets))
        .catch(() => undefined);
  }

  /** Full state into a fresh dp, in NeuVector's order. */
  private async replay(c: DpClient): Promise<void> {
    const ucmacs = new Map(this.registry.all().map((w) => [w.key, w.ucmac]));
    const views = this.registry.views();
    const rules = this.store.list();
    const policies = views.flatMap((v) => policyMessages(v, views, rules));
    for (const m of desiredDpMessages({ internalNets: this.internalNets, workloads: views, ucmacs, policies }))
      await c.command(m);
  }

  private client(): DpClient {
    if (!this.supervisor) throw new TollgateError('ENOTRUNNING', 'agent is not running');
    return this.supervisor.client;
  }

  /** What metrics and the graph page read (agent/observe/view.ts): groups with their members. */
  observeView(): DaemonView {
    return observeViewOf(() => this.shown());
  }

  workloadStatus(): WorkloadStatus[] {
    return workloadStatusOf(this.registry, (g) => this.modeOf(g));
  }

  status(): DaemonStatus {
    return statusOf(this.shown());
  }

  /** The parts `agent status`, metrics and the graph page read (status.ts). */
  private shown(): ShownParts {
    return {
      name: this.name,
      agentNs: this.agentNs,
      steering: this.backend?.kind ?? 'none',
      runtime: this.o.runtime ?? null,
      follower: this.follower,
      supervisor: this.supervisor,
      registry: this.registry,
      store: this.store,
      modeOf: (g) => this.modeOf(g),
      internalNets: this.internalNets,
      eventsReceived: this.consumer?.received ?? 0,
      events: this.events,
      groupLabels: () => this.rules.groupLabels(),
    };
  }

  async stop(): Promise<void> {
    this.events.stop();
    this.containers.stop();
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
    this.log.info(
      'agent stopped (ports, steering and the OCI hook stay in place; "agent down" restores and removes them)',
    );
  }
}

/**
 * `agent run`: owns the desired state of one lab (topology, steering, modes, rules) and
 * keeps the world in line with it:
 *  - builds topology and steering (idempotent: a restarted agent duplicates nothing),
 *  - starts and supervises the dp in the enforcer namespace, replaying the full state
 *    whenever it (re)starts,
 *  - learns allow rules from the dp's LEARN connection reports and pushes them back as
 *    policy, keeps hit counts, and records violations,
 *  - switches workload modes in an order that loses no packet of an allowed flow,
 *  - answers the CLI over a root-only local socket.
 */
import { LAB_RANGE, labNamespaces, requireWorkload, type LabSpec, type Mode } from '../topology/spec.js';
import { applyLab } from '../topology/reconcile.js';
import { labStatus } from '../topology/status.js';
import { openSteering } from '../topology/steering-bridge.js';
import { pinDirFor } from '../topology/names.js';
import type { SteeringBackend } from '../steering/index.js';
import { RuleStore } from '../learn/rule-store.js';
import { learnFrom } from '../learn/learner.js';
import { EventConsumer } from '../learn/event-consumer.js';
import { policyMessages, type WorkloadView } from '../policy/compile.js';
import { DpSupervisor } from './dp-supervisor.js';
import type { DpClient } from '../dp-client/client.js';
import { ApiServer, API_DIR, apiSocketPath } from './api.js';
import { desiredDpMessages, endpointMessages } from './dp-state.js';
import { TollgateError } from '../../shared/errors.js';
import { isWorkloadMode, MODES } from '../../shared/policy-actions.js';
import { run } from '../../shared/exec.js';
import { dpCommand } from '../../shared/repo-root.js';
import { mkdirSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../shared/log.js';
import type { ConnectionRecord, CountersRecord, EventRecord, ViolationRecord } from '../../shared/events/schema.js';

export interface DaemonOptions {
  spec: LabSpec;
  rulesPath: string;
  log: Logger;
  /** Seconds between dp event flushes. */
  reportInterval?: number;
  /** Extra dp arguments (tests). */
  dpArgs?: string[];
  /** Seconds a starting dp has to answer on its control socket (default 15). */
  dpStartTimeout?: number;
  /** Seconds a dp has to answer a keep-alive before it is restarted (default 3). */
  keepAliveTimeout?: number;
}

export interface DaemonStatus {
  lab: string;
  steering: string;
  dp: { pid: number | undefined; healthy: boolean; restarts: number; lastKeepAlive: string | null };
  workloads: { name: string; ip: string; mac: string; ucmac: string | undefined; mode: Mode; steeringMode: string | null }[];
  rules: number;
  events: { received: number; violations: number; eventsDroppedByDp: number };
  counters: CountersRecord | null;
  recentViolations: ViolationRecord[];
}

export class Daemon {
  readonly spec: LabSpec;
  readonly labId: string;
  readonly store: RuleStore;
  private backend: SteeringBackend | null = null;
  private supervisor: DpSupervisor | undefined;
  private consumer: EventConsumer | undefined;
  private api: ApiServer | undefined;
  private ucmacs = new Map<string, string>();
  private lastCounters: CountersRecord | null = null;
  /** dp -n N: the latest counters record of each data worker (lastCounters is their sum). */
  private workerCounters = new Map<number, CountersRecord>();
  private violations: ViolationRecord[] = [];
  private violationCount = 0;
  private pendingConnections: ConnectionRecord[] = [];
  private learnTimer: NodeJS.Timeout | undefined;
  /** Serializes state changes (mode switches, rule edits, learning pushes). */
  private lock: Promise<unknown> = Promise.resolve();
  readonly ctrlPath: string;
  readonly eventsEndpoint: string;
  readonly apiPath: string;

  constructor(private readonly o: DaemonOptions) {
    this.spec = structuredClone(o.spec);
    const ns = labNamespaces(this.spec);
    this.labId = ns.agent;
    this.store = new RuleStore(o.rulesPath);
    this.ctrlPath = `${API_DIR}/${this.labId}.dp.sock`;
    this.eventsEndpoint = `ipc://${API_DIR}/${this.labId}.events`;
    this.apiPath = apiSocketPath(this.labId);
  }

  private get log(): Logger {
    return this.o.log;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn, fn);
    this.lock = p.catch(() => undefined);
    return p;
  }

  workloads(): WorkloadView[] {
    return this.spec.workloads.map((w) => ({ name: w.name, ip: w.address, mac: w.mac, mode: w.mode }));
  }

  async start(): Promise<void> {
    // 1. Rules and persisted modes first: a corrupt file stops us before anything changes.
    await this.store.load();
    for (const w of this.spec.workloads) {
      const m = this.store.modes[w.name];
      if (m) w.mode = m;
    }
    // 2. Topology and steering (idempotent).
    this.backend = await openSteering(this.spec.steering, pinDirFor(labNamespaces(this.spec).agent));
    await applyLab(this.spec, this.backend);
    await this.refreshUcmacs();
    // 3. Events, then the dp (its replay needs the ucmacs), then the API; all under the root-only dir.
    mkdirSync(API_DIR, { recursive: true, mode: 0o700 });
    this.consumer = new EventConsumer(this.eventsEndpoint, (r) => this.onRecord(r));
    await this.killStaleDp();
    await this.consumer.start();
    const dpArgs = ['--report-interval', String(this.o.reportInterval ?? 2), ...(this.o.dpArgs ?? [])];
    this.supervisor = new DpSupervisor({
      agentNs: labNamespaces(this.spec).agent,
      ctrlPath: this.ctrlPath,
      eventsEndpoint: this.eventsEndpoint,
      // `ip netns exec <agent-ns> dp`, with this checkout's dp rather than whichever is on PATH.
      command: ['ip', 'netns', 'exec', labNamespaces(this.spec).agent, ...dpCommand(), '-n', '1', '--ctrl', this.ctrlPath, '--events', this.eventsEndpoint, ...dpArgs],
      log: this.log.child({ part: 'dp-supervisor' }),
      replay: (c) => this.replay(c),
      ...(this.o.dpStartTimeout !== undefined ? { startTimeoutMs: this.o.dpStartTimeout * 1000 } : {}),
      ...(this.o.keepAliveTimeout !== undefined ? { keepAliveTimeoutMs: this.o.keepAliveTimeout * 1000 } : {}),
    });
    await this.supervisor.start();
    this.api = new ApiServer(this.apiPath, (cmd, args) => this.handle(cmd, args));
    await this.api.start();
    this.log.info({ lab: this.labId, api: this.apiPath, steering: this.backend?.kind ?? 'none' }, 'agent running');
  }

  /** A dp left running by an agent that was killed would hold the service port: stop it first. */
  private async killStaleDp(): Promise<void> {
    const ns = labNamespaces(this.spec).agent;
    const r = await run(['ip', 'netns', 'pids', ns], { allowFail: true });
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

  private async refreshUcmacs(): Promise<void> {
    const st = await labStatus(this.spec);
    this.ucmacs.clear();
    for (const w of st.workloads) if (w.ucMac) this.ucmacs.set(w.name, w.ucMac);
  }

  /** Full state into a fresh dp, in NeuVector's order. */
  private async replay(c: DpClient): Promise<void> {
    for (const m of desiredDpMessages({ internalNet: LAB_RANGE, workloads: this.workloads(), ucmacs: this.ucmacs })) await c.command(m);
    await this.pushPolicies(c, this.workloads());
  }

  private async pushPolicies(c: DpClient, targets: readonly WorkloadView[]): Promise<void> {
    const all = this.workloads();
    const rules = this.store.list();
    for (const w of targets) for (const m of policyMessages(w, all, rules)) await c.command(m);
  }

  private client(): DpClient {
    if (!this.supervisor) throw new TollgateError('ENOTRUNNING', 'agent is not running');
    return this.supervisor.client;
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
    if (r.type === 'counters') {
      this.lastCounters = this.sumWorkerCounters(r);
      return;
    }
    if (r.type === 'violation') {
      this.violationCount++;
      this.violations.push(r);
      if (this.violations.length > 100) this.violations.shift();
      const wl = this.spec.workloads.find((w) => w.mac === r.ep)?.name ?? r.ep;
      this.log.warn({ workload: wl, client: r.client, server: r.server, port: r.serverPort, proto: r.proto, ruleId: r.ruleId, action: r.action, dropped: r.dropped, count: r.count }, 'policy violation');
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
    const res = learnFrom(records, this.store, this.workloads());
    if (!res.added.length && !res.hit.length) return;
    await this.store.save();
    if (!res.added.length) return;
    for (const r of res.added) this.log.info({ rule: r }, 'learned rule');
    // Push policy to the workloads the new rules touch (both ends when both are ours).
    const names = new Set(res.added.flatMap((r) => [r.from, r.to]));
    const targets = this.workloads().filter((w) => names.has(w.name));
    try {
      await this.pushPolicies(this.client(), targets);
    } catch (e) {
      this.log.warn({ err: String(e) }, 'policy push after learning failed; the next dp replay will carry it');
    }
  }

  // --- commands ----------------------------------------------------------------------

  /** Switches a workload's mode without losing packets of allowed flows. */
  setMode(name: string, mode: string): Promise<{ name: string; from: Mode; to: Mode }> {
    return this.serial(async () => {
      const w = requireWorkload(this.spec, name, 'workload');
      if (!isWorkloadMode(mode)) throw new TollgateError('EBADMODE', `invalid mode "${mode}" (learn, monitor or protect)`, 'mode');
      const from = w.mode;
      if (from === mode) return { name, from, to: mode };
      const goingInline = !MODES[mode].tap && MODES[from].tap;
      const c = this.client();
      const pushDp = async () => {
        w.mode = mode;
        await this.pushPolicies(c, [{ name: w.name, ip: w.address, mac: w.mac, mode }]);
        for (const m of endpointMessages(w.name, w.mac, this.ucmacs.get(w.name)!, mode)) await c.command(m);
      };
      if (goingInline) {
        // The dp must be ready to forward before the steering sends it the only copy.
        await pushDp();
        await applyLab(this.spec, this.backend);
      } else {
        // Steering back to tap first: from then on the dp only sees copies.
        w.mode = mode;
        await applyLab(this.spec, this.backend);
        await pushDp();
      }
      this.store.modes[name] = mode;
      await this.store.save();
      this.log.info({ workload: name, from, to: mode }, 'mode switched');
      return { name, from, to: mode };
    });
  }

  removeRule(id: number): Promise<{ removed: number }> {
    return this.serial(async () => {
      const r = this.store.removeById(id);
      if (!r) throw new TollgateError('ENORULE', `no rule with id ${id}`, 'id');
      await this.store.save();
      const targets = this.workloads().filter((w) => w.name === r.from || w.name === r.to);
      await this.pushPolicies(this.client(), targets);
      return { removed: id };
    });
  }

  status(): DaemonStatus {
    const s = this.supervisor;
    return {
      lab: this.labId,
      steering: this.backend?.kind ?? 'none',
      dp: { pid: s?.pid, healthy: s?.healthy ?? false, restarts: s?.restarts ?? 0, lastKeepAlive: s?.lastKeepAlive ? new Date(s.lastKeepAlive).toISOString() : null },
      workloads: this.spec.workloads.map((w) => ({ name: w.name, ip: w.address, mac: w.mac, ucmac: this.ucmacs.get(w.name), mode: w.mode, steeringMode: MODES[w.mode].tap ? 'tap' : 'inline' })),
      rules: this.store.list().length,
      events: { received: this.consumer?.received ?? 0, violations: this.violationCount, eventsDroppedByDp: this.lastCounters?.eventsDropped ?? 0 },
      counters: this.lastCounters,
      recentViolations: this.violations.slice(-20),
    };
  }

  private async handle(cmd: string, args: Record<string, unknown>): Promise<unknown> {
    switch (cmd) {
      case 'status':
        return this.status();
      case 'mode':
        return this.setMode(String(args.workload ?? ''), String(args.mode ?? ''));
      case 'rules':
        return this.store.list();
      case 'rule-delete':
        return this.removeRule(Number(args.id));
      case 'pause-events':
        this.consumer?.pause();
        return { paused: true };
      case 'resume-events':
        this.consumer?.resume();
        return { paused: false };
      case 'dp-restart':
        await this.supervisor?.restart('requested');
        return { restarts: this.supervisor?.restarts };
      case 'stop':
        setImmediate(() => void this.stop().then(() => process.exit(0)));
        return { stopping: true };
      default:
        throw new TollgateError('EBADCMD', `unknown command "${cmd}"`);
    }
  }

  async stop(): Promise<void> {
    if (this.learnTimer) clearTimeout(this.learnTimer);
    await this.api?.stop();
    await this.supervisor?.stop();
    this.consumer?.close();
    try {
      unlinkSync(this.eventsEndpoint.slice('ipc://'.length));
    } catch {
      /* already gone */
    }
    this.log.info('agent stopped (topology and steering left in place; "agent down" removes them)');
  }
}

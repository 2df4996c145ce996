/**
 * What the daemon keeps from the dp's event stream: the latest counters (summed over the
 * dp's workers), the recent violations, and connection reports, which are batched into
 * one learn pass (and at most one rules-file write) per burst.
 */
import type { ConnectionRecord, CountersRecord, EventRecord, ViolationRecord } from '../../shared/events/schema.js';
import { RECORD_ENDPOINT_FIELDS } from '../../shared/names/counters.js';
import type { Logger } from '../../shared/log.js';
import type { Mode } from '../topology/spec.js';
import type { RuleStore } from '../learn/rule-store.js';
import { learnFrom } from '../learn/learner.js';
import type { ObserveHub } from '../observe/hub.js';
import type { WorkloadRegistry } from './workloads.js';
import type { Serializer } from './serial.js';

/** Violations kept for `agent status`. */
const VIOLATIONS_KEPT = 100;
/** Connection reports arriving within this window are learned in one pass. */
const LEARN_BATCH_MS = 200;
/** A worker silent this long (a dp restarted with fewer workers) drops out of the counter sum. */
const WORKER_STALE_S = 10;

export interface EventStateContext {
  registry: WorkloadRegistry;
  store: RuleStore;
  hub: ObserveHub;
  serial: Serializer;
  modeOf(group: string): Mode;
  /** Pushes the policies of the members of these groups to the dp. */
  pushGroups(groups: Iterable<string>): Promise<void>;
  log: Logger;
}

export class EventState {
  /** The latest counters, summed over the dp's workers. */
  lastCounters: CountersRecord | null = null;
  violationCount = 0;
  private readonly violations: ViolationRecord[] = [];
  /** dp -n N: the latest counters record of each data worker (lastCounters is their sum). */
  private readonly workerCounters = new Map<number, CountersRecord>();
  private pendingConnections: ConnectionRecord[] = [];
  private learnTimer: NodeJS.Timeout | undefined;

  constructor(private readonly x: EventStateContext) {}

  recentViolations(n: number): ViolationRecord[] {
    return this.violations.slice(-n);
  }

  onRecord(r: EventRecord): void {
    this.x.hub.record(r);
    if (r.type === 'counters') {
      this.lastCounters = this.sumWorkerCounters(r);
      return;
    }
    if (r.type === 'violation') {
      this.violationCount++;
      this.violations.push(r);
      if (this.violations.length > VIOLATIONS_KEPT) this.violations.shift();
      const w = this.x.registry.byMac(r.ep);
      this.x.log.warn(
        {
          workload: w?.name ?? r.ep,
          group: w?.group,
          client: r.client,
          server: r.server,
          port: r.serverPort,
          proto: r.proto,
          ruleId: r.ruleId,
          action: r.action,
          dropped: r.dropped,
          count: r.count,
        },
        'policy violation',
      );
      return;
    }
    this.pendingConnections.push(r);
    if (!this.learnTimer) {
      this.learnTimer = setTimeout(() => {
        this.learnTimer = undefined;
        const batch = this.pendingConnections.splice(0);
        void this.x.serial.run(() => this.learn(batch));
      }, LEARN_BATCH_MS);
    }
  }

  stop(): void {
    if (this.learnTimer) clearTimeout(this.learnTimer);
    this.learnTimer = undefined;
  }

  /**
   * Keeps the latest record per worker (no `worker`: a one-worker dp, id 0) and returns
   * their sum: device counters and per-endpoint counters added, the rest from the newest.
   */
  private sumWorkerCounters(r: CountersRecord): CountersRecord {
    const byWorker = this.workerCounters;
    byWorker.set(r.worker ?? 0, r);
    for (const [w, c] of byWorker) if (c.at < r.at - WORKER_STALE_S) byWorker.delete(w);
    if (byWorker.size === 1) return r;
    const device: Record<string, number> = {};
    const eps = new Map<string, CountersRecord['endpoints'][number]>();
    let eventsDropped = 0;
    for (const c of byWorker.values()) {
      for (const [k, v] of Object.entries(c.device)) device[k] = (device[k] ?? 0) + v;
      for (const e of c.endpoints) {
        const s = eps.get(e.mac);
        if (!s) eps.set(e.mac, { ...e });
        else for (const k of RECORD_ENDPOINT_FIELDS) s[k] += e[k];
      }
      eventsDropped += c.eventsDropped;
    }
    const { worker: _w, ...rest } = r;
    return { ...rest, device, endpoints: [...eps.values()], eventsDropped };
  }

  private async learn(records: ConnectionRecord[]): Promise<void> {
    const { registry, store, log } = this.x;
    // Only reports of workloads in learn mode teach (the dp reports LEARN only for them;
    // a report that raced a mode switch must not teach a group that no longer learns).
    const fresh = records.filter((r) => {
      const w = registry.byMac(r.ep);
      return !w || this.x.modeOf(w.group) === 'learn' || r.action !== 1;
    });
    const res = learnFrom(fresh, store, registry.views());
    if (!res.added.length && !res.widened.length && !res.hit.length) return;
    await store.save();
    if (!res.added.length && !res.widened.length) return;
    this.x.hub.learned(res.added);
    for (const r of res.added) log.info({ rule: r }, 'learned rule');
    for (const r of res.widened) log.info({ rule: r }, 'learned rule now applies at both ends');
    // Push policy to the groups where the new rules apply: the learning side only.
    const groups = new Set<string>();
    for (const r of [...res.added, ...res.widened]) {
      if (r.side !== 'ingress') groups.add(r.from);
      if (r.side !== 'egress') groups.add(r.to);
    }
    try {
      await this.x.pushGroups(groups);
    } catch (e) {
      log.warn({ err: String(e) }, 'policy push after learning failed; the next dp replay will carry it');
    }
  }
}

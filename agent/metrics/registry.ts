/**
 * The agent's Prometheus registry (prom-client). Fed two ways:
 *  - events from the ObserveHub: counters records (per dp worker; a counter that went
 *    down means a restarted dp, so the new value is the increment: the exported counters
 *    never go backwards), violation records, learned rules, keep-alive round trips;
 *  - a DaemonView read at scrape time: dp health and restarts, groups and modes, rules,
 *    events received, fast-path counters where they exist.
 * Names: agent/metrics/names.ts; reference: docs/METRICS.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CountersRecord, EventRecord, ViolationRecord } from '../../shared/events/schema.js';
import { POLICY_ACTION_NAMES } from '../../shared/policy-actions.js';
import { protoName } from '../learn/rule.js';
import type { ObserveHub } from '../observe/hub.js';
import type { DaemonView, GroupView } from '../observe/view.js';
import { ENDPOINT_COUNTERS, PREFIX, deviceMetric, fastPathMetric, groupMetric, workloadMetric } from './names.js';

const MODES = ['learn', 'monitor', 'protect'] as const;

export class TollgateMetrics {
  readonly registry = new Registry();
  private readonly last = new Map<string, number>();
  private readonly curSessions = new Map<string, number>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly violations: Counter<'group' | 'peer_group' | 'port' | 'proto' | 'action'>;
  private readonly violationPackets: Counter<'group' | 'peer_group' | 'port' | 'proto' | 'action'>;
  private readonly learned: Counter;
  private readonly keepAlive: Histogram;
  private readonly eventsByType: Counter<'type'>;

  constructor(
    private readonly view: DaemonView,
    hub: ObserveHub,
  ) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: `${PREFIX}agent_` });
    const v = view;
    new Gauge({
      name: `${PREFIX}dp_up`,
      help: 'dp answering keep-alives (1) or not (0)',
      registers: [r],
      collect() {
        this.set(v.dp().healthy ? 1 : 0);
      },
    });
    new Counter({
      name: `${PREFIX}dp_restarts_total`,
      help: 'dp restarts by the agent (exit or missed keep-alive)',
      registers: [r],
      collect() {
        this.reset();
        this.inc(v.dp().restarts);
      },
    });
    new Counter({
      name: `${PREFIX}events_received_total`,
      help: 'dp event records read by the agent',
      registers: [r],
      collect() {
        this.reset();
        this.inc(v.eventsReceived());
      },
    });
    new Gauge({
      name: `${PREFIX}group_mode`,
      help: 'mode of each group (1 for the current mode)',
      labelNames: ['group', 'mode'],
      registers: [r],
      collect() {
        this.reset();
        for (const g of v.groups()) for (const m of MODES) this.set({ group: g.name, mode: m }, g.mode === m ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}rules`,
      help: 'allow rules by origin (learned, user)',
      labelNames: ['origin'],
      registers: [r],
      collect() {
        this.reset();
        const n = { learned: 0, user: 0 };
        for (const x of v.rules()) n[x.origin]++;
        for (const [origin, count] of Object.entries(n)) this.set({ origin }, count);
      },
    });
    const curSessions = this.curSessions;
    const groupOfMac = (mac: string) => this.groupOfMac(mac);
    new Gauge({
      name: `${PREFIX}workload_sessions_active`,
      help: 'sessions open now, per workload',
      labelNames: ['workload', 'group'],
      registers: [r],
      collect() {
        this.reset();
        for (const [k, n] of sumByMac(curSessions)) {
          const { workload, group } = groupOfMac(k);
          this.inc({ workload, group }, n);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}sessions_active`,
      help: 'sessions open now in the dp',
      registers: [r],
      collect() {
        let n = 0;
        for (const x of curSessions.values()) n += x;
        this.set(n);
      },
    });
    this.learned = new Counter({
      name: `${PREFIX}rules_learned_total`,
      help: 'allow rules learned from traffic',
      registers: [r],
    });
    this.violations = new Counter({
      name: `${PREFIX}violations_total`,
      help: 'violation reports (one per flow and report interval) by group, peer group, server port, protocol, action',
      labelNames: ['group', 'peer_group', 'port', 'proto', 'action'],
      registers: [r],
    });
    this.violationPackets = new Counter({
      name: `${PREFIX}violation_packets_total`,
      help: 'packets that hit a violation',
      labelNames: ['group', 'peer_group', 'port', 'proto', 'action'],
      registers: [r],
    });
    this.keepAlive = new Histogram({
      name: `${PREFIX}dp_keepalive_seconds`,
      help: 'keep-alive round trip agent → dp → agent',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3],
      registers: [r],
    });
    this.eventsByType = new Counter({
      name: `${PREFIX}event_records_total`,
      help: 'dp event records by type',
      labelNames: ['type'],
      registers: [r],
    });
    this.unsubscribe.push(
      hub.on('record', (rec) => this.onRecord(rec)),
      hub.on('learned', (rules) => this.learned.inc(rules.length)),
      hub.on('keepalive', (s) => this.keepAlive.observe(s)),
    );
  }

  /** Fast-path counters appear only where a fast path reports them (the view's absolute values). */
  private syncFastPath(): void {
    for (const [k, n] of Object.entries(this.view.fastPath?.() ?? {})) {
      const m = this.counter(fastPathMetric(k), `fast-path counter ${k}`);
      m.reset();
      m.inc(n);
    }
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    this.syncFastPath();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.registry.clear();
  }

  private groupOfMac(mac: string): { workload: string; group: string } {
    for (const g of this.view.groups()) {
      const w = g.workloads.find((x) => x.mac === mac);
      if (w) return { workload: w.name, group: g.name };
    }
    return { workload: mac, group: '' };
  }

  /** A peer address as a group name, else the host CIDR the learner would write. */
  private peerName(ip: string, groups: readonly GroupView[]): string {
    for (const g of groups) if (g.workloads.some((w) => w.ip === ip)) return g.name;
    return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
  }

  private onRecord(r: EventRecord): void {
    this.eventsByType.inc({ type: r.type });
    if (r.type === 'counters') this.onCounters(r);
    else if (r.type === 'violation') this.onViolation(r);
  }

  private onViolation(r: ViolationRecord): void {
    const groups = this.view.groups();
    const own = this.groupOfMac(r.ep).group;
    const labels = {
      group: own,
      peer_group: this.peerName(r.ingress ? r.client : r.server, groups),
      port: String(r.serverPort),
      proto: protoName(r.proto) ?? String(r.proto),
      action: POLICY_ACTION_NAMES[r.action] ?? String(r.action),
    };
    this.violations.inc(labels);
    this.violationPackets.inc(labels, r.count);
  }

  /** Increment since the worker's previous record; a smaller value is a restarted dp. */
  private delta(key: string, value: number): number {
    const prev = this.last.get(key);
    this.last.set(key, value);
    if (prev === undefined || value < prev) return value;
    return value - prev;
  }

  private counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
    const have = this.registry.getSingleMetric(name);
    if (have) return have as Counter<string>;
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private onCounters(r: CountersRecord): void {
    const w = r.worker ?? 0;
    for (const [key, value] of Object.entries(r.device)) {
      if (typeof value !== 'number') continue;
      const d = this.delta(`${w}|dev|${key}`, value);
      const m = deviceMetric(key);
      const c = this.counter(
        m.name,
        m.reason !== undefined
          ? `dp device counter ${key.slice(0, key.indexOf('.'))} by reason`
          : `dp device counter ${key}`,
        m.reason !== undefined ? ['reason'] : [],
      );
      if (m.reason !== undefined) c.inc({ reason: m.reason }, d);
      else c.inc(d);
    }
    for (const ep of r.endpoints) {
      const { workload, group } = this.groupOfMac(ep.mac);
      for (const key of ENDPOINT_COUNTERS) {
        const d = this.delta(`${w}|ep|${ep.mac}|${key}`, ep[key]);
        this.counter(workloadMetric(key), `per-workload ${key} (dp endpoint counters)`, ['workload', 'group']).inc(
          { workload, group },
          d,
        );
        this.counter(groupMetric(key), `per-group ${key} (sum over the group's workloads)`, ['group']).inc(
          { group },
          d,
        );
      }
      this.curSessions.set(`${w}|${ep.mac}`, ep.curSessions);
    }
  }
}

/** worker|mac → n summed per mac. */
function sumByMac(m: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, n] of m) {
    const mac = k.slice(k.indexOf('|') + 1);
    out.set(mac, (out.get(mac) ?? 0) + n);
  }
  return out;
}

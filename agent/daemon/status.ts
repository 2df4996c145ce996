/** What `agent status` and `agent workloads` answer (the daemon API's status and workloads commands). */
import type { CountersRecord, ViolationRecord } from '../../shared/events/schema.js';
import { MODES } from '../../shared/policy-actions.js';
import type { Mode } from '../topology/spec.js';
import type { RuleStore } from '../learn/rule-store.js';
import type { DaemonView } from '../observe/view.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { RuntimeFollower } from '../runtime/follower.js';
import type { DpSupervisor } from './dp-supervisor.js';
import type { EventState } from './event-state.js';
import type { WorkloadRegistry } from './workloads.js';

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

/** What the status, the workload list and the observers' view are made of. */
export interface ShownParts {
  name: string;
  agentNs: string;
  steering: string;
  runtime: ContainerRuntime | null;
  follower: RuntimeFollower | undefined;
  supervisor: DpSupervisor | undefined;
  registry: WorkloadRegistry;
  store: RuleStore;
  modeOf(group: string): Mode;
  internalNets: string[];
  eventsReceived: number;
  events: EventState;
  groupLabels(): Record<string, Record<string, string>>;
}

export function workloadStatusOf(registry: WorkloadRegistry, modeOf: (group: string) => Mode): WorkloadStatus[] {
  return registry.all().map((w) => {
    const mode = modeOf(w.group);
    return {
      name: w.name,
      port: w.key,
      container: w.containerId ?? null,
      group: w.group,
      ip: w.ip,
      mac: w.mac,
      ucmac: w.ucmac,
      mode,
      steeringMode: MODES[mode].tap ? 'tap' : 'inline',
      source: w.source,
      since: w.since,
      reason: w.reason,
    };
  });
}

export function statusOf(p: ShownParts): DaemonStatus {
  const { supervisor: s, follower: f, registry, store, events: ev } = p;
  const groups = new Set([...registry.groups(), ...Object.keys(store.modes)]);
  return {
    lab: p.agentNs,
    name: p.name,
    agentNs: p.agentNs,
    steering: p.steering,
    runtime: p.runtime
      ? {
          kind: p.runtime.kind,
          socket: p.runtime.socketPath,
          connected: f?.connected ?? false,
          lastError: f?.lastError ?? null,
          reconnects: f?.reconnects ?? 0,
        }
      : null,
    dp: {
      pid: s?.pid,
      healthy: s?.healthy ?? false,
      restarts: s?.restarts ?? 0,
      lastKeepAlive: s?.lastKeepAlive ? new Date(s.lastKeepAlive).toISOString() : null,
    },
    workloads: workloadStatusOf(registry, p.modeOf),
    groups: [...groups].sort().map((g) => ({ name: g, mode: p.modeOf(g), members: registry.members(g).length })),
    internalNets: p.internalNets,
    rules: store.list().length,
    events: {
      received: p.eventsReceived,
      violations: ev.violationCount,
      eventsDroppedByDp: ev.lastCounters?.eventsDropped ?? 0,
    },
    counters: ev.lastCounters,
    recentViolations: ev.recentViolations(20),
  };
}

/** The observers' read view (agent/observe/view.ts): each call reads the daemon's parts of that moment. */
export function observeViewOf(parts: () => ShownParts): DaemonView {
  return {
    groups: () => {
      const p = parts();
      const labels = p.groupLabels();
      return p.registry.groups().map((g) => ({
        name: g,
        mode: p.modeOf(g),
        workloads: p.registry.members(g).map((w) => ({ name: w.name, ip: w.ip, mac: w.mac })),
        labels: labels[g] ?? {},
      }));
    },
    rules: () => parts().store.list(),
    dp: () => {
      const s = parts().supervisor;
      return { healthy: s?.healthy ?? false, restarts: s?.restarts ?? 0 };
    },
    eventsReceived: () => parts().eventsReceived,
  };
}

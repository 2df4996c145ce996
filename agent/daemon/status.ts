/** What `agent status` and `agent workloads` answer (the daemon API's status and workloads commands). */
import type { CountersRecord, ViolationRecord } from '../../shared/events/schema.js';
import type { Mode } from '../topology/spec.js';

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

/**
 * What the metrics endpoint and the connection graph read from the daemon, and the two
 * changes the graph may ask for. Narrow on purpose: the daemon adapts its own state to
 * it, so these servers never depend on daemon internals.
 */
import type { AllowRule } from '../learn/rule.js';
import type { Mode } from '../topology/spec.js';

export interface GroupView {
  name: string;
  mode: Mode;
  /** The group's members; a dp endpoint is a workload MAC. */
  workloads: { name: string; ip: string; mac: string }[];
  labels: Record<string, string>;
}

export interface DaemonView {
  groups(): GroupView[];
  rules(): readonly AllowRule[];
  dp(): { healthy: boolean; restarts: number };
  /** Event records the agent has read from the dp. */
  eventsReceived(): number;
  /** Fast-path counters by name, where a fast path exists (none today: undefined). */
  fastPath?(): Record<string, number> | undefined;
}

export interface DaemonControl {
  setMode(group: string, mode: string): Promise<unknown>;
  removeRule(id: number): Promise<unknown>;
}

/**
 * The workloads an agent enforces, whatever brought them: a lab spec, a pulled namespace,
 * or a container the runtime reported. Policy is keyed to groups, so this is also where
 * a workload's group and its group's mode meet.
 */
import type { PortSource } from '../topology/port-marker.js';
import type { Mode } from '../topology/spec.js';
import type { WorkloadView } from '../policy/compile.js';

export interface Workload {
  /** Port label: links are vex-<key>/vin-<key> in the enforcer namespace. */
  key: string;
  /** Lab workload name, container name, or the pulled namespace's label. */
  name: string;
  source: PortSource;
  containerId?: string;
  group: string;
  /** Main IPv4 address ('' when none) and every address rules resolve to. */
  ip: string;
  ips: string[];
  mac: string;
  /** Workload namespace path (a container's /proc/PID/ns/net) and its inode: a restart gets a new one. */
  netns: string;
  netnsInode: number;
  vexIfindex: number;
  vinIfindex: number;
  ucmac: string;
  /** ISO time it was enrolled (or adopted). */
  since: string;
  /** Why it was enrolled: start, hook, adopted, restart, resync, lab. */
  reason: string;
}

export class WorkloadRegistry {
  private readonly byKey = new Map<string, Workload>();

  constructor(private readonly modeOf: (group: string) => Mode) {}

  all(): Workload[] {
    return [...this.byKey.values()];
  }

  get(key: string): Workload | undefined {
    return this.byKey.get(key);
  }

  set(w: Workload): void {
    this.byKey.set(w.key, w);
  }

  delete(key: string): void {
    this.byKey.delete(key);
  }

  byMac(mac: string): Workload | undefined {
    const m = mac.toLowerCase();
    return this.all().find((w) => w.mac === m);
  }

  ofContainer(id: string): Workload[] {
    return this.all().filter((w) => w.containerId === id);
  }

  members(group: string): Workload[] {
    return this.all().filter((w) => w.group === group);
  }

  groups(): string[] {
    return [...new Set(this.all().map((w) => w.group))].sort();
  }

  /** Finds by port key, container name, container id (prefix of ≥ 12) or workload name. */
  find(ref: string): Workload[] {
    return this.all().filter(
      (w) => w.key === ref || w.name === ref || (ref.length >= 12 && w.containerId?.startsWith(ref)),
    );
  }

  view(w: Workload): WorkloadView {
    return { name: w.key, group: w.group, ip: w.ip, ips: w.ips, mac: w.mac, mode: this.modeOf(w.group) };
  }

  views(): WorkloadView[] {
    return this.all().map((w) => this.view(w));
  }
}

/**
 * The contract every steering backend (u32+pedit, TC BPF) implements. A backend turns
 * the desired steering of one workload port into tc commands; the caller runs them with
 * `tc -batch` in the enforcer namespace (or prints them for `agent plan`).
 */

/** tap: the workload talks directly, the dp gets MAC-rewritten copies (learn, monitor).
 *  inline: unicast IP goes only through vbr→vth→dp→vth→vbr (protect). */
export type SteeringMode = 'tap' | 'inline';

export type SteeringKind = 'u32' | 'bpf';

/** One workload's interception point inside the enforcer namespace. */
export interface SteeredPort {
  workload: string;
  /** Enforcer namespace name (the one the dp runs in). */
  agentNs: string;
  vex: string;
  vin: string;
  vexIfindex: number;
  vinIfindex: number;
  /** The workload's own eth0 MAC. */
  wlMac: string;
  /** 4e:65:75:56:HH:LL from vexIfindex. */
  ucMac: string;
  mode: SteeringMode;
}

/** The shared vbr/vth service pair in the enforcer namespace. */
export interface ServicePair {
  agentNs: string;
  vbr: string;
  vth: string;
  vbrIfindex: number;
}

/** A plan: what would run, per tool, in order. `agent plan` prints it verbatim. */
export interface SteeringPlan {
  /** Lines for `tc -batch -` inside the enforcer namespace. */
  tc: string[];
  /** Other argv commands (e.g. bpftool map updates), run in order after tc. */
  commands: string[][];
}

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
  /** argv commands run (in the caller's namespace) BEFORE tc: e.g. loading and pinning
   *  the BPF programs that the tc lines attach, or map entries a new filter needs. */
  prepare: string[][];
  /** Lines for `tc -batch -` inside the enforcer namespace. */
  tc: string[];
  /** Other argv commands (e.g. bpftool map deletes, pin removal), run in order after tc. */
  commands: string[][];
}

export function emptyPlan(): SteeringPlan {
  return { prepare: [], tc: [], commands: [] };
}

/** Plans that touch disjoint devices and map keys, as one (their steps in the same order). */
export function mergePlans(plans: readonly SteeringPlan[]): SteeringPlan {
  const out = emptyPlan();
  for (const p of plans) {
    out.prepare.push(...p.prepare);
    out.tc.push(...p.tc);
    out.commands.push(...p.commands);
  }
  return out;
}

/**
 * One steering implementation. plan* inspect the current state of the enforcer
 * namespace (read-only) and return the commands that bring it to the desired state;
 * applying the same plan twice leaves identical `tc -json` dumps. Nothing changes until
 * applyPlan runs.
 */
export interface SteeringBackend {
  readonly kind: SteeringKind;
  /** Steering on the shared vbr (and, for bpf, loading/pinning the programs and maps). */
  planService(pair: ServicePair): Promise<SteeringPlan>;
  /** Attach, or switch the mode of, one port's rule set (port.mode). Never leaves a gap
   *  in which an open connection's frames would be lost for good. */
  planPort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan>;
  /**
   * Optional: the mode of ports that are already steered (their filters attached), as one
   * plan without reading the kernel state, for switching many ports at once. Backends
   * without it are switched port by port with planPort.
   */
  planModeSwitch?(ports: readonly SteeredPort[], pair: ServicePair): SteeringPlan;
  /**
   * Optional: the first step of taking inline ports (port.mode 'inline') to tap without
   * loss. The ports stop sending frames to the dp (they cross directly, uninspected, for
   * the moment of the switch) while the way back from the dp stays inline, so frames the
   * dp still holds reach the workload. The caller then waits until the dp has sent what it
   * holds (agent/daemon/dp-drain.ts) and applies planModeSwitch to tap. Backends without
   * it switch at once: frames still queued in the dp are dropped on their way back.
   */
  planDrain?(ports: readonly SteeredPort[], pair: ServicePair): SteeringPlan;
  /** Remove every filter and qdisc of this port (and its map entries). Missing links are fine. */
  planRemovePort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan>;
  /** Remove the vbr steering (and, for bpf, the pin directory). */
  planRemoveService(pair: ServicePair): Promise<SteeringPlan>;
  /** Runs prepare, then `tc -batch -` via nsenter in agentNs, then commands; reads the
   *  touched devices back with `tc -json` and throws ESTEERVERIFY on a mismatch. */
  applyPlan(agentNs: string, plan: SteeringPlan): Promise<void>;
}

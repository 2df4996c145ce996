/**
 * Live bench: iperf3 from the host side to the workload through three paths, built
 * and measured in this run, one after the other so they never share the CPU:
 *   kernel   u32 match-all + mirred redirect vex<->vin in the enforcer (same offloads as the others)
 *   detour   BPF steering vex/vin -> vbr -> vth, an in-kernel mirred reflector on vth
 *   naive    BPF steering, a naive Node cap forwarder on vth (frame in, same frame out)
 *   dp       BPF steering, the Tollgate dp inline on vth (configured by the 4 datagrams), no fast path
 *   neuvector the same with the peer, NeuVector's C dp (`dp -n 1`, same 4 datagrams; bench-peer.ts)
 *   dpfast   the same with the kernel fast path (dp --fast-path-map: established flows bypass the dp)
 *   learn    learn mode (tap steering, the dp gets copies) with the fast path
 */
export type LivePath = 'kernel' | 'detour' | 'naive' | 'dp' | 'neuvector' | 'dpfast' | 'learn';
export const LIVE_PATHS: readonly LivePath[] = ['kernel', 'detour', 'naive', 'dp', 'neuvector', 'dpfast', 'learn'];
/** Paths whose runs are paired with a kernel-only run (see LiveResult.paired). */
export const PAIRED_PATHS: readonly LivePath[] = ['dp', 'neuvector', 'dpfast', 'learn'];

/** Parallel TCP streams of the many-flows row. */
export const MANY_FLOWS = 100;

export interface LiveResult {
  path: LivePath;
  label: string;
  tcpGbps: number[];
  udpKpps: number[];
  /** iperf3 -P MANY_FLOWS, Gbit/s per run. */
  tcpManyGbps: number[];
  /** dp paths: ms from sending a deny-all policy to the first packet the dp dropped, per run. */
  policyDropMs: number[];
  /**
   * dp paths with --paired: a kernel-only run of the same kind right after each run (the
   * kernel lab stays up), so each ratio compares runs taken under the same machine load.
   */
  paired?: { tcp: number[]; udp: number[]; many: number[] };
  /** dp only: CPU % of one core (median over runs) and RSS after the runs. */
  tcpCpu?: number;
  udpCpu?: number;
  rssMiB?: number;
  error?: string;
  /** The path was not run (the peer's binary is missing): why. No figure is quoted for it. */
  notMeasured?: string;
}

export interface LiveOptions {
  secs: number;
  tcpRuns: number;
  udpRuns: number;
  /** Runs of the MANY_FLOWS row per path (0: none). */
  manyRuns: number;
  /** Runs of the policy-change-to-first-drop measurement per dp path (0: none). */
  policyRuns: number;
  /** Pair every dp-path run with a kernel-only run right after it (needs the kernel path). */
  paired?: boolean;
  paths: LivePath[];
  /** Extra node flags for the dp (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  dpNodeArgs?: string[];
  /** Run both user-space forwarders (naive and dp) under `nice -n N` (e.g. -5). */
  forwarderNice?: number;
  /** dp -n N (default 1); N ≥ 2 runs worker threads sharing vth by flow hash. */
  dpWorkers?: number;
  log?: (s: string) => void;
}

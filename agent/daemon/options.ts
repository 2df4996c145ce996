/** What `agent run` configures on a daemon (agent/cli/daemon-commands.ts builds it from the flags). */
import type { Logger } from '../../shared/log.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import type { LabSpec, Mode, SteeringChoice } from '../topology/spec.js';

export interface DaemonOptions {
  /** Instance name: API socket, state and (without a spec) the enforcer namespace derive from it. */
  name?: string;
  /** Lab workloads to build and enforce (tests and the demo); optional with a runtime. */
  spec?: LabSpec;
  rulesPath: string;
  log: Logger;
  runtime?: ContainerRuntime | null;
  /** `--select LABEL=VALUE`: only matching containers are this agent's. */
  selectors?: readonly { key: string; value: string }[];
  /** `--internal-net CIDR` flags, added to the runtime's and the spec's subnets. */
  internalNets?: readonly string[];
  /** Mode of a group the agent has not seen before (default learn). */
  defaultMode?: Mode;
  /** Install the OCI hook (enrolment before a container's first packet) in this directory (podman). */
  hooksDir?: string;
  /** Write the wrapper runtime that adds the same hook for dockerd at this path. */
  ociWrapper?: string;
  /** Steering without a spec (a spec names its own). */
  steering?: SteeringChoice;
  /** Where hook state lives (default /var/lib/tollgate/<name>). */
  stateDir?: string;
  /** Seconds between dp event flushes. */
  reportInterval?: number;
  /** Extra dp arguments (tests). */
  dpArgs?: string[];
  /** `--metrics` / `--ui` listen addresses (agent/observe/start.ts); off when absent. */
  metrics?: string;
  ui?: string;
  /** Kernel fast path (BPF steering only); false = `agent run --no-fast-path`. Default true. */
  fastPath?: boolean;
  /** Seconds a starting dp has to answer on its control socket (default 15). */
  dpStartTimeout?: number;
  /** Seconds a dp has to answer a keep-alive before it is restarted (default 3). */
  keepAliveTimeout?: number;
}

/**
 * The one interface every container runtime adapter implements. The agent only needs a
 * runtime to tell it which containers run, in which network namespace, on which
 * networks, and when that changes; everything else (pulling ports inline, steering,
 * policy) is the runtime-independent part of the agent.
 */

export type RuntimeKind = 'docker' | 'podman';

/** One network attachment of a container, as the runtime reports it. */
export interface ContainerNetwork {
  /** Runtime network name ("bridge", "podman", a user network). */
  network: string;
  /** IPv4 address without prefix, '' when the runtime gave none. */
  ip: string;
  prefixLength: number;
  /** IPv6 global address, '' when none. */
  ipv6: string;
  mac: string;
}

export interface ContainerInfo {
  id: string;
  /** Name without the leading slash the Docker API puts there. */
  name: string;
  image: string;
  labels: Record<string, string>;
  /** The container's init process; 0 when it is not running. */
  pid: number;
  running: boolean;
  /** ISO time the current run started ('' when not running). */
  startedAt: string;
  networks: ContainerNetwork[];
}

/** Container lifecycle events the agent reacts to (the runtime's action names, normalized). */
export type RuntimeEventKind = 'create' | 'start' | 'die' | 'destroy' | 'restart' | 'connect' | 'disconnect';

export interface RuntimeEvent {
  kind: RuntimeEventKind;
  id: string;
  /** Container name and labels when the event carries them (Docker and podman both send labels as attributes). */
  name?: string;
  labels?: Record<string, string>;
  image?: string;
}

/** A subnet a runtime network uses: these are the node's internal networks. */
export interface RuntimeSubnet {
  network: string;
  cidr: string;
}

export interface ContainerRuntime {
  readonly kind: RuntimeKind;
  readonly socketPath: string;
  /** Answers when the API is reachable; throws ERUNTIME otherwise. */
  ping(): Promise<void>;
  /** Running containers with their details. */
  list(): Promise<ContainerInfo[]>;
  /** One container's details; null when it does not exist (any more). */
  inspect(id: string): Promise<ContainerInfo | null>;
  /** Subnets of the runtime's networks. */
  subnets(): Promise<RuntimeSubnet[]>;
  /**
   * Follows the event stream until it ends or fails; `onEnd` is called once with the
   * reason. The returned function stops following.
   */
  follow(onEvent: (e: RuntimeEvent) => void, onEnd: (reason: string) => void): Promise<() => void>;
}

import { runIn, type ExecOptions, type ExecResult } from '../../shared/exec.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import { applyLab } from '../../agent/topology/reconcile.js';
import { downLab } from '../../agent/topology/down.js';
import { readLinks } from '../../agent/topology/ip-state.js';
import { hostPeerName, pinDirFor, vexName, vinName } from '../../agent/topology/names.js';
import {
  labNamespaces,
  parseLabSpec,
  type LabSpec,
  type Mode,
  type SteeringChoice,
} from '../../agent/topology/spec.js';
import { openSteering } from '../../agent/topology/steering-bridge.js';
import { testPrefix } from './netns.js';

/**
 * A lab for tests: `labUp()` builds host side, agent-ns and workloads under a fresh
 * testPrefix(); `lab.down()` removes exactly that. Roles name namespaces for exec:
 * 'host', 'agent' or a workload name.
 */
export interface LabWorkload {
  name: string;
  ns: string;
  ip: string;
  mac: string;
  mode: Mode;
  vex: string;
  vin: string;
  hostPeer: string;
  vexIfindex: number;
  vinIfindex: number;
  ucMac: string;
}

export interface Lab {
  spec: LabSpec;
  prefix: string;
  hostNs: string;
  agentNs: string;
  hostIp: string;
  pinDir: string;
  /** The steering backend kind in use, or 'none'. */
  steering: string;
  workloads: LabWorkload[];
  workload(name: string): LabWorkload;
  ns(role: string): string;
  exec(role: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  down(): Promise<void>;
}

export interface LabOptions {
  /** Default: web 198.18.0.10 and db 198.18.0.11 on a 198.18.0.1/24 bridge. */
  workloads?: Array<{ name: string; ip: string; mac: string; mode?: Mode; mtu?: number }>;
  /** Default 'auto' (bpf on this machine type); 'none' builds the links without filters. */
  steering?: SteeringChoice;
  /** Mode for every workload that does not set its own (default learn). */
  mode?: Mode;
  hostAddress?: string;
}

export const DEFAULT_TEST_WORKLOADS = [
  { name: 'web', ip: '198.18.0.10/24', mac: '02:74:67:00:00:0a' },
  { name: 'db', ip: '198.18.0.11/24', mac: '02:74:67:00:00:0b' },
];

export async function labUp(opts: LabOptions = {}): Promise<Lab> {
  const prefix = testPrefix();
  const spec = parseLabSpec({
    prefix,
    hostSide: { name: 'host', address: opts.hostAddress ?? '198.18.0.1/24' },
    agentNs: 'agent',
    steering: opts.steering ?? 'auto',
    workloads: (opts.workloads ?? DEFAULT_TEST_WORKLOADS).map((w) => ({ mode: opts.mode ?? 'learn', ...w })),
  });
  const ns = labNamespaces(spec);
  const pinDir = pinDirFor(ns.agent);
  const down = async () => {
    await downLab(spec);
  };
  try {
    const steering = await openSteering(spec.steering, pinDir);
    await applyLab(spec, steering);
    const links = await readLinks(ns.agent);
    const index = (n: string) => links.find((l) => l.ifname === n)?.ifindex ?? -1;
    const workloads = spec.workloads.map((w) => ({
      name: w.name,
      ns: ns.workload(w.name),
      ip: w.address,
      mac: w.mac,
      mode: w.mode,
      vex: vexName(w.name),
      vin: vinName(w.name),
      hostPeer: hostPeerName(w.name),
      vexIfindex: index(vexName(w.name)),
      vinIfindex: index(vinName(w.name)),
      ucMac: ucmacForIfindex(index(vexName(w.name))),
    }));
    const nsOf = (role: string): string => {
      if (role === 'host') return ns.host;
      if (role === 'agent') return ns.agent;
      if (workloads.some((w) => w.name === role)) return ns.workload(role);
      throw new Error(`unknown lab role ${role}`);
    };
    return {
      spec,
      prefix,
      hostNs: ns.host,
      agentNs: ns.agent,
      hostIp: spec.hostSide.ip,
      pinDir,
      steering: steering?.kind ?? 'none',
      workloads,
      workload: (name) => {
        const w = workloads.find((x) => x.name === name);
        if (!w) throw new Error(`unknown workload ${name}`);
        return w;
      },
      ns: nsOf,
      exec: (role, argv, o) => runIn(nsOf(role), argv, o),
      down,
    };
  } catch (e) {
    await down().catch(() => {});
    throw e;
  }
}

/** Removes a lab's leftovers by prefix even when labUp threw half-way (for afterAll). */
export async function labDownByPrefix(prefix: string): Promise<void> {
  await downLab(parseLabSpec({ prefix, workloads: [] }));
}

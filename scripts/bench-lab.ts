import { runIn, type ExecOptions, type ExecResult } from '../shared/exec.js';
import { ucmacForIfindex } from '../shared/mac.js';
import { newRunPrefix } from '../shared/run-id.js';
import { applyLab } from '../agent/topology/reconcile.js';
import { downLab } from '../agent/topology/down.js';
import { readLinks } from '../agent/topology/ip-state.js';
import { hostPeerName, vexName, vinName } from '../agent/topology/names.js';
import { OFFLOADS } from '../agent/topology/offload.js';
import { labNamespaces, parseLabSpec, type LabSpec, type SteeringChoice } from '../agent/topology/spec.js';
import { openSteering } from '../agent/topology/steering-bridge.js';

/**
 * The bench's lab: the agent's own topology code (applyLab + steering) with one
 * protect-mode workload, under a fresh per-run prefix, in 198.18.0.0/15 only.
 * Scripts do not import from test/, so this is the minimal builder the bench needs.
 */
export interface BenchLab {
  spec: LabSpec;
  prefix: string;
  hostNs: string;
  agentNs: string;
  wlNs: string;
  wlIp: string;
  wlMac: string;
  ucMac: string;
  vex: string;
  vin: string;
  exec(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  down(): Promise<void>;
}

export const BENCH_WL = { name: 'web', ip: '198.18.0.10/24', mac: '02:74:67:00:00:0a' } as const;

/**
 * Offloads of the workload's links (eth0, host side, vex, vin): `on` is what the topology
 * leaves (vbr/vth always off); `off` switches them off too, the setting before the fast path.
 */
export type BenchOffloads = 'on' | 'off';
let benchOffloads: BenchOffloads = 'on';
export function setBenchOffloads(o: BenchOffloads): void {
  benchOffloads = o;
}
export const offloadLabel = (): string => (benchOffloads === 'on' ? 'offloads on (off on vbr/vth)' : 'offloads off');

/** Prefixes of labs this process built and has not taken down yet (for the Ctrl-C path). */
const liveSpecs = new Set<LabSpec>();
/** Set once the bench is shutting down: no new lab may be built after that. */
let closing = false;

export async function benchLabUp(steering: SteeringChoice, tag = 'tgb'): Promise<BenchLab> {
  if (closing) throw new Error('bench is shutting down');
  const prefix = newRunPrefix(tag);
  const spec = parseLabSpec({
    prefix,
    hostSide: { name: 'host', address: '198.18.0.1/24' },
    agentNs: 'agent',
    steering,
    workloads: [{ ...BENCH_WL, mode: 'protect' }],
  });
  liveSpecs.add(spec);
  const ns = labNamespaces(spec);
  const down = async (): Promise<void> => {
    await downLab(spec).catch(() => {});
    liveSpecs.delete(spec);
  };
  try {
    await applyLab(spec, await openSteering(spec.steering, `/sys/fs/bpf/tollgate-${ns.agent}`));
    if (benchOffloads === 'off') {
      const off = OFFLOADS.flatMap((f) => [f.key, 'off']);
      for (const [n, dev] of [
        [ns.workload(BENCH_WL.name), 'eth0'],
        [ns.host, hostPeerName(BENCH_WL.name)],
        [ns.agent, vexName(BENCH_WL.name)],
        [ns.agent, vinName(BENCH_WL.name)],
      ] as const) {
        await runIn(n, ['ethtool', '-K', dev, ...off]);
      }
    }
    const links = await readLinks(ns.agent);
    if (closing) throw new Error('bench is shutting down');
    const vexIfindex = links.find((l) => l.ifname === vexName(BENCH_WL.name))?.ifindex ?? -1;
    return {
      spec,
      prefix,
      hostNs: ns.host,
      agentNs: ns.agent,
      wlNs: ns.workload(BENCH_WL.name),
      wlIp: BENCH_WL.ip.split('/')[0]!,
      wlMac: BENCH_WL.mac,
      ucMac: ucmacForIfindex(vexIfindex),
      vex: vexName(BENCH_WL.name),
      vin: vinName(BENCH_WL.name),
      exec: (n, argv, o) => runIn(n, argv, o),
      down,
    };
  } catch (e) {
    await down();
    throw e;
  }
}

/** Takes down every lab still up (used on SIGINT/SIGTERM and at exit). */
export async function downAllBenchLabs(): Promise<void> {
  closing = true;
  for (const s of [...liveSpecs]) {
    await downLab(s).catch(() => {});
    liveSpecs.delete(s);
  }
}

import { TollgateError } from '../../shared/errors.js';
import type { SteeringBackend } from '../steering/index.js';
import { planCreateNamespace, planServicePair, serviceMtu } from './agent-ns.js';
import { execute, ip, type Command } from './commands.js';
import { readLinks, type IpLink } from './ip-state.js';
import { portsIn, readLabState, workloadProblem, type LabState } from './lab-state.js';
import { BRIDGE, freeIfindex, hostPeerName, VBR, VBR_IFINDEX, VIN_IFINDEX_BASE, vexName, vinName } from './names.js';
import { OFFLOADS } from './offload.js';
import { encodeMarker, type PortMarker } from './port-marker.js';
import { planPull } from './pull.js';
import { labNamespaces, type LabSpec, type Mode, type WorkloadSpec } from './spec.js';
import { isEmptyPlan, servicePair, steeredPort, steeringCommands } from './steering-bridge.js';

/**
 * Idempotent reconcile: read what exists, apply only the difference. A spec applied
 * twice runs nothing the second time; a workload removed from the spec loses its
 * steering, links and namespace and nothing else is touched.
 */

/** Lab workloads' original eth0 (future vex) get ifindexes from here, unique in agent-ns. */
const VEX_IFINDEX_BASE = 1000;

export interface LabPlan {
  /** Steering removal of ports leaving the spec: must run before their links go. */
  removeSteering: Command[];
  topology: Command[];
  /** Service and port steering as computed against the current state (informational for plan). */
  steering: Command[];
  /** One line per thing that changes, for humans. */
  changes: string[];
}

export async function planLab(spec: LabSpec, steering: SteeringBackend | null): Promise<LabPlan> {
  const state = await readLabState(spec);
  const ns = labNamespaces(spec);
  const plan: LabPlan = { removeSteering: [], topology: [], steering: [], changes: [] };
  const T = plan.topology;

  // Host side: the "network" namespace with its bridge.
  if (!state.host.exists) {
    plan.changes.push(`create namespace ${ns.host}`);
    T.push(...planCreateNamespace(ns.host, false));
  }
  const br = state.host.links.find((l) => l.ifname === BRIDGE);
  if (!br) {
    plan.changes.push(`create bridge ${BRIDGE} ${spec.hostSide.address}`);
    T.push(
      ip(ns.host, 'link', 'add', BRIDGE, 'type', 'bridge'),
      ip(ns.host, 'addr', 'add', spec.hostSide.address, 'dev', BRIDGE),
      ip(ns.host, 'link', 'set', BRIDGE, 'up'),
    );
  } else {
    const v4 = br.addr_info.filter((a) => a.family === 'inet');
    for (const a of v4)
      if (a.local !== spec.hostSide.ip || a.prefixlen !== spec.hostSide.prefixLength)
        T.push(ip(ns.host, 'addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', BRIDGE));
    if (!v4.some((a) => a.local === spec.hostSide.ip && a.prefixlen === spec.hostSide.prefixLength))
      T.push(ip(ns.host, 'addr', 'add', spec.hostSide.address, 'dev', BRIDGE));
    if (!br.flags.includes('UP')) T.push(ip(ns.host, 'link', 'set', BRIDGE, 'up'));
    if (T.length) plan.changes.push(`fix bridge ${BRIDGE}`);
  }

  // Enforcer namespace and the service pair.
  if (!state.agent.exists) {
    plan.changes.push(`create namespace ${ns.agent}`);
    T.push(...planCreateNamespace(ns.agent, true));
  }
  const svc = planServicePair(ns.agent, state.agent.links, serviceMtu(spec.workloads.map((w) => w.mtu)));
  if (svc.length) plan.changes.push(`create service pair ${VBR}/vth`);
  T.push(...svc);

  // Ports in agent-ns that the spec no longer has: steering off first, then links and namespace.
  const ports = portsIn(state.agent.links);
  const wanted = new Set(spec.workloads.map((w) => w.name));
  const vbrIndex = state.agent.links.find((l) => l.ifname === VBR)?.ifindex ?? VBR_IFINDEX;
  for (const [label, p] of ports) {
    if (wanted.has(label)) continue;
    // Only ports this lab built are the spec's to remove: a pulled namespace or an enrolled
    // container that shares the enforcer is never deleted by a spec that does not list it.
    if (!isLabPort(spec, state, label, p.marker)) continue;
    plan.changes.push(`remove workload ${label}`);
    if (steering && p.vex && p.vin && p.marker && p.marker.steering !== 'none') {
      const sp = portOfLinks(label, ns.agent, p.vex, p.vin, p.vex.address ?? '', p.marker.mode);
      plan.removeSteering.push(
        ...steeringCommands(
          ns.agent,
          await steering.planRemovePort(sp, servicePair(ns.agent, vbrIndex)),
          `remove steering of ${label}`,
        ),
      );
    }
    T.push(...removeWorkload(spec, state, label));
  }

  // Spec workloads: build what is missing or broken, fix offloads and modes of the rest.
  const takenVex = new Set<number>();
  const takenVin = new Set<number>();
  for (const w of spec.workloads) {
    const existing = ports.get(w.name);
    if (existing && !isLabPort(spec, state, w.name, existing.marker)) {
      const owner = existing.marker?.containerId
        ? `container ${existing.marker.containerId.slice(0, 12)}`
        : 'a pulled namespace';
      throw new TollgateError(
        'EOWNED',
        `port ${vexName(w.name)} in ${ns.agent} belongs to ${owner}, not to this lab; rename workload "${w.name}" in the spec, or run "agent restore" on that namespace first`,
        `workloads.${w.name}`,
      );
    }
    const problem = workloadProblem(w, state);
    const marker = ports.get(w.name)?.marker;
    if (problem) {
      plan.changes.push(
        state.workloads.has(w.name) || ports.has(w.name)
          ? `rebuild workload ${w.name} (${problem})`
          : `create workload ${w.name}`,
      );
      if (
        state.workloads.has(w.name) ||
        ports.has(w.name) ||
        state.host.links.some((l) => l.ifname === hostPeerName(w.name))
      )
        T.push(...removeWorkload(spec, state, w.name));
      const vexIndex = freeIfindex(state.agent.links, VEX_IFINDEX_BASE, takenVex);
      const vinIndex = freeIfindex(state.agent.links, VIN_IFINDEX_BASE, takenVin);
      takenVex.add(vexIndex);
      takenVin.add(vinIndex);
      T.push(...buildWorkload(spec, w, vexIndex, vinIndex, steering?.kind ?? 'none'));
      continue;
    }
    const st = steering?.kind ?? 'none';
    if (marker && (marker.mode !== w.mode || marker.steering !== st)) {
      plan.changes.push(`workload ${w.name}: mode ${marker.mode}/${marker.steering} -> ${w.mode}/${st}`);
      T.push(
        ip(ns.agent, 'link', 'set', vexName(w.name), 'alias', encodeMarker({ ...marker, mode: w.mode, steering: st })),
      );
    }
  }
  if (steering) plan.steering = await planSteeringPreview(spec, steering);
  return plan;
}

/**
 * A port the lab built: marked `src=lab`, or (markers written before ports recorded their
 * owner) one whose workload namespace is the lab's own `<prefix><label>`.
 */
export function isLabPort(spec: LabSpec, state: LabState, label: string, marker: PortMarker | null): boolean {
  if (marker?.source) return marker.source === 'lab';
  return (
    state.namespaces.includes(labNamespaces(spec).workload(label)) ||
    state.host.links.some((l) => l.ifname === hostPeerName(label))
  );
}

/** The CNI's part (eth0 in the workload, its peer on the bridge), then the pull. */
function buildWorkload(
  spec: LabSpec,
  w: WorkloadSpec,
  vexIndex: number,
  vinIndex: number,
  steering: string,
): Command[] {
  const ns = labNamespaces(spec);
  const W = ns.workload(w.name);
  const peer = hostPeerName(w.name);
  const cmds: Command[] = [
    ...planCreateNamespace(W, false),
    {
      ...ip(
        W,
        'link',
        'add',
        'eth0',
        'index',
        String(vexIndex),
        'address',
        w.mac,
        'mtu',
        String(w.mtu),
        'type',
        'veth',
        'peer',
        'name',
        peer,
        'mtu',
        String(w.mtu),
        'netns',
        ns.host,
      ),
      note: `workload ${w.name}: CNI-style eth0 on ${BRIDGE}`,
    },
    ip(W, 'addr', 'add', w.ip, 'dev', 'eth0'),
    ip(W, 'link', 'set', 'eth0', 'up'),
    ...(w.gateway ? [ip(W, 'route', 'add', 'default', 'via', w.gateway, 'dev', 'eth0')] : []),
    ip(ns.host, 'link', 'set', peer, 'master', BRIDGE),
    ip(ns.host, 'link', 'set', peer, 'up'),
  ];
  const expected = {
    ifname: 'eth0',
    mac: w.mac,
    mtu: w.mtu,
    txqlen: 1000,
    addrs: [{ family: 'inet' as const, local: w.address, prefixlen: w.prefixLength }],
    routes: w.gateway ? [{ dst: 'default', gateway: w.gateway, dev: 'eth0' }] : [],
    neighbours: [],
  };
  cmds.push(
    ...planPull(
      expected,
      {
        ns: W,
        agentNs: ns.agent,
        label: w.name,
        mode: w.mode,
        steering,
        vinIfindex: vinIndex,
        source: 'lab',
        group: w.name,
      },
      OFFLOADS.map((f) => f.key),
    ),
  );
  return cmds;
}

function removeWorkload(spec: LabSpec, state: LabState, label: string): Command[] {
  const ns = labNamespaces(spec);
  const cmds: Command[] = [];
  const has = (n: string) => state.agent.links.some((l) => l.ifname === n);
  if (has(vexName(label)))
    cmds.push({ ...ip(ns.agent, 'link', 'del', vexName(label)), bestEffort: true, note: `remove workload ${label}` });
  if (has(vinName(label))) cmds.push({ ...ip(ns.agent, 'link', 'del', vinName(label)), bestEffort: true });
  if (state.host.links.some((l) => l.ifname === hostPeerName(label)))
    cmds.push({ ...ip(ns.host, 'link', 'del', hostPeerName(label)), bestEffort: true });
  if (state.namespaces.includes(ns.workload(label)))
    cmds.push({ ...ip(undefined, 'netns', 'del', ns.workload(label)), bestEffort: true });
  return cmds;
}

/** What steering would do now (ports that do not exist yet are planned with their planned ifindexes). */
async function planSteeringPreview(spec: LabSpec, steering: SteeringBackend): Promise<Command[]> {
  const ns = labNamespaces(spec);
  const out: Command[] = [];
  try {
    const links = await readLinks(ns.agent).catch(() => []);
    const pair = servicePair(ns.agent, links.find((l) => l.ifname === VBR)?.ifindex ?? VBR_IFINDEX);
    out.push(...steeringCommands(ns.agent, await steering.planService(pair), 'service steering'));
    for (const p of await steeredPorts(spec, links))
      out.push(...steeringCommands(ns.agent, await steering.planPort(p, pair), `steering ${p.workload} (${p.mode})`));
  } catch (e) {
    out.push({
      argv: ['true'],
      note: `steering is computed after the links exist (${e instanceof Error ? e.message : String(e)})`,
    });
  }
  return out;
}

async function steeredPorts(spec: LabSpec, agentLinks: Awaited<ReturnType<typeof readLinks>>) {
  const ns = labNamespaces(spec);
  return spec.workloads.flatMap((w) => {
    const vex = agentLinks.find((l) => l.ifname === vexName(w.name));
    const vin = agentLinks.find((l) => l.ifname === vinName(w.name));
    if (!vex || !vin) return [];
    return [portOfLinks(w.name, ns.agent, vex, vin, w.mac, w.mode)];
  });
}

/** A workload's port for the steering backend, from its vex/vin links in the enforcer. */
function portOfLinks(workload: string, agentNs: string, vex: IpLink, vin: IpLink, wlMac: string, mode: Mode) {
  return steeredPort({
    workload,
    agentNs,
    vex: vex.ifname,
    vin: vin.ifname,
    vexIfindex: vex.ifindex,
    vinIfindex: vin.ifindex,
    wlMac,
    mode,
  });
}

/** Applies a spec: steering removal, topology, then service and port steering read back from the new state. */
export async function applyLab(spec: LabSpec, steering: SteeringBackend | null): Promise<LabPlan> {
  const plan = await planLab(spec, steering);
  // Removal steering is re-planned and applied through the backend (it verifies with tc -json).
  if (steering && plan.removeSteering.length) {
    const state = await readLabState(spec);
    const ns = labNamespaces(spec);
    const vbr = state.agent.links.find((l) => l.ifname === VBR);
    for (const [label, p] of portsIn(state.agent.links)) {
      if (spec.workloads.some((w) => w.name === label) || !p.vex || !p.vin || !p.marker) continue;
      if (!isLabPort(spec, state, label, p.marker)) continue;
      const sp = portOfLinks(label, ns.agent, p.vex, p.vin, p.vex.address ?? '', p.marker.mode);
      await steering.applyPlan(
        ns.agent,
        await steering.planRemovePort(sp, servicePair(ns.agent, vbr?.ifindex ?? VBR_IFINDEX)),
      );
    }
  }
  await execute(plan.topology);
  if (steering) {
    const ns = labNamespaces(spec);
    const links = await readLinks(ns.agent);
    const vbr = links.find((l) => l.ifname === VBR);
    const pair = servicePair(ns.agent, vbr?.ifindex ?? VBR_IFINDEX);
    const svc = await steering.planService(pair);
    if (!isEmptyPlan(svc)) await steering.applyPlan(ns.agent, svc);
    for (const p of await steeredPorts(spec, links)) {
      const pp = await steering.planPort(p, pair);
      if (!isEmptyPlan(pp)) await steering.applyPlan(ns.agent, pp);
    }
  }
  return plan;
}

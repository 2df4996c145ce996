import { TollgateError } from '../../shared/errors.js';
import { execute, formatCommands, ip, type Command } from './commands.js';
import { readLinks, listNamespaces } from './ip-state.js';
import {
  defaultPortLabel,
  freeIfindex,
  netnsPath,
  pinDirFor,
  VBR,
  VIN_IFINDEX_BASE,
  vexName,
  vinName,
} from './names.js';
import { readOffloads, type OffloadKey } from './offload.js';
import { encodeMarker, type PortSource } from './port-marker.js';
import { addrCommands, capturePort, neighbourCommands, routeCommands, type PortState } from './port-state.js';
import { planCreateNamespace, planServicePair, serviceMtu } from './agent-ns.js';
import type { Mode, SteeringChoice } from './spec.js';
import { openSteering, servicePair, steeredPort, steeringCommands } from './steering-bridge.js';
import type { SteeringBackend } from '../steering/index.js';
import { existsSync } from 'node:fs';

/**
 * Pulling a workload's port inline, NeuVector's way (docs/ARCHITECTURE.md "The packet path"): the original eth0
 * (still plugged into the network) is renamed vex-<label> and moved to the enforcer
 * namespace; a new eth0↔vin-<label> veth pair takes its place, eth0 keeping the MAC,
 * MTU, queue length, addresses, routes and permanent neighbours. The workload sees
 * the same interface; the network sees the same MAC behind the same bridge port.
 */
export interface PullTarget {
  /** Workload namespace: a name in /run/netns or a path such as /proc/PID/ns/net. */
  ns: string;
  /** Enforcer namespace name. */
  agentNs: string;
  /** Port label: links are vex-<label> / vin-<label>. */
  label: string;
  mode: Mode;
  /** Steering kind recorded in the marker ('none' when unsteered). */
  steering: string;
  /** ifindex for the new vin in the enforcer namespace (see names.ts VIN_IFINDEX_BASE). */
  vinIfindex: number;
  ifname?: string;
  /** Who owns the port (recorded in the marker); `agent pull` when not said. */
  source?: PortSource;
  containerId?: string;
  group?: string;
}

/** The commands of a pull, from a captured (or, for a lab being built, expected) state. */
export function planPull(state: PortState, t: PullTarget, offloadsOn: readonly OffloadKey[]): Command[] {
  const W = t.ns;
  const A = t.agentNs;
  const eth = state.ifname;
  const vex = vexName(t.label);
  const vin = vinName(t.label);
  const marker = encodeMarker({
    label: t.label,
    mode: t.mode,
    steering: t.steering,
    offloadsOn: [...offloadsOn],
    source: t.source ?? 'pull',
    ...(t.containerId ? { containerId: t.containerId } : {}),
    ...(t.group ? { group: t.group } : {}),
    ...(state.alias ? { alias: state.alias } : {}),
  });
  const mtu = String(state.mtu);
  return [
    { ...ip(W, 'link', 'set', eth, 'down'), note: `pull ${eth} of ${W} inline as ${vex}/${vin} in ${A}` },
    ip(W, 'link', 'set', eth, 'name', vex),
    ip(W, 'addr', 'flush', 'dev', vex),
    ip(W, 'link', 'set', vex, 'alias', marker),
    // Created from the enforcer side: the kernel ignores an index given for a veth peer.
    ip(
      A,
      'link',
      'add',
      vin,
      'index',
      String(t.vinIfindex),
      'mtu',
      mtu,
      'type',
      'veth',
      'peer',
      'name',
      eth,
      'address',
      state.mac,
      'mtu',
      mtu,
      'txqueuelen',
      String(state.txqlen),
      'netns',
      W,
    ),
    ...(state.alias ? [ip(W, 'link', 'set', eth, 'alias', state.alias)] : []),
    ...addrCommands(W, eth, state.addrs),
    ip(W, 'link', 'set', vex, 'netns', A),
    ip(W, 'link', 'set', eth, 'up'),
    ...routeCommands(W, eth, state.routes),
    ...neighbourCommands(W, eth, state.neighbours),
    ip(A, 'link', 'set', vex, 'up'),
    ip(A, 'link', 'set', vin, 'up'),
    // Offloads stay as they are on eth0, vex and vin: the dp only sees frames that crossed
    // vbr, whose offloads are off (offload.ts), and the kernel fast path forwards super-frames whole.
  ];
}

/**
 * Undoes a pull that failed part-way, from whatever step it reached: the interface gets its
 * name, alias, addresses and routes back in the workload's namespace. Every step is
 * best-effort, because the failed pull may not have reached it.
 */
export function planPullRollback(state: PortState, t: Pick<PullTarget, 'ns' | 'agentNs' | 'label'>): Command[] {
  const W = t.ns;
  const eth = state.ifname;
  const vex = vexName(t.label);
  const best = (c: Command): Command => ({ ...c, bestEffort: true });
  return [
    // Deleting vin deletes its peer, the new eth in the workload's namespace, if it was made.
    best({ ...ip(t.agentNs, 'link', 'del', vinName(t.label)), note: `roll back the failed pull of ${eth} in ${W}` }),
    best(ip(t.agentNs, 'link', 'set', vex, 'netns', W)),
    best(ip(W, 'link', 'set', vex, 'down')),
    best(ip(W, 'link', 'set', vex, 'name', eth)),
    best(ip(W, 'link', 'set', eth, 'alias', state.alias ?? '')),
    ...addrCommands(W, eth, state.addrs).map(best),
    best(ip(W, 'link', 'set', eth, 'up')),
    ...routeCommands(W, eth, state.routes).map(best),
    ...neighbourCommands(W, eth, state.neighbours).map(best),
  ];
}

export interface PullOptions {
  ns: string;
  agentNs: string;
  label?: string;
  mode?: Mode;
  steering?: SteeringChoice;
  ifname?: string;
  /** Policy group recorded in the marker (a daemon adopting the port uses it). */
  group?: string;
  /** Only compute and return the commands. */
  dryRun?: boolean;
}

export interface PullResult {
  label: string;
  vex: string;
  vin: string;
  commands: string[];
}

/** Checks, captures and pulls; then steers the port (tap in learn/monitor) unless steering is 'none'. */
export async function pullPort(o: PullOptions): Promise<PullResult> {
  const path = netnsPath(o.ns);
  if (!existsSync(path)) throw new TollgateError('ENONS', `namespace ${o.ns} does not exist`, 'netns');
  const label = o.label ?? defaultPortLabel(o.ns);
  if (!/^[a-z][a-z0-9]{0,10}$/.test(label))
    throw new TollgateError('EBADLABEL', `port label "${label}" must match ^[a-z][a-z0-9]{0,10}$`, 'name');
  const ifname = o.ifname ?? 'eth0';
  const mode = o.mode ?? 'learn';
  const choice = o.steering ?? 'auto';

  const cmds: Command[] = [];
  const agentExists = (await listNamespaces()).includes(o.agentNs);
  const agentLinks = agentExists ? await readLinks(o.agentNs) : [];
  if (agentLinks.some((l) => l.ifname === vexName(label) || l.ifname === vinName(label)))
    throw new TollgateError('EALREADY', `${vexName(label)} already exists in ${o.agentNs} (already pulled?)`, 'netns');
  const state = await capturePort(path, ifname);
  const offloads = await readOffloads(path, ifname);
  if (!agentExists) cmds.push(...planCreateNamespace(o.agentNs, true));
  cmds.push(...planServicePair(o.agentNs, agentLinks, serviceMtu([state.mtu])));

  const backend = await openSteering(choice, pinDirFor(o.agentNs));
  const steering = backend?.kind ?? 'none';
  cmds.push(
    ...planPull(
      state,
      {
        ns: path,
        agentNs: o.agentNs,
        label,
        mode,
        steering,
        ifname,
        vinIfindex: freeIfindex(agentLinks, VIN_IFINDEX_BASE),
        source: 'pull',
        group: o.group ?? label,
      },
      offloads.on,
    ),
  );
  const printed = formatCommands(cmds);
  if (o.dryRun) return { label, vex: vexName(label), vin: vinName(label), commands: printed };
  await execute(cmds);
  if (backend) await steerPulledPort(backend, o.agentNs, label, state.mac, mode, printed);
  return { label, vex: vexName(label), vin: vinName(label), commands: printed };
}

/** Service steering (idempotent: an up-to-date plan is empty), then the port's filters. */
async function steerPulledPort(
  backend: SteeringBackend,
  agentNs: string,
  label: string,
  wlMac: string,
  mode: Mode,
  printed: string[],
): Promise<void> {
  const links = await readLinks(agentNs);
  const vbr = links.find((l) => l.ifname === VBR);
  const vex = links.find((l) => l.ifname === vexName(label));
  const vin = links.find((l) => l.ifname === vinName(label));
  if (!vbr || !vex || !vin) throw new TollgateError('ENOLINK', `pulled links missing in ${agentNs}`);
  const pair = servicePair(agentNs, vbr.ifindex);
  const svc = await backend.planService(pair);
  printed.push(...formatCommands(steeringCommands(agentNs, svc, 'service steering')));
  await backend.applyPlan(agentNs, svc);
  const port = steeredPort({
    workload: label,
    agentNs,
    vex: vex.ifname,
    vin: vin.ifname,
    vexIfindex: vex.ifindex,
    vinIfindex: vin.ifindex,
    wlMac,
    mode,
  });
  const plan = await backend.planPort(port, pair);
  printed.push(...formatCommands(steeringCommands(agentNs, plan, `steering ${label} (${port.mode})`)));
  await backend.applyPlan(agentNs, plan);
}

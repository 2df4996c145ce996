import { existsSync } from 'node:fs';
import { TollgateError } from '../../shared/errors.js';
import { execute, formatCommands, ip, type Command } from './commands.js';
import { readLink, readLinks, type IpLink } from './ip-state.js';
import { netnsPath, pinDirFor, portLabelOf, VBR, vexName } from './names.js';
import { offloadCommand } from './offload.js';
import { decodeMarker, type PortMarker } from './port-marker.js';
import { addrCommands, capturePort, neighbourCommands, routeCommands, type PortState } from './port-state.js';
import { openSteering, servicePair, steeredPort, steeringCommands } from './steering-bridge.js';

/**
 * Undoing a pull exactly: drop the workload's steering, delete the eth0↔vin pair,
 * move vex back, rename it eth0 and give it back what the replacement eth0 carried
 * (MAC, MTU, addresses, routes, neighbours) plus what the vex marker remembered (the
 * original alias and offloads). The original link keeps its ifindex and bridge peer.
 */
export function planRestore(state: PortState, ns: string, agentNs: string, vex: IpLink, marker: PortMarker): Command[] {
  const eth = state.ifname;
  const cmds: Command[] = [
    { ...ip(ns, 'link', 'del', eth), note: `restore ${eth} of ${ns} from ${vex.ifname} in ${agentNs}` },
    ip(agentNs, 'link', 'set', vex.ifname, 'down'),
    ip(agentNs, 'link', 'set', vex.ifname, 'netns', ns),
    ip(ns, 'link', 'set', vex.ifname, 'name', eth),
    ip(ns, 'link', 'set', eth, 'alias', marker.alias ?? ''),
  ];
  if (vex.address !== state.mac) cmds.push(ip(ns, 'link', 'set', eth, 'address', state.mac));
  if (vex.mtu !== state.mtu) cmds.push(ip(ns, 'link', 'set', eth, 'mtu', String(state.mtu)));
  if ((vex.txqlen ?? 1000) !== state.txqlen) cmds.push(ip(ns, 'link', 'set', eth, 'txqueuelen', String(state.txqlen)));
  cmds.push(
    ...addrCommands(ns, eth, state.addrs),
    ip(ns, 'link', 'set', eth, 'up'),
    ...routeCommands(ns, eth, state.routes),
    ...neighbourCommands(ns, eth, state.neighbours),
    ...offloadCommand(ns, eth, marker.offloadsOn, 'on'),
  );
  return cmds;
}

export interface PulledPort {
  label: string;
  vex: IpLink;
  vin: IpLink;
  marker: PortMarker;
}

/** The pulled port behind a namespace's eth0: its vin is eth0's veth peer in agentNs. */
export async function findPulledPort(nsPath: string, agentNs: string, ifname = 'eth0'): Promise<PulledPort> {
  const eth = await readLink(nsPath, ifname);
  if (!eth) throw new TollgateError('ENOLINK', `no interface ${ifname} in namespace ${nsPath}`, 'netns');
  const links = await readLinks(agentNs);
  const vin = links.find((l) => l.ifindex === eth.link_index && portLabelOf(l.ifname, 'vin') !== null);
  if (!vin || eth.link_netnsid === undefined)
    throw new TollgateError('ENOTPULLED', `${ifname} of ${nsPath} is not pulled into ${agentNs}`, 'netns');
  const label = portLabelOf(vin.ifname, 'vin')!;
  const vex = links.find((l) => l.ifname === vexName(label));
  const marker = decodeMarker(vex?.ifalias);
  if (!vex || !marker)
    throw new TollgateError('ENOTPULLED', `${vexName(label)} missing or unmarked in ${agentNs}`, 'netns');
  return { label, vex, vin, marker };
}

export interface RestoreOptions {
  ns: string;
  agentNs: string;
  ifname?: string;
  dryRun?: boolean;
}

export async function restorePort(o: RestoreOptions): Promise<{ label: string; commands: string[] }> {
  const path = netnsPath(o.ns);
  if (!existsSync(path)) throw new TollgateError('ENONS', `namespace ${o.ns} does not exist`, 'netns');
  if (!existsSync(netnsPath(o.agentNs)))
    throw new TollgateError('ENONS', `agent namespace ${o.agentNs} does not exist`, 'agentNs');
  const port = await findPulledPort(path, o.agentNs, o.ifname);
  const state = await capturePort(path, o.ifname ?? 'eth0');
  const cmds: Command[] = [];
  const backend =
    port.marker.steering === 'none'
      ? null
      : await openSteering(port.marker.steering as 'u32' | 'bpf', pinDirFor(o.agentNs));
  if (backend) {
    const vbr = (await readLinks(o.agentNs)).find((l) => l.ifname === VBR);
    if (vbr) {
      const pair = servicePair(o.agentNs, vbr.ifindex);
      const sp = steeredPort({
        workload: port.label,
        agentNs: o.agentNs,
        vex: port.vex.ifname,
        vin: port.vin.ifname,
        vexIfindex: port.vex.ifindex,
        vinIfindex: port.vin.ifindex,
        wlMac: state.mac,
        mode: port.marker.mode,
      });
      const plan = await backend.planRemovePort(sp, pair);
      cmds.push(...steeringCommands(o.agentNs, plan, `remove steering of ${port.label}`));
      if (!o.dryRun) await backend.applyPlan(o.agentNs, plan);
    }
  }
  const restore = planRestore(state, path, o.agentNs, port.vex, port.marker);
  cmds.push(...restore);
  if (!o.dryRun) await execute(restore);
  return { label: port.label, commands: formatCommands(cmds) };
}

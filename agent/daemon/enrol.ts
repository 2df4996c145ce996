/**
 * Enrolment: a container (or an adopted port) becomes a workload the agent enforces.
 * The order is what makes a new member of a protected group protected from its first
 * packet: the port is pulled unsteered (cut off), registered with the dp with its group's
 * policy and mode, and only then steered. Removal undoes exactly one workload's port.
 */
import { TollgateError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { DpClient } from '../../shared/ctrl/client.js';
import { policyMessages } from '../policy/compile.js';
import type { ContainerInfo } from '../runtime/runtime.js';
import type { SteeringBackend } from '../steering/index.js';
import { findPortHome } from '../topology/port-home.js';
import { portsIn } from '../topology/lab-state.js';
import { readLinks, type IpLink } from '../topology/ip-state.js';
import { capturePort } from '../topology/port-state.js';
import { netnsPath, vinName } from '../topology/names.js';
import type { PortMarker } from '../topology/port-marker.js';
import type { Mode } from '../topology/spec.js';
import { steeredPort } from '../topology/steering-bridge.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import {
  containerInterfaces,
  containerPortLabel,
  deleteContainerPort,
  netnsInode,
  pullContainerPort,
  readPort,
} from './container-port.js';
import { registerMessages, removeMessage, tapMessages } from './dp-state.js';
import { PortSteering } from './port-steering.js';
import type { Workload, WorkloadRegistry } from './workloads.js';
import type { RuleStore } from '../learn/rule-store.js';

export interface EnrolContext {
  agentNs: string;
  /** The steering backend, once the daemon has opened it (null: no steering). */
  backend(): SteeringBackend | null;
  registry: WorkloadRegistry;
  store: RuleStore;
  modeOf(group: string): Mode;
  /** The dp client once any restart has replayed, or null while the dp is down (its replay then carries the change). */
  dp(): Promise<DpClient | null>;
  log: Logger;
}

export class Enroller {
  /** vin ifindexes picked by this agent's pulls, until their port is removed (resync enrols several containers at once). */
  private readonly reservedVin = new Set<number>();

  /** Steering of enrolled ports (port-steering.ts). */
  readonly steering: PortSteering;

  constructor(private readonly x: EnrolContext) {
    this.steering = new PortSteering(x);
  }

  private get log(): Logger {
    return this.x.log;
  }

  /** The dp's view of one workload: endpoint, tap flag, policy. Sends nothing while the dp is down. */
  async register(w: Workload): Promise<void> {
    const c = await this.x.dp();
    if (!c) return;
    const view = this.x.registry.view(w);
    for (const m of registerMessages(view, w.ucmac)) await c.command(m);
    for (const m of policyMessages(view, this.x.registry.views(), this.x.store.list())) await c.command(m);
  }

  /**
   * A mode change in the dp for many workloads: their policies (the default action moved)
   * and the tap flag, one ctrl_cfg_mac per 256 MACs (the dp's limit per message).
   */
  async pushMode(ws: readonly Workload[], mode: Mode): Promise<void> {
    const c = await this.x.dp();
    if (!c || !ws.length) return;
    const views = this.x.registry.views();
    const rules = this.x.store.list();
    for (const w of ws)
      for (const m of policyMessages({ ...this.x.registry.view(w), mode }, views, rules)) await c.command(m);
    for (const m of tapMessages(
      ws.map((w) => w.mac),
      mode,
    ))
      await c.command(m);
  }

  /** Pushes the policies of every member of `groups` (a membership or rule change touched them). */
  async pushGroups(groups: Iterable<string>): Promise<void> {
    const c = await this.x.dp();
    if (!c) return;
    const set = new Set(groups);
    const views = this.x.registry.views();
    const rules = this.x.store.list();
    for (const v of views) if (set.has(v.group)) for (const m of policyMessages(v, views, rules)) await c.command(m);
  }

  /** Groups whose compiled policy names `group` as a peer, and the group itself. */
  peersOf(group: string): Set<string> {
    const out = new Set([group]);
    for (const r of this.x.store.list()) {
      if (r.from === group) out.add(r.to);
      if (r.to === group) out.add(r.from);
    }
    return out;
  }

  /** The enforcer's links now (a resync reads them once per chunk). */
  snapshotLinks(): Promise<IpLink[]> {
    return readLinks(this.x.agentNs);
  }

  /**
   * Enrols every interface of a running container, unless it already is enrolled in this
   * very netns. A container enrolled in an older netns (a restart) loses those ports first.
   */
  async enrolContainer(
    c: ContainerInfo,
    group: string,
    reason: string,
    o: {
      deferPeers?: boolean;
      deferSteer?: boolean;
      /** The enforcer's links read before a resync chunk (its pulls then skip a dump each). */
      agentLinks?: IpLink[];
    } = {},
  ): Promise<Workload[]> {
    if (!c.running || c.pid <= 0)
      throw new TollgateError(
        'ENONS',
        `container ${c.name || c.id.slice(0, 12)} is not running (no pid, so no netns)`,
        'container',
      );
    const nsPath = `/proc/${c.pid}/ns/net`;
    const inode = netnsInode(nsPath);
    const have = this.x.registry.ofContainer(c.id);
    if (have.length && have.every((w) => w.netnsInode === inode)) return have;
    if (have.length) await this.removeContainer(c.id, 'restarted with a new network namespace');
    // One read of the enforcer's links serves the sweep and the first pull (unless the sweep changed them).
    let agentLinks: IpLink[] | undefined = o.agentLinks ?? (await readLinks(this.x.agentNs));
    if (await this.sweepLabels(c.id, agentLinks)) agentLinks = undefined;
    const ifaces = await containerInterfaces(
      nsPath,
      c.networks.map((n) => n.mac),
    );
    if (!ifaces.length)
      throw new TollgateError(
        'ENOLINK',
        `container ${c.name || c.id.slice(0, 12)} has no network interface to enrol`,
        'container',
      );
    const mode = this.x.modeOf(group);
    const out: Workload[] = [];
    for (const [i, iface] of ifaces.entries()) {
      const label = containerPortLabel(c.id, i);
      const p = await pullContainerPort({
        agentNs: this.x.agentNs,
        nsPath,
        ifname: iface.ifname,
        label,
        mode,
        steering: this.x.backend()?.kind ?? 'none',
        containerId: c.id,
        group,
        reserved: this.reservedVin,
        ...(agentLinks ? { agentLinks } : {}),
      });
      agentLinks = undefined;
      const w: Workload = {
        key: label,
        name: ifaces.length > 1 ? `${c.name}/${iface.ifname}` : c.name,
        source: 'ctr',
        containerId: c.id,
        group,
        ip: p.ips.find((a) => !a.includes(':')) ?? '',
        ips: p.ips,
        mac: p.mac,
        netns: nsPath,
        netnsInode: inode,
        vexIfindex: p.vex.ifindex,
        vinIfindex: p.vin.ifindex,
        ucmac: ucmacForIfindex(p.vex.ifindex),
        since: new Date().toISOString(),
        reason,
      };
      this.x.registry.set(w);
      out.push(w);
      try {
        await this.register(w);
      } catch (e) {
        // The dp replay on its next (re)start carries this workload; the port stays unsteered until then only in protect.
        this.log.warn(
          { workload: w.name, err: errorMessage(e) },
          'dp registration failed; the dp replay will carry it',
        );
      }
      // Deferred (resync): the caller steers a batch at once; until then the port stays cut off.
      if (!o.deferSteer) await this.steering.steer(w, mode);
      this.log.info(
        { container: c.name, id: c.id.slice(0, 12), group, mode, port: label, ip: w.ip, mac: w.mac, reason },
        'enrolled',
      );
    }
    // Members of peer groups now reach (or are reached by) this one: their policies name its address.
    if (!o.deferPeers) await this.pushGroups(this.peersOf(group));
    return out;
  }

  /** Ports left in the enforcer by an earlier netns of this container (the runtime tore that netns down). */
  private async sweepLabels(containerId: string, links?: IpLink[]): Promise<boolean> {
    let swept = false;
    for (const [label, p] of portsIn(links ?? (await readLinks(this.x.agentNs)))) {
      if (p.marker?.source === 'ctr' && p.marker.containerId === containerId) {
        await this.removePort(label, p.vex, p.vin, p.marker, 'stale port of an earlier run');
        swept = true;
      }
    }
    return swept;
  }

  private async removePort(
    label: string,
    vex: IpLink | undefined,
    vin: IpLink | undefined,
    marker: PortMarker | null,
    why: string,
    knownVinIfindex?: number,
    knownMac?: string,
  ): Promise<void> {
    const b = this.x.backend();
    if (b && vex && marker && marker.steering !== 'none') {
      // When vin went with the container's netns, the registry's ifindex (or vex's, for a
      // port nobody registered) names the map entries left to remove.
      const vinIfindex = vin?.ifindex ?? knownVinIfindex ?? vex.ifindex;
      const sp = steeredPort({
        workload: label,
        agentNs: this.x.agentNs,
        vex: vex.ifname,
        vin: vin?.ifname ?? vinName(label),
        vexIfindex: vex.ifindex,
        vinIfindex,
        wlMac: vex.address ?? '',
        mode: marker.mode,
      });
      try {
        await b.applyPlan(this.x.agentNs, await b.planRemovePort(sp, await this.steering.pair()));
      } catch (e) {
        this.log.warn({ port: label, err: errorMessage(e) }, 'steering removal incomplete; the links go anyway');
      }
    }
    await deleteContainerPort(this.x.agentNs, label);
    if (vin?.ifindex !== undefined) this.reservedVin.delete(vin.ifindex);
    if (knownVinIfindex !== undefined) this.reservedVin.delete(knownVinIfindex);
    // The dp forgets the endpoint too: a new port may get the same ifindex, so the same
    // ucmac, which the dp refuses while another endpoint holds it.
    const mac = knownMac ?? vex?.address;
    const c = await this.x.dp();
    if (c && mac) {
      try {
        await c.command(removeMessage(mac));
      } catch (e) {
        this.log.warn({ port: label, mac, err: errorMessage(e) }, 'dp did not remove the endpoint');
      }
    }
    this.log.info({ port: label, why }, 'removed port');
  }

  /** Removes every port of a container: steering, links, dp endpoint. */
  async removeContainer(id: string, why: string): Promise<number> {
    const ws = this.x.registry.ofContainer(id);
    for (const w of ws) {
      const p = await readPort(this.x.agentNs, w.key);
      await this.removePort(w.key, p.vex, p.vin, p.marker, why, w.vinIfindex, w.mac);
      this.x.registry.delete(w.key);
    }
    if (ws.length) {
      this.log.info({ container: ws[0]!.name, id: id.slice(0, 12), group: ws[0]!.group, why }, 'removed');
      await this.pushGroups(this.peersOf(ws[0]!.group));
    } else await this.sweepLabels(id);
    return ws.length;
  }

  /**
   * Ports already in the enforcer when the agent starts (it was restarted, or `agent pull`
   * made them): adopted when their workload still exists, swept when it does not.
   * `alive(containerId, inode)` says whether a container port's container still runs in
   * that netns; undefined = the runtime cannot tell (keep the port).
   */
  async adopt(
    alive: (id: string, inode: number) => boolean | undefined,
    isLab: (label: string, m: PortMarker | null) => boolean,
  ): Promise<Workload[]> {
    const out: Workload[] = [];
    const agentPath = netnsPath(this.x.agentNs);
    for (const [label, p] of portsIn(await readLinks(this.x.agentNs))) {
      if (!p.vex || isLab(label, p.marker) || !p.marker) continue;
      const home = p.vin ? await findPortHome(agentPath, p.vin, p.vex.address ?? '') : null;
      const inode = home ? netnsInode(home) : 0;
      const live =
        p.marker.source === 'ctr' && p.marker.containerId
          ? home
            ? alive(p.marker.containerId, inode)
            : false
          : home !== null;
      if (live === false) {
        await this.removePort(label, p.vex, p.vin, p.marker, 'its workload is gone');
        continue;
      }
      if (!home || !p.vin) continue;
      const st = await capturePort(home, 'eth0').catch(() => null);
      const ips = st?.addrs.map((a) => a.local) ?? [];
      const w: Workload = {
        key: label,
        name: label,
        source: p.marker.source ?? 'pull',
        ...(p.marker.containerId ? { containerId: p.marker.containerId } : {}),
        group: p.marker.group ?? label,
        ip: ips.find((a) => !a.includes(':')) ?? '',
        ips,
        mac: p.vex.address ?? '',
        netns: home,
        netnsInode: inode,
        vexIfindex: p.vex.ifindex,
        vinIfindex: p.vin.ifindex,
        ucmac: ucmacForIfindex(p.vex.ifindex),
        since: new Date().toISOString(),
        reason: 'adopted',
      };
      this.x.registry.set(w);
      out.push(w);
    }
    return out;
  }
}

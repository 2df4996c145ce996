/**
 * The steering of enrolled ports: steering a port in its mode, many new ports as one plan,
 * a mode switch of many ports, the drain before a tap ↔ inline flip, and the mode recorded
 * in each port's marker.
 */
import type { Logger } from '../../shared/log.js';
import type { DpClient } from '../../shared/ctrl/client.js';
import type { SteeringBackend } from '../steering/index.js';
import { mergePlans } from '../steering/backend.js';
import { portsIn } from '../topology/lab-state.js';
import { readLinks } from '../topology/ip-state.js';
import { VBR, VBR_IFINDEX, vexName, vinName } from '../topology/names.js';
import { encodeMarker } from '../topology/port-marker.js';
import type { Mode } from '../topology/spec.js';
import { servicePair, steeredPort } from '../topology/steering-bridge.js';
import { execute, ip } from '../topology/commands.js';
import { drainDp } from './dp-drain.js';
import type { Workload } from './workloads.js';

export interface PortSteeringContext {
  agentNs: string;
  /** The steering backend, once the daemon has opened it (null: no steering). */
  backend(): SteeringBackend | null;
  modeOf(group: string): Mode;
  /** The dp client, or null while the dp is down. */
  dp(): Promise<DpClient | null>;
  log: Logger;
}

export class PortSteering {
  constructor(private readonly x: PortSteeringContext) {}

  /** vbr's ifindex, read once: the enforcer's service pair lives as long as this daemon. */
  private vbrIfindex: number | undefined;

  async pair() {
    if (this.vbrIfindex === undefined) {
      const vbr = (await readLinks(this.x.agentNs)).find((l) => l.ifname === VBR);
      if (!vbr) return servicePair(this.x.agentNs, VBR_IFINDEX);
      this.vbrIfindex = vbr.ifindex;
    }
    return servicePair(this.x.agentNs, this.vbrIfindex);
  }

  /** A workload's port as the steering sees it, in `mode`. */
  portOf(w: Workload, mode: Mode) {
    return steeredPort({
      workload: w.key,
      agentNs: this.x.agentNs,
      vex: vexName(w.key),
      vin: vinName(w.key),
      vexIfindex: w.vexIfindex,
      vinIfindex: w.vinIfindex,
      wlMac: w.mac,
      mode,
    });
  }

  /** Steers one workload's port in `mode` (idempotent; re-applying an up-to-date port runs nothing). */
  async steer(w: Workload, mode: Mode): Promise<void> {
    const b = this.x.backend();
    if (!b) return;
    const sp = this.portOf(w, mode);
    await b.applyPlan(this.x.agentNs, await b.planPort(sp, await this.pair()));
  }

  /**
   * Steers ports that were just pulled (unsteered, so cut off until now), each in its
   * group's mode. With BPF steering a port's plan touches only its own links and map
   * entries, so the plans run as one (one bpftool batch, one tc batch, one read-back);
   * u32 plans share vbr's rule numbering and run one by one.
   */
  async steerNew(ws: readonly Workload[]): Promise<void> {
    const b = this.x.backend();
    if (!b || !ws.length) return;
    if (b.kind !== 'bpf') {
      for (const w of ws) await this.steer(w, this.x.modeOf(w.group));
      return;
    }
    const pair = await this.pair();
    const plans = [];
    for (const w of ws) plans.push(await b.planPort(this.portOf(w, this.x.modeOf(w.group)), pair));
    await b.applyPlan(this.x.agentNs, mergePlans(plans));
  }

  /**
   * Switches the mode of steered workloads: one plan for all of them where the backend
   * can (BPF: map updates only), else port by port.
   */
  async steerMany(ws: readonly Workload[], mode: Mode): Promise<void> {
    const b = this.x.backend();
    if (!b || !ws.length) return;
    if (!b.planModeSwitch) {
      for (const w of ws) await this.steer(w, mode);
      return;
    }
    const pair = await this.pair();
    const ports = ws.map((w) => this.portOf(w, mode));
    await b.applyPlan(this.x.agentNs, b.planModeSwitch(ports, pair));
  }

  /**
   * Puts ports that are about to flip between tap and inline into the steering's drain
   * mode (frames cross directly, the way back from the dp stays), then waits until the dp
   * has sent on what it holds. False when the backend cannot drain (u32).
   */
  async drain(ws: readonly Workload[], from: Mode): Promise<boolean> {
    const b = this.x.backend();
    if (!b?.planDrain || !ws.length) return false;
    await b.applyPlan(
      this.x.agentNs,
      b.planDrain(
        ws.map((w) => this.portOf(w, from)),
        await this.pair(),
      ),
    );
    const c = await this.x.dp();
    // A dp that does not answer is being replaced (dp-supervisor.ts): what it held is lost with it.
    if (c && !(await drainDp(c)))
      this.x.log.warn({ workloads: ws.map((w) => w.name) }, 'the dp did not answer while draining; switching anyway');
    return true;
  }

  /** Records a workload's mode in its vex marker (what adoption after a restart reads). */
  async mark(ws: readonly Workload[], mode: Mode): Promise<void> {
    const ports = portsIn(await readLinks(this.x.agentNs));
    const cmds = [];
    for (const w of ws) {
      const m = ports.get(w.key)?.marker;
      if (m && (m.mode !== mode || m.group !== w.group))
        cmds.push(
          ip(this.x.agentNs, 'link', 'set', vexName(w.key), 'alias', encodeMarker({ ...m, mode, group: w.group })),
        );
    }
    await execute(cmds);
  }
}

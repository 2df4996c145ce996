import { TollgateError } from '../../shared/errors.js';
import { runIn } from '../../shared/exec.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import type { ServicePair, SteeredPort, SteeringBackend, SteeringMode } from '../steering/backend.js';
import { checkPort } from '../steering/validate.js';
import { findLink, mustRun, redirectFilter, resolveNetns, validateIfname } from './links.js';
import { loadVm, saveVm, type VmRecord } from './state.js';

/**
 * Inspection of a VM workload (agent/vm/README.md): the Kata connection already has
 * the shape of a steered port. In the VM's namespace
 *
 *     CNI ─ veth (eth0) ══ tc ══ tap ─ VMM ─ guest
 *            vex role          vin role
 *
 * the veth faces the network exactly like vex, and the tap faces the workload exactly like
 * vin (its far end is the guest NIC, whose MAC is the veth's MAC: that is wlMac). Steering
 * replaces the two match-all mirred redirects: in tap mode (learn/monitor) the backend
 * forwards vex↔vin itself and sends ucmac-rewritten copies to vbr; in inline mode
 * (protect) unicast IP goes vex→vbr→vth→dp→vth→vbr→vin. The backend's filters live on the
 * same ingress hook as Kata's, so inspect swaps them (a handful of frames may be lost in
 * the swap; TCP retransmits) and uninspect swaps back.
 *
 * The service pair's vbr must be in the VM's namespace too (steering redirects only within
 * one namespace). Its peer vth may stay there (the dp then captures in that namespace; what
 * the tests do) or be moved into the enforcer namespace, where the dp captures on it:
 * `ip -n VMNS link add vbr type veth peer name vth-<vm> netns ENFORCER`. Several VMs then
 * give the dp several vth ports (or a bridge joining them to one vth) — the dp-side choice
 * belongs to the daemon (agent/daemon/); this module only needs `pair` for the VM's namespace.
 *
 * Rate limits keep working: the HTB on the tap and the veth's egress hook sit on root
 * qdiscs, steering on ingress, and a bpf/mirred redirect enqueues on the target's root.
 */

export interface InspectVmOptions {
  netns: string;
  tap: string;
  /** Steering backend (agent/steering selectSteering). */
  backend: SteeringBackend;
  /** vbr/vth pair whose vbr lives in the VM's namespace (pair.agentNs = that namespace). */
  pair: ServicePair;
  /** tap = learn/monitor (copies to the dp), inline = protect. */
  mode: SteeringMode;
  workload?: string;
  stateDir?: string;
}

/** The SteeredPort of a connected VM: veth = vex, tap = vin, guest MAC = veth MAC. */
export async function vmSteeredPort(
  rec: VmRecord,
  agentNs: string,
  mode: SteeringMode,
  workload?: string,
): Promise<SteeredPort> {
  const veth = await findLink(rec.netns, rec.veth);
  if (!veth) throw new TollgateError('EVMVETH', `${rec.veth} no longer exists in ${rec.netns}`, 'veth');
  return {
    workload: workload ?? `vm:${rec.tap}`,
    agentNs,
    vex: rec.veth,
    vin: rec.tap,
    vexIfindex: rec.vethIfindex,
    vinIfindex: rec.tapIfindex,
    wlMac: veth.address,
    ucMac: ucmacForIfindex(rec.vethIfindex),
    mode,
  };
}

/** Removes the Kata redirects (filters go with their ingress qdiscs). */
async function dropRedirects(rec: VmRecord): Promise<void> {
  for (const dev of [rec.veth, rec.tap])
    await runIn(rec.netns, ['tc', 'qdisc', 'del', 'dev', dev, 'ingress'], { allowFail: true });
}

/** Puts back exactly what connectVm made on the two ingress hooks. */
export async function restoreRedirects(rec: VmRecord): Promise<void> {
  for (const [from, to] of [
    [rec.veth, rec.tap],
    [rec.tap, rec.veth],
  ] as const) {
    await mustRun(rec.netns, ['tc', 'qdisc', 'add', 'dev', from, 'ingress'], 'EVMTC', `ingress qdisc on ${from}`);
    await mustRun(rec.netns, redirectFilter(from, to, rec.filterPref), 'EVMTC', `redirect ${from}→${to}`);
  }
}

function checkPairNs(rec: VmRecord, pair: ServicePair): void {
  if (resolveNetns(pair.agentNs, 'pair.agentNs') !== rec.netns) {
    throw new TollgateError(
      'EVMINSPECT',
      `the service pair must be in the VM's namespace ${rec.netns}, not ${pair.agentNs}`,
      'pair.agentNs',
    );
  }
}

/**
 * Puts a connected VM under steering in `mode`, or switches its mode. On a failed first
 * apply the Kata redirects are restored, so the VM keeps its connectivity.
 */
export async function inspectVm(opts: InspectVmOptions): Promise<SteeredPort> {
  const nsPath = resolveNetns(opts.netns);
  const rec = await loadVm(nsPath, validateIfname(opts.tap, 'tap'), opts.stateDir);
  checkPairNs(rec, opts.pair);
  const port = await vmSteeredPort(rec, opts.pair.agentNs, opts.mode, opts.workload);
  checkPort(port, opts.pair); // bad input fails before the redirects are touched
  const first = rec.inspection === undefined;
  if (first) await dropRedirects(rec);
  try {
    await opts.backend.applyPlan(opts.pair.agentNs, await opts.backend.planPort(port, opts.pair));
  } catch (e) {
    if (first) {
      const undo = await opts.backend.planRemovePort(port, opts.pair).catch(() => undefined);
      if (undo) await opts.backend.applyPlan(opts.pair.agentNs, undo).catch(() => {});
      await restoreRedirects(rec);
    }
    throw e;
  }
  rec.inspection = {
    mode: opts.mode,
    workload: port.workload,
    agentNs: opts.pair.agentNs,
    vbr: opts.pair.vbr,
    vth: opts.pair.vth,
  };
  await saveVm(rec, opts.stateDir);
  return port;
}

/** Takes the VM out of steering and back to the plain Kata redirects. */
export async function uninspectVm(opts: Omit<InspectVmOptions, 'mode'>): Promise<void> {
  const nsPath = resolveNetns(opts.netns);
  const rec = await loadVm(nsPath, validateIfname(opts.tap, 'tap'), opts.stateDir);
  if (!rec.inspection) return;
  checkPairNs(rec, opts.pair);
  const port = await vmSteeredPort(rec, opts.pair.agentNs, rec.inspection.mode, rec.inspection.workload);
  await opts.backend.applyPlan(opts.pair.agentNs, await opts.backend.planRemovePort(port, opts.pair));
  await restoreRedirects(rec);
  delete rec.inspection;
  await saveVm(rec, opts.stateDir);
}

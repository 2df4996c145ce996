import { existsSync } from 'node:fs';
import { TollgateError } from '../../shared/errors.js';
import { runIn } from '../../shared/exec.js';
import {
  findLink,
  hasIngressHook,
  linkNames,
  mustRun,
  redirectFilter,
  resolveNetns,
  UndoStack,
  validateIfname,
} from './links.js';
import { removeRateLimitDevices } from './ratelimit.js';
import { findVm, removeVm, saveVm, type VmRecord } from './state.js';

/**
 * Kata-style "tcfilter" interworking: the CNI hands the workload a veth (eth0); a VM needs
 * a tap its VMM can open. Both live in the workload's namespace and are joined by an
 * ingress qdisc on each and a match-all u32 filter with `mirred egress redirect` to the
 * other, so every frame arriving on one leaves on the other and the namespace's own IP
 * stack never sees it. The veth keeps its addresses (Kata leaves them too): the guest
 * configures the same address and MAC on its NIC and is the real owner of both.
 *
 * Hand-over to a VMM: the tap name. The VMM opens /dev/net/tun and does TUNSETIFF with
 * IFF_TAP | IFF_NO_PI (| IFF_MULTI_QUEUE once per queue when queues > 1), then gives the
 * guest the veth's MAC and MTU (returned here). The tap is persistent (`ip tuntap add`),
 * so it survives VMM restarts until disconnectVm.
 */

export interface ConnectVmOptions {
  /** Namespace name (/run/netns/NAME) or path (/proc/PID/ns/net). */
  netns: string;
  /** The CNI's interface in that namespace. Default eth0. */
  veth?: string;
  /** Tap name; generated (`tg-tap<N>`) when absent. Max 15 characters. */
  tap?: string;
  /** 1 = single queue; >1 creates a multi_queue tap (the VMM opens it `queues` times). */
  queues?: number;
  /** uid allowed to open the tap without CAP_NET_ADMIN (the VMM's user). */
  owner?: number;
  /** State directory override (tests); default /run/tollgate/vm or $TOLLGATE_VM_STATE_DIR. */
  stateDir?: string;
}

export interface ConnectedVm {
  netns: string;
  veth: string;
  tap: string;
  tapIfindex: number;
  vethIfindex: number;
  /** MTU given to the tap; the guest NIC should use the same. */
  mtu: number;
  /** The veth's MAC: the guest NIC must use it (the CNI and peers know the workload by it). */
  mac: string;
  queues: number;
}

export const MAX_QUEUES = 256;
/** Priority of our u32 filters on the two ingress qdiscs (we own those qdiscs). */
const FILTER_PREF = 49152;

function validateQueues(q: unknown): number {
  if (q === undefined) return 1;
  if (typeof q !== 'number' || !Number.isInteger(q) || q < 1 || q > MAX_QUEUES) {
    throw new TollgateError(
      'EVMQUEUES',
      `queues must be an integer from 1 to ${MAX_QUEUES}, got ${String(q)}`,
      'queues',
    );
  }
  return q;
}

function validateOwner(o: unknown): number | undefined {
  if (o === undefined) return undefined;
  if (typeof o !== 'number' || !Number.isInteger(o) || o < 0 || o > 0xfffffffe) {
    throw new TollgateError('EVMOWNER', `owner must be a uid (non-negative integer), got ${String(o)}`, 'owner');
  }
  return o;
}

async function pickTapName(nsPath: string): Promise<string> {
  const taken = await linkNames(nsPath);
  for (let n = 0; n < 10_000; n++) {
    const name = `tg-tap${n}`;
    if (!taken.has(name)) return name;
  }
  throw new TollgateError('EVMTAP', 'no free tap name tg-tap0..9999', 'tap');
}

/**
 * Creates the tap and the two redirects. Validates everything before touching the kernel;
 * on any failure part-way it removes what it added, so nothing half-built remains.
 */
export async function connectVm(opts: ConnectVmOptions): Promise<ConnectedVm> {
  const nsPath = resolveNetns(opts.netns);
  const veth = validateIfname(opts.veth ?? 'eth0', 'veth');
  const queues = validateQueues(opts.queues);
  const owner = validateOwner(opts.owner);
  const vethLink = await findLink(nsPath, veth);
  if (!vethLink) throw new TollgateError('EVMVETH', `no interface ${veth} in namespace ${opts.netns}`, 'veth');
  if (vethLink.kind === 'tun') throw new TollgateError('EVMVETH', `${veth} is itself a tun/tap device`, 'veth');
  if (await hasIngressHook(nsPath, veth)) {
    throw new TollgateError(
      'EVMBUSY',
      `${veth} already has an ingress qdisc (connected to a VM already, or used by someone else)`,
      'veth',
    );
  }
  let tap: string;
  if (opts.tap !== undefined) {
    tap = validateIfname(opts.tap, 'tap');
    if (await findLink(nsPath, tap))
      throw new TollgateError('EVMTAPEXISTS', `interface ${tap} already exists in namespace ${opts.netns}`, 'tap');
  } else {
    tap = await pickTapName(nsPath);
  }
  if (tap === veth) throw new TollgateError('EVMTAP', 'tap and veth must differ', 'tap');
  if (await findVm(nsPath, tap, opts.stateDir)) {
    throw new TollgateError(
      'EVMTAPEXISTS',
      `a VM with tap ${tap} is already recorded in ${opts.netns}; disconnect it first`,
      'tap',
    );
  }

  const undo = new UndoStack(nsPath);
  try {
    const add = ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap'];
    if (queues > 1) add.push('multi_queue');
    if (owner !== undefined) add.push('user', String(owner));
    await mustRun(nsPath, add, 'EVMTAP', `creating tap ${tap}`, 'tap');
    undo.push('delete tap', ['ip', 'link', 'del', 'dev', tap]);
    await mustRun(
      nsPath,
      ['ip', 'link', 'set', 'dev', tap, 'mtu', String(vethLink.mtu), 'up'],
      'EVMTAP',
      `setting up tap ${tap}`,
      'tap',
    );
    await mustRun(nsPath, ['tc', 'qdisc', 'add', 'dev', veth, 'ingress'], 'EVMTC', `ingress qdisc on ${veth}`, 'veth');
    undo.push('delete veth ingress qdisc', ['tc', 'qdisc', 'del', 'dev', veth, 'ingress']);
    await mustRun(nsPath, ['tc', 'qdisc', 'add', 'dev', tap, 'ingress'], 'EVMTC', `ingress qdisc on ${tap}`, 'tap');
    await mustRun(nsPath, redirectFilter(veth, tap, FILTER_PREF), 'EVMTC', `redirect ${veth}→${tap}`, 'veth');
    await mustRun(nsPath, redirectFilter(tap, veth, FILTER_PREF), 'EVMTC', `redirect ${tap}→${veth}`, 'tap');
    if (!vethLink.up) {
      await mustRun(nsPath, ['ip', 'link', 'set', 'dev', veth, 'up'], 'EVMVETH', `bringing ${veth} up`, 'veth');
    }
    const tapLink = await findLink(nsPath, tap);
    if (!tapLink) throw new TollgateError('EVMTAP', `tap ${tap} vanished while connecting`, 'tap');
    const rec: VmRecord = {
      version: 1,
      netns: nsPath,
      veth,
      vethIfindex: vethLink.ifindex,
      tap,
      tapIfindex: tapLink.ifindex,
      queues,
      mtu: vethLink.mtu,
      filterPref: FILTER_PREF,
      rateLimit: {},
      ...(owner !== undefined ? { owner } : {}),
    };
    await saveVm(rec, opts.stateDir);
    return {
      netns: nsPath,
      veth,
      tap,
      tapIfindex: tapLink.ifindex,
      vethIfindex: vethLink.ifindex,
      mtu: vethLink.mtu,
      mac: vethLink.address,
      queues,
    };
  } catch (e) {
    await undo.unwind();
    throw e;
  }
}

export interface DisconnectVmOptions {
  netns: string;
  tap: string;
  /** Return false instead of throwing EVMUNKNOWN when no such VM is connected. */
  missingOk?: boolean;
  stateDir?: string;
}

/**
 * Removes exactly what connectVm (and setVmRateLimit) added: rate limiters, then the two
 * filters, then the two ingress qdiscs, then the tap. Each step tolerates an object that
 * is already gone (a VMM or an admin may have removed the tap), so a half-removed VM still
 * disconnects cleanly. A namespace that no longer exists took everything with it: only the
 * record is dropped. An unknown VM is EVMUNKNOWN (or false with missingOk).
 */
export async function disconnectVm(opts: DisconnectVmOptions): Promise<boolean> {
  if (typeof opts.netns !== 'string' || opts.netns === '')
    throw new TollgateError('ENONS', 'a namespace name or path is required', 'netns');
  const tap = validateIfname(opts.tap, 'tap');
  const nsPath = opts.netns.startsWith('/') ? opts.netns : `/run/netns/${opts.netns}`;
  const rec = await findVm(nsPath, tap, opts.stateDir);
  if (!rec) {
    if (opts.missingOk) return false;
    throw new TollgateError('EVMUNKNOWN', `no connected VM with tap ${tap} in namespace ${opts.netns}`, 'tap');
  }
  if (!existsSync(nsPath)) {
    await removeVm(nsPath, tap, opts.stateDir);
    return true;
  }
  if (rec.inspection) {
    // Steering state (filters and the backend's map entries) needs the backend to remove.
    throw new TollgateError(
      'EVMBUSY',
      `VM ${tap} is under inspection (${rec.inspection.mode}); uninspect it first`,
      'tap',
    );
  }
  await removeRateLimitDevices(rec);
  const pref = String(rec.filterPref);
  const steps: string[][] = [
    ['tc', 'filter', 'del', 'dev', rec.veth, 'parent', 'ffff:', 'pref', pref],
    ['tc', 'filter', 'del', 'dev', rec.tap, 'parent', 'ffff:', 'pref', pref],
    ['tc', 'qdisc', 'del', 'dev', rec.veth, 'ingress'],
    ['tc', 'qdisc', 'del', 'dev', rec.tap, 'ingress'],
    ['ip', 'link', 'del', 'dev', rec.tap],
  ];
  for (const argv of steps) await runIn(nsPath, argv, { allowFail: true });
  // Verify rather than trust exit codes: anything of ours still present is an error.
  if (await findLink(nsPath, rec.tap)) throw new TollgateError('EVMTAP', `tap ${rec.tap} could not be removed`, 'tap');
  if (await hasIngressHook(nsPath, rec.veth))
    throw new TollgateError('EVMTC', `ingress qdisc on ${rec.veth} could not be removed`, 'veth');
  await removeVm(nsPath, tap, opts.stateDir);
  return true;
}

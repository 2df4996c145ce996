import { TollgateError } from '../../shared/errors.js';
import { runIn } from '../../shared/exec.js';
import { findLink, hasConfiguredRoot, mustRun, resolveNetns, UndoStack, validateIfname } from './links.js';
import { parseRate, tcRate, type RateInput } from './rate.js';
import { loadVm, saveVm, type VmRecord } from './state.js';

/**
 * Rate limits of a connected VM, as Kata applies them (bits/s):
 *
 * rx (toward the VM): HTB root qdisc on the tap with one class at the rate. Frames the
 *   veth's ingress filter redirects (`mirred egress redirect dev tap`) are queued on the
 *   tap's root qdisc, so HTB shapes them.
 *
 * tx (from the VM): shaped on an IFB device. The obvious chain, tap ingress → mirred
 *   redirect to the IFB, does NOT work here: IFB hands an ingress-redirected frame back to
 *   the receive path of the device it came from (the tap) with tc classification skipped,
 *   so the tap→veth redirect never runs and the frame dies in the namespace's stack
 *   (checked: the IFB counted the frames, the peer saw none). The working chain keeps the
 *   tap→veth redirect and hooks the veth's egress instead:
 *
 *     tap ingress ─u32/mirred─► veth egress: HTB root 1: (no classes, only a hook)
 *       ─u32/mirred─► IFB egress: HTB 1:, class 1:1 at the rate
 *       ─IFB re-injects─► veth egress again, tc_skip_classify set, so the hook's action is
 *       skipped and the frame goes out on the veth (unclassified → HTB direct queue).
 *
 *   (prio would be the usual hook qdisc, but this kernel has no sch_prio; a class-less HTB
 *   sends unclassified frames straight through.) Kata itself puts the tx HTB directly on
 *   the veth in its tcfilter model; the IFB keeps the veth's root free of shaping state and
 *   matches the design.
 *
 * Set, change and remove at run time: `undefined` leaves a direction as it is, `null`
 * removes its limit, a rate sets or changes it (class change, no traffic interruption).
 */

export interface VmRateLimitOptions {
  netns: string;
  tap: string;
  rx?: RateInput | null;
  tx?: RateInput | null;
  stateDir?: string;
}

export interface VmRateLimits {
  rxBps: number | null;
  txBps: number | null;
}

/** HTB quantum: at least one MTU-sized frame, at most what HTB accepts without warnings. */
function quantum(bps: number): string {
  return String(Math.min(200_000, Math.max(1_514, Math.floor(bps / 8 / 10))));
}

function htbClass(verb: 'add' | 'change', dev: string, bps: number): string[] {
  return [
    'tc',
    'class',
    verb,
    'dev',
    dev,
    'parent',
    '1:',
    'classid',
    '1:1',
    'htb',
    'rate',
    tcRate(bps),
    'ceil',
    tcRate(bps),
    'quantum',
    quantum(bps),
  ];
}

/** The IFB's name: derived from the tap's ifindex so it is unique in the namespace and short. */
export function ifbName(rec: VmRecord): string {
  return `tgifb${rec.tapIfindex}`;
}

async function setRx(rec: VmRecord, bps: number | null): Promise<void> {
  const ns = rec.netns;
  if (bps === null) {
    if (rec.rateLimit.rx) await runIn(ns, ['tc', 'qdisc', 'del', 'dev', rec.tap, 'root'], { allowFail: true });
    delete rec.rateLimit.rx;
    return;
  }
  if (rec.rateLimit.rx) {
    await mustRun(ns, htbClass('change', rec.tap, bps), 'EVMRATE', 'changing rx limit', 'rx');
  } else {
    if (await hasConfiguredRoot(ns, rec.tap))
      throw new TollgateError('EVMBUSY', `tap ${rec.tap} already has a root qdisc we did not add`, 'rx');
    const undo = new UndoStack(ns);
    try {
      await mustRun(
        ns,
        ['tc', 'qdisc', 'add', 'dev', rec.tap, 'root', 'handle', '1:', 'htb', 'default', '1'],
        'EVMRATE',
        'rx HTB qdisc',
        'rx',
      );
      undo.push('delete rx htb', ['tc', 'qdisc', 'del', 'dev', rec.tap, 'root']);
      await mustRun(ns, htbClass('add', rec.tap, bps), 'EVMRATE', 'rx HTB class', 'rx');
    } catch (e) {
      await undo.unwind();
      throw e;
    }
  }
  rec.rateLimit.rx = { bps };
}

async function setTx(rec: VmRecord, bps: number | null): Promise<void> {
  const ns = rec.netns;
  if (bps === null) {
    if (rec.rateLimit.tx) await removeTx(ns, rec.veth, rec.rateLimit.tx.ifb);
    delete rec.rateLimit.tx;
    return;
  }
  if (rec.rateLimit.tx) {
    await mustRun(ns, htbClass('change', rec.rateLimit.tx.ifb, bps), 'EVMRATE', 'changing tx limit', 'tx');
    rec.rateLimit.tx.bps = bps;
    return;
  }
  const ifb = ifbName(rec);
  if (await findLink(ns, ifb)) throw new TollgateError('EVMBUSY', `interface ${ifb} already exists`, 'tx');
  if (await hasConfiguredRoot(ns, rec.veth))
    throw new TollgateError('EVMBUSY', `${rec.veth} already has a root qdisc we did not add`, 'tx');
  const undo = new UndoStack(ns);
  try {
    await mustRun(ns, ['ip', 'link', 'add', 'dev', ifb, 'type', 'ifb'], 'EVMRATE', `creating ${ifb}`, 'tx');
    undo.push('delete ifb', ['ip', 'link', 'del', 'dev', ifb]);
    await mustRun(ns, ['ip', 'link', 'set', 'dev', ifb, 'up'], 'EVMRATE', `bringing ${ifb} up`, 'tx');
    await mustRun(
      ns,
      ['tc', 'qdisc', 'add', 'dev', ifb, 'root', 'handle', '1:', 'htb', 'default', '1'],
      'EVMRATE',
      'tx HTB qdisc',
      'tx',
    );
    await mustRun(ns, htbClass('add', ifb, bps), 'EVMRATE', 'tx HTB class', 'tx');
    await mustRun(
      ns,
      ['tc', 'qdisc', 'add', 'dev', rec.veth, 'root', 'handle', '1:', 'htb'],
      'EVMRATE',
      `egress hook on ${rec.veth}`,
      'tx',
    );
    undo.push('delete veth root', ['tc', 'qdisc', 'del', 'dev', rec.veth, 'root']);
    await mustRun(
      ns,
      [
        'tc',
        'filter',
        'add',
        'dev',
        rec.veth,
        'parent',
        '1:',
        'protocol',
        'all',
        'u32',
        'match',
        'u8',
        '0',
        '0',
        'action',
        'mirred',
        'egress',
        'redirect',
        'dev',
        ifb,
      ],
      'EVMRATE',
      `redirect ${rec.veth}→${ifb}`,
      'tx',
    );
  } catch (e) {
    await undo.unwind();
    throw e;
  }
  rec.rateLimit.tx = { bps, ifb };
}

/** Hook first (so no frame is redirected to a vanishing IFB), then the IFB. */
async function removeTx(ns: string, veth: string, ifb: string): Promise<void> {
  await runIn(ns, ['tc', 'qdisc', 'del', 'dev', veth, 'root'], { allowFail: true });
  await runIn(ns, ['ip', 'link', 'del', 'dev', ifb], { allowFail: true });
}

/** Used by disconnectVm: removes whatever limiter devices the record says exist. */
export async function removeRateLimitDevices(rec: VmRecord): Promise<void> {
  if (rec.rateLimit.tx) await removeTx(rec.netns, rec.veth, rec.rateLimit.tx.ifb);
  if (rec.rateLimit.rx) await runIn(rec.netns, ['tc', 'qdisc', 'del', 'dev', rec.tap, 'root'], { allowFail: true });
}

function parseDirection(v: RateInput | null | undefined, field: 'rx' | 'tx'): number | null | undefined {
  if (v === undefined || v === null) return v;
  if (typeof v === 'string' && /^\s*(none|off|unlimited)\s*$/i.test(v)) return null;
  return parseRate(v, field);
}

/**
 * Sets, changes or removes the VM's limits. Both values are validated before anything is
 * touched; the record is saved after each applied direction so it always matches the kernel.
 */
export async function setVmRateLimit(opts: VmRateLimitOptions): Promise<VmRateLimits> {
  const nsPath = resolveNetns(opts.netns);
  const tap = validateIfname(opts.tap, 'tap');
  const rx = parseDirection(opts.rx, 'rx');
  const tx = parseDirection(opts.tx, 'tx');
  const rec = await loadVm(nsPath, tap, opts.stateDir);
  if (rx !== undefined) {
    await setRx(rec, rx);
    await saveVm(rec, opts.stateDir);
  }
  if (tx !== undefined) {
    await setTx(rec, tx);
    await saveVm(rec, opts.stateDir);
  }
  return { rxBps: rec.rateLimit.rx?.bps ?? null, txBps: rec.rateLimit.tx?.bps ?? null };
}

export async function getVmRateLimit(opts: { netns: string; tap: string; stateDir?: string }): Promise<VmRateLimits> {
  const rec = await loadVm(resolveNetns(opts.netns), validateIfname(opts.tap, 'tap'), opts.stateDir);
  return { rxBps: rec.rateLimit.rx?.bps ?? null, txBps: rec.rateLimit.tx?.bps ?? null };
}

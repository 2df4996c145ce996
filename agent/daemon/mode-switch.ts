/**
 * Group modes: resolving what `agent mode REF` names, and switching the steering and the
 * dp of every member in the order that loses no packet of an allowed flow. A failed
 * switch is rolled back, so the mode in force and the mode on record always agree.
 */
import type { Logger } from '../../shared/log.js';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import { isWorkloadMode, MODES } from '../../shared/policy-actions.js';
import type { LabSpec, Mode } from '../topology/spec.js';
import type { RuleStore } from '../learn/rule-store.js';
import type { Enroller } from './enrol.js';
import type { Workload, WorkloadRegistry } from './workloads.js';
import type { Serializer } from './serial.js';

export interface ModeSwitchResult {
  name: string;
  group: string;
  from: Mode;
  to: Mode;
  members: number;
}

export interface ModeSwitchContext {
  registry: WorkloadRegistry;
  store: RuleStore;
  spec: LabSpec | undefined;
  enroller: Enroller;
  serial: Serializer;
  modeOf(group: string): Mode;
  /** Called after a switch is in force and saved (the OCI hook's state file follows it). */
  switched(): void;
  log: Logger;
}

/** Runs fn and records how long it took in ms[what] (milliseconds, for the log). */
async function timed(ms: Record<string, number>, what: string, fn: () => Promise<void>): Promise<void> {
  const t = performance.now();
  await fn();
  ms[what] = Math.round(performance.now() - t);
}

export class ModeSwitcher {
  constructor(private readonly x: ModeSwitchContext) {}

  /** A group name, or a workload / container reference → its group. */
  resolveGroup(ref: string): string {
    const { registry, store, spec } = this.x;
    if (registry.groups().includes(ref) || store.modes[ref] || spec?.workloads.some((w) => w.name === ref)) return ref;
    const groups = [...new Set(registry.find(ref).map((w) => w.group))];
    if (groups.length === 1) return groups[0]!;
    if (groups.length > 1)
      throw new TollgateError(
        'EAMBIGUOUS',
        `"${ref}" matches workloads of several groups (${groups.join(', ')})`,
        'group',
      );
    const known = registry.groups().join(', ') || 'none';
    throw new TollgateError('ENOGROUP', `unknown group or container "${ref}" (groups: ${known})`, 'group');
  }

  /**
   * Steering and dp state of `ws` from mode `from` to `to`, in the order that loses no
   * allowed packet. Returns how long each phase took (milliseconds), for the log.
   */
  async apply(ws: readonly Workload[], from: Mode, to: Mode): Promise<Record<string, number>> {
    const ms = await this.switchPorts(ws, from, to);
    await timed(ms, 'markMs', () => this.x.enroller.steering.mark(ws, to));
    return ms;
  }

  /**
   * apply() without recording the mode in the ports' markers. Ports that flip between tap
   * and inline, where the steering can drain (BPF):
   *   1. the ports stop feeding the dp (drain mode: frames cross directly, the way back
   *      from the dp unchanged), and the dp sends on or inspects every frame it still
   *      holds under the mode it had (Enroller.drain);
   *   2. the dp gets the new policy and tap flag (nothing reaches it meanwhile);
   *   3. the steering takes the new mode.
   * So nothing queued in the dp is dropped on its way back when leaving inline, and going
   * inline the dp never sees a copy as inline (its resets would die at vbr, cutting a
   * session silently). Without drain (u32): going inline the dp first, leaving inline the
   * steering first.
   */
  private async switchPorts(ws: readonly Workload[], from: Mode, to: Mode): Promise<Record<string, number>> {
    const { enroller } = this.x;
    const ms: Record<string, number> = {};
    // Without a healthy dp nothing is sent: the replay of the restarted dp carries the new mode.
    const pushDp = () => timed(ms, 'dpMs', () => enroller.pushMode(ws, to));
    const steer = () => timed(ms, 'steerMs', () => enroller.steering.steerMany(ws, to));
    let drained = false;
    if (MODES[from].tap !== MODES[to].tap)
      await timed(ms, 'drainMs', async () => {
        drained = await enroller.steering.drain(ws, from);
      });
    if (drained || (MODES[from].tap && !MODES[to].tap)) {
      await pushDp();
      await steer();
    } else {
      await steer();
      await pushDp();
    }
    return ms;
  }

  /** Switches a group's mode (also by container or workload name) without losing packets of allowed flows. */
  set(ref: string, mode: string): Promise<ModeSwitchResult> {
    const { registry, store, spec, log } = this.x;
    return this.x.serial.run(async () => {
      if (!isWorkloadMode(mode))
        throw new TollgateError('EBADMODE', `invalid mode "${mode}" (learn, monitor or protect)`, 'mode');
      const group = this.resolveGroup(ref);
      const from = this.x.modeOf(group);
      const members = registry.members(group);
      const result = { name: ref, group, from, to: mode, members: members.length };
      if (from === mode) return result;
      store.modes[group] = mode;
      const labW = spec?.workloads.find((w) => w.name === group);
      if (labW) labW.mode = mode;
      let phases: Record<string, number>;
      try {
        phases = await this.switchPorts(members, from, mode);
      } catch (e) {
        // Back to where it was, so the mode in force and the mode on record agree.
        store.modes[group] = from;
        if (labW) labW.mode = from;
        await this.apply(members, mode, from).catch(() => undefined);
        throw e;
      }
      // The markers (what `agent down` and adoption read) and the rules file are independent.
      // A marker that cannot be written is only logged: adoption takes a group's mode from the rules file.
      const mark = () =>
        this.x.enroller.steering
          .mark(members, mode)
          .catch((e: unknown) => log.warn({ group, err: errorMessage(e) }, 'port markers not updated'));
      await Promise.all([timed(phases, 'markMs', mark), timed(phases, 'saveMs', () => store.save())]);
      this.x.switched();
      log.info({ group, from, to: mode, members: members.length, ...phases }, 'mode switched');
      return result;
    });
  }
}

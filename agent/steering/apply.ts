import { run, runIn } from '../../shared/exec.js';
import { TollgateError } from '../../shared/errors.js';
import type { SteeringPlan } from './backend.js';
import { readIngressMany } from './tc-state.js';

/** What the tc lines of a plan promise about each device once they have run. */
interface DeviceExpectation {
  qdisc: boolean | undefined;
  prefs: Map<number, boolean>;
}

/**
 * Derives the expected end state from the plan's own tc lines, so the read-back checks
 * exactly what the plan claimed to do and nothing else (other ports' filters on vbr are
 * not this plan's business).
 */
export function expectationsOf(tcLines: readonly string[]): Map<string, DeviceExpectation> {
  const out = new Map<string, DeviceExpectation>();
  const get = (dev: string): DeviceExpectation => {
    let e = out.get(dev);
    if (!e) out.set(dev, (e = { qdisc: undefined, prefs: new Map() }));
    return e;
  };
  for (const line of tcLines) {
    const t = line.trim().split(/\s+/);
    const [obj, verb] = t;
    const devAt = t.indexOf('dev');
    const dev = devAt >= 0 ? t[devAt + 1] : undefined;
    if (!dev) continue;
    const present = verb === 'add' || verb === 'replace' || verb === 'change';
    if (obj === 'qdisc') {
      const e = get(dev);
      e.qdisc = present;
      if (!present) for (const p of e.prefs.keys()) e.prefs.set(p, false);
    } else if (obj === 'filter') {
      const prefAt = t.indexOf('pref');
      const pref = prefAt >= 0 ? Number(t[prefAt + 1]) : NaN;
      if (Number.isInteger(pref)) get(dev).prefs.set(pref, present);
    }
  }
  return out;
}

export async function verifyTc(agentNs: string, tcLines: readonly string[]): Promise<void> {
  const expected = expectationsOf(tcLines);
  const states = await readIngressMany(agentNs, [...expected.keys()]);
  for (const [dev, want] of expected) {
    const st = states.get(dev)!;
    if (!st.linkExists) {
      const needs = want.qdisc === true || [...want.prefs.values()].some(Boolean);
      if (needs) throw new TollgateError('ESTEERVERIFY', `device ${dev} does not exist in ${agentNs}`, dev);
      continue;
    }
    if (want.qdisc === true && !st.qdisc)
      throw new TollgateError('ESTEERVERIFY', `no ingress qdisc on ${dev} after apply`, dev);
    if (want.qdisc === false && st.qdisc)
      throw new TollgateError('ESTEERVERIFY', `${st.qdisc} qdisc still on ${dev} after removal`, dev);
    for (const [pref, present] of want.prefs) {
      if (present !== st.filters.has(pref))
        throw new TollgateError(
          'ESTEERVERIFY',
          `filter pref ${pref} ${present ? 'missing' : 'still present'} on ${dev} after apply`,
          dev,
        );
    }
  }
}

/**
 * Runs argv commands in order; consecutive `bpftool map …` commands go through one
 * `bpftool batch file -` (same order, one process), so switching the mode of a hundred
 * ports is one process, not three hundred.
 */
export async function runCommands(cmds: readonly string[][]): Promise<void> {
  let i = 0;
  while (i < cmds.length) {
    const c = cmds[i]!;
    if (c[0] !== 'bpftool' || c[1] !== 'map') {
      await run(c);
      i++;
      continue;
    }
    let j = i;
    while (j < cmds.length && cmds[j]![0] === 'bpftool' && cmds[j]![1] === 'map') j++;
    if (j - i === 1) await run(c);
    else
      await run(['bpftool', 'batch', 'file', '-'], {
        input: `${cmds
          .slice(i, j)
          .map((x) => x.slice(1).join(' '))
          .join('\n')}\n`,
      });
    i = j;
  }
}

/** prepare (caller's ns) → `tc -batch -` in agentNs → commands → read-back check. */
export async function applySteeringPlan(agentNs: string, plan: SteeringPlan): Promise<void> {
  await runCommands(plan.prepare);
  if (plan.tc.length) {
    try {
      await runIn(agentNs, ['tc', '-batch', '-'], { input: `${plan.tc.join('\n')}\n` });
    } catch (e) {
      throw new TollgateError('ESTEERAPPLY', `tc batch in ${agentNs} failed: ${(e as Error).message}`);
    }
  }
  await runCommands(plan.commands);
  await verifyTc(agentNs, plan.tc);
}

/** A plan as shell lines, for `agent plan` and logs. */
export function formatPlan(agentNs: string, plan: SteeringPlan): string[] {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [
    ...plan.prepare.map((c) => c.map(q).join(' ')),
    ...plan.tc.map((l) => `nsenter --net=${agentNs.startsWith('/') ? agentNs : `/run/netns/${agentNs}`} tc ${l}`),
    ...plan.commands.map((c) => c.map(q).join(' ')),
  ];
}

import { TollgateError } from '../../shared/errors.js';
import {
  emptyPlan,
  type ServicePair,
  type SteeredPort,
  type SteeringBackend,
  type SteeringMode,
  type SteeringPlan,
} from './backend.js';
import { applySteeringPlan } from './apply.js';
import { qdiscRemoval, readIngress, type IngressState } from './tc-state.js';
import {
  PREF_ALL,
  PREF_IP,
  UNICAST_SLOTS,
  catchAllRule,
  serviceLines,
  unicastRules,
  vbrPref,
  vbrRules,
} from './u32-rules.js';
import { checkPair, checkPort } from './validate.js';

/** The mode an installed unicast rule implements: inline rewrites first, tap mirrors first. */
function modeOfRule(st: IngressState, pref: number): SteeringMode | undefined {
  const a = st.filters.get(pref)?.firstAction;
  return a === 'pedit' ? 'inline' : a === 'mirred' ? 'tap' : undefined;
}

/**
 * NeuVector's u32 + pedit steering (needs act_pedit, and act_gact for the tap drops).
 * The rule text is u32-rules.ts; this class sequences it against what is installed, so a
 * re-apply is a no-op and a mode switch never leaves a moment without a unicast rule.
 */
export class U32Steering implements SteeringBackend {
  readonly kind = 'u32' as const;

  async planService(pair: ServicePair): Promise<SteeringPlan> {
    checkPair(pair);
    const plan = emptyPlan();
    const st = await readIngress(pair.agentNs, pair.vbr);
    if (!st.linkExists) throw new TollgateError('ESTEERSTATE', `link ${pair.vbr} does not exist`, 'pair.vbr');
    if (st.qdisc === 'clsact')
      throw new TollgateError(
        'ESTEERSTATE',
        `${pair.vbr} has a clsact qdisc (bpf steering?); remove it first`,
        'pair.vbr',
      );
    if (!st.qdisc) plan.tc.push(...serviceLines(pair));
    return plan;
  }

  private async sideLines(role: 'vex' | 'vin', port: SteeredPort, pair: ServicePair): Promise<string[]> {
    const dev = role === 'vex' ? port.vex : port.vin;
    const st = await readIngress(pair.agentNs, dev);
    if (!st.linkExists) throw new TollgateError('ESTEERSTATE', `link ${dev} does not exist`, dev);
    if (st.qdisc === 'clsact') throw new TollgateError('ESTEERSTATE', `${dev} has a clsact qdisc (bpf steering?)`, dev);
    const lines: string[] = [];
    const del = (pref: number) => `filter del dev ${dev} parent ffff: pref ${pref}`;
    const cur = modeOfRule(st, PREF_IP);
    const complete = st.filters.has(PREF_ALL) && UNICAST_SLOTS.every((s) => modeOfRule(st, s.pref) === port.mode);
    if (cur === port.mode && complete) return lines;
    if (cur !== undefined) {
      // Switch: the new rules go in ahead (lower pref) before the old ones go, then take
      // the regular prefs back. At every instant some unicast rule matches.
      lines.push(
        ...unicastRules('add', role, port, pair, port.mode, true),
        ...UNICAST_SLOTS.filter((s) => st.filters.has(s.pref)).map((s) => del(s.pref)),
        ...unicastRules('add', role, port, pair, port.mode),
        ...UNICAST_SLOTS.map((s) => del(s.swapPref)),
      );
      if (!st.filters.has(PREF_ALL)) lines.push(catchAllRule('add', role, port));
      return lines;
    }
    if (!st.qdisc) lines.push(`qdisc add dev ${dev} ingress`);
    for (const p of [...UNICAST_SLOTS.flatMap((s) => [s.pref, s.swapPref]), PREF_ALL])
      if (st.filters.has(p)) lines.push(del(p));
    lines.push(...unicastRules('add', role, port, pair, port.mode), catchAllRule('add', role, port));
    return lines;
  }

  private async vbrLines(port: SteeredPort, pair: ServicePair): Promise<string[]> {
    const st = await readIngress(pair.agentNs, pair.vbr);
    const prefs = [vbrPref(port.vexIfindex), vbrPref(port.vinIfindex)];
    const wantFirst = port.mode === 'inline' ? 'pedit' : 'gact';
    if (prefs.every((p) => st.filters.get(p)?.firstAction === wantFirst)) return [];
    // No rule on vbr means the frame dies in the enforcer stack: the short gap here only
    // ever drops frames the dp sends back, which TCP retransmits.
    const lines = prefs
      .filter((p) => st.filters.has(p))
      .map((p) => `filter del dev ${pair.vbr} parent ffff: pref ${p}`);
    if (!st.qdisc) lines.push(...serviceLines(pair));
    return [...lines, ...vbrRules('add', port, pair, port.mode)];
  }

  async planPort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan> {
    checkPort(port, pair);
    const plan = emptyPlan();
    const sides = [...(await this.sideLines('vin', port, pair)), ...(await this.sideLines('vex', port, pair))];
    const vbr = await this.vbrLines(port, pair);
    // Into inline the return path exists before anything is sent to the dp; into tap the
    // ports stop sending to the dp before the return path turns into a drop.
    plan.tc.push(...(port.mode === 'inline' ? [...vbr, ...sides] : [...sides, ...vbr]));
    return plan;
  }

  async planRemovePort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan> {
    checkPort(port, pair);
    const plan = emptyPlan();
    const vbr = await readIngress(pair.agentNs, pair.vbr);
    for (const p of [vbrPref(port.vinIfindex), vbrPref(port.vexIfindex)])
      if (vbr.filters.has(p)) plan.tc.push(`filter del dev ${pair.vbr} parent ffff: pref ${p}`);
    for (const dev of [port.vin, port.vex]) plan.tc.push(...(await qdiscRemoval(pair.agentNs, dev)));
    return plan;
  }

  async planRemoveService(pair: ServicePair): Promise<SteeringPlan> {
    checkPair(pair);
    const plan = emptyPlan();
    plan.tc.push(...(await qdiscRemoval(pair.agentNs, pair.vbr)));
    return plan;
  }

  applyPlan(agentNs: string, plan: SteeringPlan): Promise<void> {
    return applySteeringPlan(agentNs, plan);
  }
}

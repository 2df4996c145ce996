import type { PolicyDecision, PolicyQuery } from '../dp/engine-types.js';
import { policyHook } from '../dp/policy/engine-hook.js';
import { compileRules, PolicyTable, type WireRule } from '../dp/policy/policy-table.js';
import type { MicroCase } from './harness.js';

/** Rules of the endpoint looked up: one per port, as learned rules between groups are. */
const RULES = 1_000;

/**
 * Deciding a new session with the policy table (the engine's seam: dp/policy/engine-hook.ts)
 * over an endpoint with RULES port rules, half the questions matching a rule and half
 * falling to the default action, against a plain Map lookup of the port.
 */
export function policyCase(): MicroCase {
  const table = new PolicyTable();
  const rules: WireRule[] = [];
  for (let i = 0; i < RULES; i++)
    rules.push({
      id: i + 1,
      sip: '198.19.0.0',
      sipr: '198.19.255.255',
      dip: '198.18.0.10',
      dipr: '198.18.0.10',
      proto: 6,
      port: 1000 + i,
      action: 2,
      ingress: true,
    });
  table.setPolicy([1], 7, 0, compileRules(rules));
  const hook = policyHook(table);
  const byPort = new Map<number, number>();
  for (let i = 0; i < RULES; i++) byPort.set(1000 + i, 2);
  const q: PolicyQuery = {
    ingress: true,
    proto: 6,
    sip: new Uint32Array(4),
    dip: new Uint32Array(4),
    sport: 40000,
    dport: 0,
  };
  q.sip[2] = q.dip[2] = 0xffff;
  q.sip[3] = ((198 << 24) | (19 << 16) | 5) >>> 0;
  q.dip[3] = ((198 << 24) | (18 << 16) | 10) >>> 0;
  const d: PolicyDecision = { action: 0, ruleId: 0 };
  return {
    name: `policy lookup (${RULES.toLocaleString('en')} port rules, half miss to the default)`,
    baselineName: 'Map.get of the port',
    baseline: (i) => byPort.get(1000 + (i % (RULES * 2))) ?? 7,
    subject: (i) => {
      q.dport = 1000 + (i % (RULES * 2));
      hook.decide(1, q, d);
      return d.action;
    },
  };
}

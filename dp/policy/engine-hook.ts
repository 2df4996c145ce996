/**
 * The engine's policy seam (PolicyHook) served by a PolicyTable: one reusable match
 * object, no allocation per decision.
 */
import type { PolicyDecision, PolicyHook, PolicyQuery } from '../engine-types.js';
import type { PolicyTable } from './policy-table.js';
import type { PolicyMatch } from './rule-index.js';

export function policyHook(table: PolicyTable): PolicyHook {
  const m: PolicyMatch = { action: 0, ruleId: 0, order: 0 };
  return {
    version: (epId: number) => table.versionOf(epId),
    decide(epId: number, q: PolicyQuery, out: PolicyDecision): void {
      table.lookup(epId, q, m);
      out.action = m.action;
      out.ruleId = m.ruleId;
    },
  };
}

/**
 * Policy lookup with thousands of rules: the dp's rule index against a plain first-match
 * scan over the same rules (the same-run baseline), on the same queries.
 */
import { PolicyAction } from '../shared/policy-actions.js';
import { compileRules, PolicyTable, type WireRule } from '../dp/policy/policy-table.js';
import { inRange, parseAddr } from '../dp/policy/address.js';
import type { PolicyMatch, PolicyQuery } from '../dp/policy/rule-index.js';

export interface PolicyBenchRow {
  rules: number;
  queries: number;
  indexedPerSec: number;
  linearPerSec: number;
}

export function runPolicyBench(ruleCount = 5000, queryCount = 200_000): PolicyBenchRow {
  const web = '198.18.0.10';
  const rules: WireRule[] = [];
  for (let i = 0; i < ruleCount; i++) {
    const src = `198.19.${(i >> 8) & 255}.${i & 255}`;
    // Mostly learned-style exact rules, some port ranges and address ranges, like a real learned policy.
    if (i % 10 === 0)
      rules.push({
        id: 10000 + i,
        sip: src,
        sipr: `198.19.${(i >> 8) & 255}.255`,
        dip: web,
        port: 8000 + (i % 100),
        portr: 8000 + (i % 100) + 20,
        proto: 6,
        action: 2,
        ingress: true,
      });
    else
      rules.push({
        id: 10000 + i,
        sip: src,
        dip: web,
        port: 1000 + (i % 5000),
        proto: i % 3 === 0 ? 17 : 6,
        action: 2,
        ingress: true,
      });
  }
  const table = new PolicyTable();
  table.setPolicy([1], PolicyAction.DENY, 0, compileRules(rules));
  const compiled = compileRules(rules).rules;
  // Queries: half hit a rule somewhere in the list, half miss (the default action: a full scan for the baseline).
  const queries: PolicyQuery[] = [];
  for (let i = 0; i < 1024; i++) {
    const r = rules[(i * 7919) % rules.length]!;
    const hit = i % 2 === 0;
    queries.push({
      ingress: true,
      proto: r.proto ?? 6,
      sip: parseAddr(r.sip, 'sip'),
      dip: parseAddr(web, 'dip'),
      dport: hit ? (r.port ?? 0) : 60000,
    });
  }
  const out: PolicyMatch = { action: 0, ruleId: 0, order: 0 };
  const linear = (q: PolicyQuery): number => {
    for (const r of compiled) {
      if (r.ingress !== q.ingress || (r.proto !== q.proto && r.proto !== 0)) continue;
      if (q.dport < r.portLo || q.dport > r.portHi) continue;
      if (inRange(q.sip, r.sipLo, r.sipHi) && inRange(q.dip, r.dipLo, r.dipHi)) return r.id;
    }
    return 0;
  };
  const time = (fn: (q: PolicyQuery) => unknown): number => {
    for (let i = 0; i < 2000; i++) fn(queries[i & 1023]!); // warm-up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < queryCount; i++) fn(queries[i & 1023]!);
    return queryCount / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  // The baseline is slow by nature: a tenth of the queries give a stable rate.
  const linearPerSec = (() => {
    const n = Math.max(1000, Math.floor(queryCount / 10));
    for (let i = 0; i < 200; i++) linear(queries[i & 1023]!);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) linear(queries[i & 1023]!);
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  })();
  const indexedPerSec = time((q) => table.lookup(1, q, out));
  return { rules: ruleCount, queries: queryCount, indexedPerSec, linearPerSec };
}

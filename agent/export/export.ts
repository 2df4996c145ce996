/**
 * `agent rules --export FORMAT [--group G]`: one text for every format, YAML multi-doc
 * for the Kubernetes kinds with the rules they could not carry listed as comments on top.
 */
import YAML from 'yaml';
import { TollgateError } from '../../shared/errors.js';
import { toCiliumNetworkPolicies } from './cilium.js';
import { toNetworkPolicies } from './networkpolicy.js';
import { planGroups, type SkippedRule } from './plan.js';
import type { PolicySource } from './source.js';
import { toTollgateYaml } from './tollgate-yaml.js';

export const EXPORT_FORMATS = ['networkpolicy', 'ciliumnetworkpolicy', 'yaml'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function isExportFormat(s: string): s is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(s);
}

function multiDoc(objects: readonly object[], skipped: readonly SkippedRule[], what: string): string {
  const head = [`# Tollgate: ${objects.length} ${what} object(s) from the learned and user rules.`];
  for (const s of skipped) head.push(`# rule ${s.ruleId} not exported: ${s.reason}`);
  const body = objects.map((o) => YAML.stringify(o)).join('---\n');
  return `${head.join('\n')}\n${body}`;
}

export function exportPolicy(format: string, src: PolicySource, group?: string): string {
  if (!isExportFormat(format))
    throw new TollgateError('EBADARG', `unknown export format "${format}" (${EXPORT_FORMATS.join(', ')})`, 'format');
  if (
    group !== undefined &&
    !src.rules.some((r) => r.from === group || r.to === group) &&
    !Object.hasOwn(src.modes, group) &&
    !Object.hasOwn(src.labels, group)
  ) {
    throw new TollgateError('ENOGROUP', `no group "${group}" in the rules, modes or labels`, 'group');
  }
  if (format === 'yaml') return toTollgateYaml(src, group);
  const { plans, skipped } = planGroups(src, group);
  if (format === 'networkpolicy') {
    const np = toNetworkPolicies(plans, src.labels);
    return multiDoc(np.objects, [...skipped, ...np.skipped], 'NetworkPolicy');
  }
  return multiDoc(toCiliumNetworkPolicies(plans, src.labels), skipped, 'CiliumNetworkPolicy');
}

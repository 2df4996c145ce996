/**
 * What policy export reads: the rules, each group's mode and each group's labels (the
 * container labels that selected it). The daemon fills it from its state, `agent rules
 * --rules FILE` from the rules file alone (no labels there: groups get the default label).
 */
import type { AllowRule } from '../learn/rule.js';
import type { Mode } from '../topology/spec.js';

export type GroupLabels = Record<string, Record<string, string>>;

export interface PolicySource {
  rules: readonly AllowRule[];
  modes: Readonly<Record<string, Mode>>;
  labels: Readonly<GroupLabels>;
}

/** The rules that touch `group` (as client or server); all rules without a group. */
export function rulesOfGroup(rules: readonly AllowRule[], group?: string): AllowRule[] {
  return group === undefined ? [...rules] : rules.filter((r) => r.from === group || r.to === group);
}

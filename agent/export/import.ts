/**
 * Applies a Tollgate YAML document to a rule store: each imported rule replaces the rule
 * with the same from/to/port/proto (taking the imported id, origin, hits and dates), or is
 * added as written; an id already used by a different rule is refused before anything
 * changes. Modes are set after the rules, through the target, so a running daemon switches
 * them in its loss-free order. Used by `agent rules --import` (offline on the rules file,
 * or in the daemon) and by the Kubernetes CRD watch.
 */
import { TollgateError } from '../../shared/errors.js';
import type { RuleStore, RulesFile } from '../learn/rule-store.js';
import { ruleKey } from '../learn/rule.js';
import type { Mode } from '../topology/spec.js';

export interface PolicyTarget {
  /** Runs `change` on the rule store, saves it, and makes the enforcement follow. */
  changeRules<T>(change: (store: RuleStore) => T): Promise<T>;
  setMode(group: string, mode: Mode): Promise<unknown>;
  /** The groups modes can be set for, when the target knows them (a daemon does; a bare file does not). */
  knownGroups?(): readonly string[];
}

export interface ImportResult {
  added: number;
  replaced: number;
  modes: number;
}

/** Refuses ids that belong to a different rule in the store (the error names the field). */
export function checkImportIds(store: RuleStore, doc: RulesFile, source: string): void {
  doc.rules.forEach((r, i) => {
    const have = store.byId(r.id);
    if (have && ruleKey(have) !== ruleKey(r)) {
      throw new TollgateError(
        'EIMPORT',
        `${source}: rules.${i}.id: id ${r.id} is already rule ${ruleKey(have)} in ${store.path}`,
      );
    }
  });
}

export async function importPolicy(target: PolicyTarget, doc: RulesFile, source: string): Promise<ImportResult> {
  const known = target.knownGroups?.();
  if (known) {
    for (const g of Object.keys(doc.modes)) {
      if (!known.includes(g))
        throw new TollgateError(
          'EIMPORT',
          `${source}: modes.${g}: no group "${g}" here (${known.join(', ') || 'none'})`,
        );
    }
  }
  const res = await target.changeRules((store) => {
    checkImportIds(store, doc, source);
    let added = 0;
    let replaced = 0;
    for (const r of doc.rules) {
      // put() replaces by from/to/port/proto, the rule's identity.
      if (store.get(ruleKey(r))) replaced++;
      else added++;
      store.put(r);
    }
    return { added, replaced };
  });
  for (const [g, m] of Object.entries(doc.modes)) await target.setMode(g, m);
  return { ...res, modes: Object.keys(doc.modes).length };
}

/** The target for the rules file alone (no daemon running): changes are saved, nothing else. */
export function fileTarget(store: RuleStore): PolicyTarget {
  return {
    async changeRules(change) {
      const r = change(store);
      await store.save();
      return r;
    },
    async setMode(group, mode) {
      store.modes[group] = mode;
      await store.save();
    },
  };
}

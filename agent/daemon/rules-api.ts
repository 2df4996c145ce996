/**
 * The rules as the world outside the daemon edits and reads them: deletion by id, import
 * (`agent rules --import`, the Kubernetes watch) and export with the labels each group's
 * members share. Every change is serialized, saved, and pushed to the groups it names.
 */
import { TollgateError } from '../../shared/errors.js';
import type { LabSpec, Mode } from '../topology/spec.js';
import type { RuleStore } from '../learn/rule-store.js';
import type { PolicyTarget } from '../export/import.js';
import type { PolicySource } from '../export/source.js';
import type { Enroller } from './enrol.js';
import type { WorkloadRegistry } from './workloads.js';
import type { Serializer } from './serial.js';

export interface RulesApiContext {
  registry: WorkloadRegistry;
  store: RuleStore;
  spec: LabSpec | undefined;
  enroller: Enroller;
  serial: Serializer;
  modeOf(group: string): Mode;
  setMode(group: string, mode: Mode): Promise<unknown>;
  labelsOf(containerId: string): Record<string, string> | undefined;
}

export class RulesApi {
  constructor(private readonly x: RulesApiContext) {}

  removeRule(id: number): Promise<{ removed: number }> {
    return this.x.serial.run(async () => {
      const r = this.x.store.removeById(id);
      if (!r) throw new TollgateError('ENORULE', `no rule with id ${id}`, 'id');
      await this.x.store.save();
      await this.x.enroller.pushGroups([r.from, r.to]);
      return { removed: id };
    });
  }

  /** Rules, group modes and group labels for policy export. */
  policySource(): PolicySource {
    const { registry, store } = this.x;
    const groups = new Set([...registry.groups(), ...Object.keys(store.modes)]);
    return {
      rules: store.list(),
      modes: Object.fromEntries([...groups].map((g) => [g, this.x.modeOf(g)])),
      labels: this.groupLabels(),
    };
  }

  /**
   * The labels every member of a group shares (`tollgate.group` or the compose service
   * among them): what a Kubernetes selector for the group would match. Lab groups have none.
   */
  groupLabels(): Record<string, Record<string, string>> {
    const out: Record<string, Record<string, string>> = {};
    for (const g of this.x.registry.groups()) {
      const sets = this.x.registry
        .members(g)
        .flatMap((w) => (w.containerId ? [this.x.labelsOf(w.containerId) ?? {}] : []));
      if (!sets.length) continue;
      const common: Record<string, string> = {};
      for (const [k, v] of Object.entries(sets[0]!)) if (sets.every((l) => l[k] === v)) common[k] = v;
      if (Object.keys(common).length) out[g] = common;
    }
    return out;
  }

  /** Rule changes from import and the Kubernetes watch: serialized, saved, pushed to the groups they name. */
  policyTarget(): PolicyTarget {
    const { registry, store, spec } = this.x;
    return {
      changeRules: (change) =>
        this.x.serial.run(async () => {
          const r = change(store);
          await store.save();
          await this.x.enroller.pushGroups(registry.groups());
          return r;
        }),
      setMode: (group, mode) => this.x.setMode(group, mode),
      knownGroups: () => [
        ...new Set([...registry.groups(), ...Object.keys(store.modes), ...(spec?.workloads.map((w) => w.name) ?? [])]),
      ],
    };
  }
}

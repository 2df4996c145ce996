/**
 * The Tollgate YAML form of a policy: the rules file's own document (version, modes,
 * rules; agent/learn/rule-store.ts owns the schema), cut to one group when asked. Every
 * field is written, in schema order, so export → import → export gives the same bytes.
 * Reading it back validates with the same schema and names the field of the first
 * problems (`rules.2.port: Too big: expected number to be <=65535`).
 */
import YAML from 'yaml';
import type { z } from 'zod';
import { TollgateError } from '../../shared/errors.js';
import { fileSchema, type RulesFile } from '../learn/rule-store.js';
import { ruleKey } from '../learn/rule.js';
import { rulesOfGroup, type PolicySource } from './source.js';

export const TOLLGATE_YAML_HEADER =
  '# Tollgate policy: learned and user allow rules and group modes (agent rules --import FILE reads it back).\n';

export function toTollgateDocument(src: PolicySource, group?: string): RulesFile {
  const modes = group === undefined ? { ...src.modes } : src.modes[group] ? { [group]: src.modes[group] } : {};
  const sortedModes = Object.fromEntries(
    Object.keys(modes)
      .sort()
      .map((k) => [k, modes[k]!]),
  );
  // Through the schema: one key order for rules however they were built.
  return fileSchema.parse({
    version: 1,
    modes: sortedModes,
    rules: rulesOfGroup(src.rules, group).sort((a, b) => a.id - b.id),
  });
}

export function toTollgateYaml(src: PolicySource, group?: string): string {
  return TOLLGATE_YAML_HEADER + YAML.stringify(toTollgateDocument(src, group));
}

function issuesText(source: string, issues: z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  const more = issues.length > 5 ? `; and ${issues.length - 5} more` : '';
  return `${source}: ${shown.join('; ')}${more}`;
}

/** Parses and validates the Tollgate YAML form; throws EIMPORT naming the field. */
export function parseTollgateYaml(text: string, source: string): RulesFile {
  const docs = YAML.parseAllDocuments(text);
  if (docs.length !== 1)
    throw new TollgateError('EIMPORT', `${source}: expected one YAML document, found ${docs.length}`);
  const doc = docs[0]!;
  if (doc.errors.length) throw new TollgateError('EIMPORT', `${source}: not valid YAML: ${doc.errors[0]!.message}`);
  const parsed = fileSchema.safeParse(doc.toJS() ?? undefined);
  if (!parsed.success) throw new TollgateError('EIMPORT', issuesText(source, parsed.error.issues));
  const ids = new Map<number, number>();
  const keys = new Map<string, number>();
  parsed.data.rules.forEach((r, i) => {
    const sameId = ids.get(r.id);
    if (sameId !== undefined)
      throw new TollgateError('EIMPORT', `${source}: rules.${i}.id: id ${r.id} is also rules.${sameId}.id`);
    const k = ruleKey(r);
    const sameKey = keys.get(k);
    if (sameKey !== undefined)
      throw new TollgateError('EIMPORT', `${source}: rules.${i}: same from/to/port/proto as rules.${sameKey} (${k})`);
    ids.set(r.id, i);
    keys.set(k, i);
  });
  return parsed.data;
}

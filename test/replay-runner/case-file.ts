/**
 * One replay case: test/replay/<name>/case.yaml, validated with zod so a typo names the
 * field (`checks[2].where: ...`) instead of silently checking nothing.
 *
 * Input is either a shared capture by file name (resolved next to the repo:
 * <repo>/../shared/pcaps/<name>, as CI clones the repo beside `shared/`) or a pcapgen
 * case (`generate: {case, seed}`), written to a temp pcap when the case runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { WorkloadMode } from '../../shared/policy-actions.js';
import { ENGINE_EVENT_NAMES, OFFLINE_EVENT_NAMES } from '../../shared/names/events.js';
import { REASONS } from '../../dp/decode/reasons.js';
import type { WireRule } from '../../dp/policy/policy-table.js';
import { actionNumber, modeSchema, policyBlockSchema, toWireRules } from '../../dp/offline/policy-file.js';

export { actionNumber } from '../../dp/offline/policy-file.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CASES_DIR = join(REPO_ROOT, 'test', 'replay');
export const SHARED_PCAPS = resolve(REPO_ROOT, '..', 'shared', 'pcaps');

const where = z.record(z.string(), z.unknown());
const check = z.union([
  z.strictObject({ summary: z.record(z.string(), z.unknown()) }),
  z.strictObject({ sessions: z.partialRecord(z.enum(['total', 'tcp', 'udp', 'icmp', 'ip']), z.number().int()) }),
  z.strictObject({ malformed: z.partialRecord(z.enum(REASONS.filter((r) => r !== 'ok')), z.number().int()) }),
  z.strictObject({ fileErrors: z.array(z.string()) }),
  z
    .strictObject({
      event: z.enum([...ENGINE_EVENT_NAMES, ...OFFLINE_EVENT_NAMES]),
      where: where.optional(),
      count: z.number().int().min(0).optional(),
      distinct: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
      values: z.array(z.unknown()).optional(),
    })
    .refine((c) => c.count !== undefined || c.distinct !== undefined, 'an event check needs count or distinct')
    .refine((c) => (c.distinct === undefined) === (c.values === undefined), 'distinct and values go together'),
]);

const caseSchema = z
  .strictObject({
    description: z.string(),
    pcap: z.string().optional(),
    generate: z.strictObject({ case: z.string(), seed: z.number().int().default(1) }).optional(),
    mode: modeSchema,
    policy: policyBlockSchema,
    live: z
      .strictObject({
        /** Capture address that becomes the host side (its flows start there). */
        client: z.string(),
        /** Capture address that becomes the workload. */
        server: z.string(),
      })
      .optional(),
    checks: z.array(check).min(1),
  })
  .refine((c) => (c.pcap === undefined) !== (c.generate === undefined), 'exactly one of pcap and generate');

export type CaseSpec = z.output<typeof caseSchema>;
export type Check = CaseSpec['checks'][number];

export interface ReplayCase {
  name: string;
  dir: string;
  file: string;
  text: string;
  spec: CaseSpec;
  mode: WorkloadMode;
  /** Shared capture path, or null for a generated input. */
  pcapPath: string | null;
  rules: WireRule[];
  defaultAction: number | undefined;
}

type Issue = z.core.$ZodIssue;

/**
 * A check that matches no kind of check names the field of the kind it came closest to
 * (`checks[0].event`), not only "invalid input": the union branch with no unknown keys
 * whose issue lies deepest.
 */
function flatIssues(
  issues: readonly Issue[],
  prefix: readonly PropertyKey[] = [],
): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  for (const i of issues) {
    const path = [...prefix, ...i.path];
    if (i.code === 'invalid_union' && i.errors.length > 0) {
      const score = (b: readonly Issue[]): number =>
        b.some((x) => x.code === 'unrecognized_keys') ? -1 : Math.max(0, ...b.map((x) => x.path.length));
      const best = i.errors.reduce((a, b) => (score(b) > score(a) ? b : a));
      if (score(best) > 0) {
        out.push(...flatIssues(best, path));
        continue;
      }
    }
    out.push({ path, message: i.message });
  }
  return out;
}

function issuesText(e: z.ZodError): string {
  return flatIssues(e.issues)
    .map(
      (i) =>
        `${
          i.path
            .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
            .join('')
            .replace(/^\./, '') || '(root)'
        }: ${i.message}`,
    )
    .join('; ');
}

/** Loads and validates test/replay/<name>/case.yaml (or a case.yaml under `dir`). Throws naming the field. */
export function loadCase(dir: string): ReplayCase {
  const file = join(dir, 'case.yaml');
  const name = dir.split('/').filter(Boolean).pop()!;
  const text = readFileSync(file, 'utf8');
  const parsed = caseSchema.safeParse(parseYaml(text));
  if (!parsed.success) throw new Error(`${file}: ${issuesText(parsed.error)}`);
  const spec = parsed.data;
  let pcapPath: string | null = null;
  if (spec.pcap !== undefined) {
    pcapPath = resolve(SHARED_PCAPS, spec.pcap);
    if (!existsSync(pcapPath)) throw new Error(`${file}: pcap: no such capture ${pcapPath}`);
  }
  return {
    name,
    dir,
    file,
    text,
    spec,
    mode: spec.mode,
    pcapPath,
    rules: toWireRules(spec.policy.rules),
    defaultAction: spec.policy.defaultAction === undefined ? undefined : actionNumber(spec.policy.defaultAction),
  };
}

/**
 * The policy part of a replay case (test/replay/<case>/case.yaml), also usable on its own
 * as `dp -p FILE --policy case.yaml`: `mode` and a `policy` block whose rules have
 * ctrl_cfg_policy's shape plus a few shorthands. Other keys of the file are ignored here.
 *
 *   mode: protect                       learn | monitor | protect
 *   policy:
 *     defaultAction: deny               name or 0..7; default: the mode's
 *     icmpPolicy: false                 ctrl_enable_icmp_policy
 *     rules:
 *       - {id: 1, proto: tcp, port: 80, action: allow}
 *         sip/sipr/dip/dipr omitted = any (one IPv4 and one IPv6 rule); proto and action
 *         take names; ingress defaults to true (the capture's clients are outside)
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PolicyAction, type WorkloadMode } from '../../shared/policy-actions.js';
import { TollgateError } from '../../shared/errors.js';
import type { WireRule } from '../policy/policy-table.js';
import type { OfflinePolicyConfig } from './policy.js';

const ACTION_NAMES: Record<string, number> = {
  open: PolicyAction.OPEN,
  learn: PolicyAction.LEARN,
  allow: PolicyAction.ALLOW,
  violate: PolicyAction.VIOLATE,
  deny: PolicyAction.DENY,
};
const PROTO_NAMES: Record<string, number> = { any: 0, icmp: 1, tcp: 6, udp: 17, icmpv6: 58 };

export const actionSchema = z.union([
  z.number().int().min(0).max(7),
  z.enum(Object.keys(ACTION_NAMES) as [string, ...string[]]),
]);
const protoSchema = z.union([
  z.number().int().min(0).max(255),
  z.enum(Object.keys(PROTO_NAMES) as [string, ...string[]]),
]);
const port = z.number().int().min(0).max(65535);

export const ruleSchema = z.strictObject({
  id: z.number().int().min(0),
  sip: z.string().optional(),
  sipr: z.string().optional(),
  dip: z.string().optional(),
  dipr: z.string().optional(),
  port: port.optional(),
  portr: port.optional(),
  proto: protoSchema.optional(),
  action: actionSchema,
  ingress: z.boolean().default(true),
});
export type FileRule = z.output<typeof ruleSchema>;

export const modeSchema = z.enum(['learn', 'monitor', 'protect']);

export const policyBlockSchema = z
  .strictObject({
    defaultAction: actionSchema.optional(),
    icmpPolicy: z.boolean().default(false),
    rules: z.array(ruleSchema).default([]),
  })
  .prefault({});
export type PolicyBlock = z.output<typeof policyBlockSchema>;

export function actionNumber(a: number | string): number {
  return typeof a === 'number' ? a : ACTION_NAMES[a]!;
}

export function protoNumber(p: number | string): number {
  return typeof p === 'number' ? p : PROTO_NAMES[p]!;
}

const V4_ANY = ['0.0.0.0', '255.255.255.255'] as const;
const V6_ANY = ['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'] as const;

/** File rules → wire rules; an omitted address means any, in both families unless the other side fixes one. */
export function toWireRules(rules: readonly FileRule[]): WireRule[] {
  const out: WireRule[] = [];
  for (const r of rules) {
    const given = r.sip ?? r.dip;
    const families = given === undefined ? [V4_ANY, V6_ANY] : [given.includes(':') ? V6_ANY : V4_ANY];
    for (const any of families) {
      const w: WireRule = {
        id: r.id,
        sip: r.sip ?? any[0],
        dip: r.dip ?? any[0],
        action: actionNumber(r.action),
        ingress: r.ingress,
      };
      const sipr = r.sip === undefined ? any[1] : r.sipr;
      const dipr = r.dip === undefined ? any[1] : r.dipr;
      if (sipr !== undefined) w.sipr = sipr;
      if (dipr !== undefined) w.dipr = dipr;
      if (r.port !== undefined) w.port = r.port;
      if (r.portr !== undefined) w.portr = r.portr;
      if (r.proto !== undefined) w.proto = protoNumber(r.proto);
      out.push(w);
    }
  }
  return out;
}

/** The policy block as runOffline's policy config. */
export function offlinePolicyConfig(p: PolicyBlock): OfflinePolicyConfig {
  return {
    defaultAction: p.defaultAction === undefined ? undefined : actionNumber(p.defaultAction),
    rules: toWireRules(p.rules),
    icmpPolicy: p.icmpPolicy,
  };
}

const fileSchema = z.object({ mode: modeSchema, policy: policyBlockSchema });

/** Reads `mode` and `policy` from a YAML/JSON file; throws TollgateError naming the field. */
export function loadPolicyFile(path: string): { mode: WorkloadMode; config: OfflinePolicyConfig } {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TollgateError('EBADFIELD', `cannot read policy file: ${(e as Error).message}`, path);
  }
  const r = fileSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TollgateError('EBADFIELD', i.message, `${path}: ${i.path.map(String).join('.') || '(root)'}`);
  }
  return { mode: r.data.mode, config: offlinePolicyConfig(r.data.policy) };
}

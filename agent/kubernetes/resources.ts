/**
 * Tollgate's two custom resources, cluster-scoped (a group's workloads may sit in any
 * namespace): TollgateGroup sets a group's mode (the object's name is the group),
 * TollgateRule is a user allow rule. deploy/kubernetes/crds.yaml declares them with the
 * same group, version, names and fields; test/unit/kubernetes-manifests.test.ts holds the
 * two to each other.
 */
import { z } from 'zod';

export const API_GROUP = 'tollgate.dev';
export const API_VERSION = 'v1alpha1';

export const RESOURCES = {
  group: { kind: 'TollgateGroup', plural: 'tollgategroups', singular: 'tollgategroup' },
  rule: { kind: 'TollgateRule', plural: 'tollgaterules', singular: 'tollgaterule' },
} as const;

/** Collection path on the API server (list and watch). */
export function collectionPath(plural: string): string {
  return `/apis/${API_GROUP}/${API_VERSION}/${plural}`;
}

const meta = z.object({ name: z.string().min(1), resourceVersion: z.string().optional() }).loose();

export const groupResourceSchema = z.object({
  metadata: meta,
  spec: z.object({ mode: z.enum(['learn', 'monitor', 'protect']) }),
});

export const ruleResourceSchema = z.object({
  metadata: meta,
  spec: z.object({
    from: z.string().min(1),
    to: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    proto: z.enum(['tcp', 'udp', 'icmp', 'icmpv6', 'any']),
    /** Where the rule applies (docs/POLICY.md): the client's egress, the server's ingress, or both. */
    side: z.enum(['both', 'egress', 'ingress']).default('both'),
  }),
});

export type GroupResource = z.infer<typeof groupResourceSchema>;
export type RuleResource = z.infer<typeof ruleResourceSchema>;

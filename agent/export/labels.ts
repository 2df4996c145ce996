/**
 * Pod selectors from group labels. A group selected by container labels keeps exactly
 * those labels; a group without any (a lab workload, a group named in the rules file
 * only) is selected by `tollgate.group: <name>`, which a person adds to the pods.
 */
import { TollgateError } from '../../shared/errors.js';
import type { GroupLabels } from './source.js';

export const DEFAULT_GROUP_LABEL = 'tollgate.group';

/** Kubernetes label value: ≤ 63 characters, alphanumeric at both ends, `-_.` inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Label key: optional DNS-subdomain prefix and `/`, then a name like a value (not empty). */
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(group: string, key: string): void {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (
    name.length > 63 ||
    !LABEL_NAME.test(name) ||
    (slash >= 0 && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
  ) {
    throw new TollgateError(
      'EBADLABEL',
      `group "${group}": label key "${key}" is not a valid Kubernetes label key`,
      `labels.${group}`,
    );
  }
}

function checkValue(group: string, key: string, value: string): void {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new TollgateError(
      'EBADLABEL',
      `group "${group}": label ${key}="${value}" is not a valid Kubernetes label value (≤ 63 of [A-Za-z0-9-_.], alphanumeric at both ends)`,
      `labels.${group}`,
    );
  }
}

/** matchLabels for a group, keys sorted; throws EBADLABEL naming the group when Kubernetes would refuse them. */
export function selectorFor(group: string, labels: Readonly<GroupLabels>): Record<string, string> {
  const own = labels[group];
  const chosen = own && Object.keys(own).length ? own : { [DEFAULT_GROUP_LABEL]: group };
  const out: Record<string, string> = {};
  for (const k of Object.keys(chosen).sort()) {
    checkKey(group, k);
    checkValue(group, k, chosen[k]!);
    out[k] = chosen[k]!;
  }
  return out;
}

/** Object name for a group's policy: `tollgate-<group>`, lower-cased to a DNS label. */
export function policyName(group: string): string {
  const n = `tollgate-${group.toLowerCase().replace(/[^a-z0-9-]+/g, '-')}`.slice(0, 63).replace(/-+$/, '');
  return n;
}

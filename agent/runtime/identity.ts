/**
 * A container's identity for policy: its group. Rules and modes are kept per group, so
 * a restarted container (new netns, MAC and maybe IP) or a new replica keeps them.
 *   1. the label `tollgate.group`,
 *   2. else its compose service label (docker compose or podman-compose),
 *   3. else its image's repository name (registry, path and tag dropped).
 */
import { TollgateError } from '../../shared/errors.js';

export const GROUP_LABEL = 'tollgate.group';
const COMPOSE_SERVICE_LABELS = ['com.docker.compose.service', 'io.podman.compose.service'];

/** Group names appear in rules, CLI arguments and metrics: lower-case, no blanks. */
export const GROUP_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function isGroupName(s: string): boolean {
  return GROUP_NAME.test(s);
}

/** `registry.example:5000/team/web:1.2@sha256:…` → `web`. */
export function imageRepositoryName(image: string): string {
  const noDigest = image.split('@')[0] ?? '';
  const last = noDigest.split('/').pop() ?? '';
  return last.split(':')[0] ?? '';
}

function clean(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63);
}

export function groupOf(c: { labels: Record<string, string>; image: string; name: string }): string {
  const explicit = c.labels[GROUP_LABEL];
  if (explicit !== undefined) {
    if (!isGroupName(explicit))
      throw new TollgateError(
        'EBADGROUP',
        `label ${GROUP_LABEL}="${explicit}" is not a group name (${GROUP_NAME.source})`,
        GROUP_LABEL,
      );
    return explicit;
  }
  for (const l of COMPOSE_SERVICE_LABELS) {
    const s = c.labels[l];
    if (s && clean(s)) return clean(s);
  }
  return clean(imageRepositoryName(c.image)) || clean(c.name) || 'unnamed';
}

/** `--select LABEL=VALUE` flags → a predicate on container labels (all must match). */
export function parseSelectors(flags: readonly string[]): { key: string; value: string }[] {
  return flags.map((f) => {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new TollgateError('EBADARG', `--select "${f}" must be LABEL=VALUE`, 'select');
    return { key: f.slice(0, eq), value: f.slice(eq + 1) };
  });
}

export function selects(selectors: readonly { key: string; value: string }[], labels: Record<string, string>): boolean {
  return selectors.every((s) => labels[s.key] === s.value);
}

/**
 * Which runtime an agent follows: `--runtime docker|podman|none|auto` and
 * `--runtime-socket PATH`. auto takes whichever well-known socket answers (podman's
 * service first, then dockerd), else none; an explicit choice that does not answer is
 * an error naming the socket, never a silent fallback.
 */
import { existsSync, statSync } from 'node:fs';
import { TollgateError } from '../../shared/errors.js';
import { DockerApiRuntime } from './docker-api.js';
import type { ContainerRuntime, RuntimeKind } from './runtime.js';

export type RuntimeChoice = RuntimeKind | 'none' | 'auto';
export const RUNTIME_CHOICES: readonly RuntimeChoice[] = ['auto', 'docker', 'podman', 'none'];

export const DEFAULT_SOCKETS: Record<RuntimeKind, readonly string[]> = {
  podman: ['/run/podman/podman.sock'],
  docker: ['/run/docker.sock', '/var/run/docker.sock'],
};

function checkSocket(path: string): void {
  if (!existsSync(path)) throw new TollgateError('ERUNTIME', `runtime socket ${path} does not exist`, 'runtime-socket');
  if (!statSync(path).isSocket())
    throw new TollgateError('ERUNTIME', `runtime socket ${path} is not a unix socket`, 'runtime-socket');
}

async function open(kind: RuntimeKind | undefined, path: string): Promise<ContainerRuntime> {
  checkSocket(path);
  const probe = new DockerApiRuntime(kind ?? 'docker', path);
  await probe.ping();
  const actual = await probe.detectKind();
  if (kind && kind !== actual)
    throw new TollgateError('ERUNTIME', `${path} answers as ${actual}, not ${kind}`, 'runtime');
  return kind ? probe : new DockerApiRuntime(actual, path);
}

/** The runtime to follow, or null for none. */
export async function openRuntime(choice: string, socket?: string): Promise<ContainerRuntime | null> {
  if (!(RUNTIME_CHOICES as readonly string[]).includes(choice))
    throw new TollgateError('EBADARG', `unknown runtime "${choice}" (${RUNTIME_CHOICES.join(', ')})`, 'runtime');
  if (choice === 'none') return null;
  if (choice !== 'auto') {
    const kind = choice as RuntimeKind;
    const path = socket ?? DEFAULT_SOCKETS[kind].find((p) => existsSync(p)) ?? DEFAULT_SOCKETS[kind][0]!;
    return open(kind, path);
  }
  if (socket) return open(undefined, socket);
  for (const kind of ['podman', 'docker'] as const) {
    for (const path of DEFAULT_SOCKETS[kind]) {
      try {
        return await open(undefined, path);
      } catch {
        /* try the next one */
      }
    }
  }
  return null;
}

/**
 * Enrolling before the first packet. Runtime events arrive after a container's process
 * started, which would leave it unprotected for a moment; an OCI hook at `createRuntime`
 * runs after the netns exists (eth0 up and addressed) and before the process starts, and
 * a hook that fails fails the start. `agent hook` is that hook: it hands the container's
 * id and pid to the daemon and returns once the daemon has enrolled it (or said it is not
 * its container). podman reads hooks from a hooks directory; dockerd runs them through
 * the wrapper runtime in agent/runtime/oci-wrapper.ts.
 *
 * When the daemon cannot be reached, the hook decides from the state the daemon left in
 * its hook-state file: a container of a protected group (or any new container when new
 * groups start protected) must not start unprotected, so the hook fails the start with a
 * message saying what to run; everything else starts (the daemon enrols it on resync).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import { repoRoot } from '../../shared/repo-root.js';

/** The part of the OCI state (runtime-spec "State") the hook reads on stdin. */
export const ociStateSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{12,64}$/, 'must be a container id'),
  pid: z.number().int().positive(),
  bundle: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type OciState = z.infer<typeof ociStateSchema>;

export function parseOciState(text: string): OciState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new TollgateError('EHOOKSTATE', 'hook stdin is not the OCI state JSON');
  }
  const r = ociStateSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TollgateError('EHOOKSTATE', `OCI state: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

/** What the daemon leaves for a hook that cannot reach it. */
export interface HookState {
  /** Container id → group, for every container the daemon knows. */
  containers: Record<string, string>;
  modes: Record<string, string>;
  defaultMode: string;
}

export function hookStatePath(stateDir: string): string {
  return join(stateDir, 'hook-state.json');
}

export function writeHookState(stateDir: string, s: HookState): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const p = hookStatePath(stateDir);
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
  renameSync(tmp, p);
}

/** The decision of a hook whose daemon is down: null = let it start, else the refusal message. */
export function offlineDecision(stateDir: string, st: OciState, agentName: string): string | null {
  let s: HookState;
  try {
    s = JSON.parse(readFileSync(hookStatePath(stateDir), 'utf8')) as HookState;
  } catch {
    return null; // no daemon ever ran here with this name: nothing to protect yet
  }
  const group = s.containers[st.id] ?? st.annotations?.['tollgate.group'];
  const mode = group ? (s.modes[group] ?? s.defaultMode) : s.defaultMode;
  if (mode !== 'protect') return null;
  return `tollgate agent "${agentName}" is not running and container ${st.id.slice(0, 12)}${group ? ` (group ${group})` : ''} would start unprotected in protect mode; start the agent ("agent run --name ${agentName}") and start the container again`;
}

/** The hook file podman reads from a hooks directory: every container, at createRuntime. */
export function hookConfig(agentName: string, timeoutSeconds = 30): object {
  return {
    version: '1.0.0',
    hook: {
      path: process.execPath,
      args: [process.execPath, join(repoRoot(), 'bin', 'agent.js'), 'hook', '--name', agentName],
      timeout: timeoutSeconds,
    },
    when: { always: true },
    stages: ['createRuntime'],
  };
}

export function hookFileName(agentName: string): string {
  return `tollgate-${agentName}.json`;
}

export function installHook(dir: string, agentName: string): string {
  try {
    mkdirSync(dir, { recursive: true });
    const p = join(dir, hookFileName(agentName));
    writeFileSync(`${p}.tmp`, `${JSON.stringify(hookConfig(agentName), null, 2)}\n`);
    renameSync(`${p}.tmp`, p);
    return p;
  } catch (e) {
    throw new TollgateError('EHOOKDIR', `cannot install the OCI hook in ${dir}: ${errorMessage(e)}`, 'hooks-dir');
  }
}

export function removeHook(dir: string, agentName: string): void {
  rmSync(join(dir, hookFileName(agentName)), { force: true });
}

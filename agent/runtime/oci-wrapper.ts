/**
 * dockerd has no hooks directory, so for dockerd the hook rides in through a wrapper
 * runtime: dockerd runs this wrapper in place of runc (`--add-runtime tollgate=PATH
 * --default-runtime tollgate`, or "runtimes" in daemon.json); on `create` it adds the
 * agent's createRuntime hook to the bundle's config.json (before the hooks docker already
 * put there), then runs the real runc with the same arguments. Every other runc command
 * passes through untouched. Restarts, including `--restart=always`, go through it too.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import { repoRoot } from '../../shared/repo-root.js';
import { hookConfig } from './oci-hook.js';

interface OciSpec {
  hooks?: Record<string, unknown[]>;
  [k: string]: unknown;
}

/** The bundle directory of a `runc … create --bundle B …` command line, or null for other commands. */
export function bundleOfCreate(args: readonly string[]): string | null {
  const create = args.indexOf('create');
  if (create < 0) return null;
  for (let i = create + 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--bundle' || a === '-b') return args[i + 1] ?? null;
    if (a.startsWith('--bundle=')) return a.slice('--bundle='.length);
  }
  return process.cwd();
}

/** config.json with the agent's createRuntime hook first (idempotent). */
export function withHook(spec: OciSpec, agentName: string): OciSpec {
  const hook = (hookConfig(agentName) as { hook: { path: string; args: string[]; timeout: number } }).hook;
  const hooks = { ...(spec.hooks ?? {}) };
  const existing = (hooks.createRuntime ?? []).filter((h) => JSON.stringify(h) !== JSON.stringify(hook));
  hooks.createRuntime = [hook, ...existing];
  return { ...spec, hooks };
}

/** Runs the wrapper: argv = --name N --runc PATH -- <runc arguments>. Returns runc's exit code. */
export function runWrapper(argv: readonly string[]): number {
  const sep = argv.indexOf('--');
  const own = argv.slice(0, sep < 0 ? argv.length : sep);
  const rest = sep < 0 ? [] : argv.slice(sep + 1);
  const name = own[own.indexOf('--name') + 1];
  const runc = own.includes('--runc') ? own[own.indexOf('--runc') + 1]! : '/usr/sbin/runc';
  if (!name || own.indexOf('--name') < 0) throw new TollgateError('EBADARG', 'oci wrapper: --name is required');
  const bundle = bundleOfCreate(rest);
  if (bundle) {
    const path = join(bundle, 'config.json');
    try {
      const spec = JSON.parse(readFileSync(path, 'utf8')) as OciSpec;
      writeFileSync(`${path}.tollgate.tmp`, JSON.stringify(withHook(spec, name)));
      renameSync(`${path}.tollgate.tmp`, path);
    } catch (e) {
      // Without the hook the container would start unseen: fail the create (fail closed).
      process.stderr.write(`tollgate oci wrapper: cannot add the hook to ${path}: ${errorMessage(e)}\n`);
      return 1;
    }
  }
  const r = spawnSync(runc, rest, { stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`tollgate oci wrapper: cannot run ${runc}: ${r.error.message}\n`);
    return 1;
  }
  return r.status ?? 1;
}

/** Writes the wrapper script dockerd runs (`--add-runtime tollgate=PATH`). */
export function installWrapper(path: string, agentName: string, runc = '/usr/sbin/runc'): void {
  const main = join(repoRoot(), 'dist', 'agent', 'runtime', 'oci-wrapper-main.js');
  const text = `#!/bin/sh\n# Tollgate: runc with the agent's createRuntime hook (agent run --oci-wrapper).\nexec '${process.execPath}' '${main}' --name '${agentName}' --runc '${runc}' -- "$@"\n`;
  try {
    writeFileSync(`${path}.tmp`, text);
    chmodSync(`${path}.tmp`, 0o755);
    renameSync(`${path}.tmp`, path);
  } catch (e) {
    throw new TollgateError(
      'EWRAPPER',
      `cannot write the OCI wrapper runtime ${path}: ${errorMessage(e)}`,
      'oci-wrapper',
    );
  }
}

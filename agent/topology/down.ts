import { existsSync, readFileSync } from 'node:fs';
import { TollgateError } from '../../shared/errors.js';
import { findPortHome } from './port-home.js';
import { restorePort } from './restore.js';
import { isLabPort } from './reconcile.js';
import { readLabState } from './lab-state.js';
import type { PortMarker } from './port-marker.js';
import { run } from '../../shared/exec.js';
import type { Command } from './commands.js';
import { listNamespaces, readLinks } from './ip-state.js';
import { portsIn } from './lab-state.js';
import { netnsPath, pinDirFor } from './names.js';
import { labNamespaces, type LabSpec } from './spec.js';

/**
 * `agent down`: everything the lab made and nothing else: processes running in its
 * namespaces, its namespaces (their links, qdiscs and filters go with them) and its BPF
 * pin directory. "Its namespaces" are the host side, the enforcer, the spec's workloads
 * and workloads no longer in the spec whose port in the enforcer still names them; a
 * namespace that merely shares the prefix is never touched.
 */
export async function labOwnedNamespaces(spec: LabSpec): Promise<string[]> {
  const ns = labNamespaces(spec);
  const all = new Set(await listNamespaces());
  const owned = new Set([ns.host, ns.agent, ...spec.workloads.map((w) => ns.workload(w.name))]);
  if (all.has(ns.agent)) {
    for (const p of portsIn(await readLinks(ns.agent)).values()) if (p.marker) owned.add(ns.workload(p.label));
  }
  return [...owned].filter((n) => all.has(n)).sort();
}

export async function planDown(spec: LabSpec): Promise<Command[]> {
  const names = await labOwnedNamespaces(spec);
  const cmds: Command[] = names.map((n) => ({ argv: ['ip', 'netns', 'del', n], bestEffort: true }));
  const pin = pinDirFor(labNamespaces(spec).agent);
  if (existsSync(pin)) cmds.push({ argv: ['rm', '-rf', pin] });
  return cmds;
}

/** PIDs of processes whose network namespace is `ns`. */
async function pidsIn(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { allowFail: true });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((p) => p > 1 && p !== process.pid);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** The dp the agent started: `dp` (bin/dp.js) with the lab's control socket. */
function isOurDp(pid: number): boolean {
  return (
    /(^|\/)dp(\.js)?( |$)/.test(commandOf(pid).split(' ').slice(0, 3).join(' ')) ||
    commandOf(pid).includes('/bin/dp.js')
  );
}

export interface DownOptions {
  /**
   * 'ours' (the CLI): stop only the dp the agent started, and refuse when a lab namespace
   * holds processes the agent did not start. 'all' (test fixtures and the demo, which
   * started every process in their labs themselves): stop everything in the lab's namespaces.
   */
  processes?: 'ours' | 'all';
}

export interface DownResult {
  namespaces: string[];
  killed: number[];
  /** Ports of pulled namespaces and containers put back into their own namespaces. */
  restored: string[];
}

/**
 * Ports in the enforcer that a lab did not build (`isLab` false; pulled namespaces and
 * containers): restored into their own namespaces, never deleted with the enforcer.
 */
async function restoreForeignPorts(
  agentNs: string,
  isLab: (label: string, m: PortMarker | null) => boolean,
): Promise<string[]> {
  if (!(await listNamespaces()).includes(agentNs)) return [];
  const restored: string[] = [];
  for (const [label, p] of portsIn(await readLinks(agentNs))) {
    if (!p.vex || isLab(label, p.marker)) continue;
    const home = p.vin ? await findPortHome(netnsPath(agentNs), p.vin, p.vex.address ?? '') : null;
    if (home) {
      await restorePort({ ns: home, agentNs });
      restored.push(label);
    }
    // Without a home (the workload's namespace is gone) the port cuts nobody off: it goes with the enforcer.
  }
  return restored;
}

/** Refuses (changing nothing) when `names` run processes other than the dp in `agentNs`. */
async function refuseForeignProcesses(names: readonly string[], agentNs: string): Promise<void> {
  const foreign: string[] = [];
  for (const n of names)
    for (const pid of await pidsIn(n))
      if (!(n === agentNs && isOurDp(pid))) foreign.push(`${n}: pid ${pid} (${commandOf(pid).slice(0, 60) || '?'})`);
  if (foreign.length)
    throw new TollgateError(
      'EBUSY',
      `refusing to remove namespaces that run processes the agent did not start: ${foreign.join('; ')}. Stop them first, then run "agent down" again (nothing was changed)`,
    );
}

async function stopAndDelete(names: readonly string[], pinDir: string): Promise<number[]> {
  const killed: number[] = [];
  for (const n of names)
    for (const pid of await pidsIn(n)) {
      try {
        process.kill(pid, 'SIGTERM');
        killed.push(pid);
      } catch {
        /* already gone */
      }
    }
  if (killed.length) {
    await new Promise((r) => setTimeout(r, 300)); // a grace period for dp/agent to exit cleanly
    for (const n of names)
      for (const pid of await pidsIn(n)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
  }
  for (const n of names) await run(['ip', 'netns', 'del', n], { allowFail: true });
  if (existsSync(pinDir)) await run(['rm', '-rf', pinDir]);
  return killed;
}

/**
 * `agent down --name N` of an agent without a lab: every pulled port and container back
 * in its own namespace, the dp stopped, the enforcer namespace and its pins removed.
 */
export async function downEnforcer(agentNs: string): Promise<DownResult> {
  const exists = (await listNamespaces()).includes(agentNs);
  if (!exists) return { namespaces: [], killed: [], restored: [] };
  await refuseForeignProcesses([agentNs], agentNs);
  const restored = await restoreForeignPorts(agentNs, () => false);
  const killed = await stopAndDelete([agentNs], pinDirFor(agentNs));
  return { namespaces: [agentNs], killed, restored };
}

export async function downLab(spec: LabSpec, o: DownOptions = {}): Promise<DownResult> {
  const names = await labOwnedNamespaces(spec);
  const agentNs = labNamespaces(spec).agent;
  if ((o.processes ?? 'all') === 'ours') await refuseForeignProcesses(names, agentNs);
  const state = await readLabState(spec);
  const restored = await restoreForeignPorts(agentNs, (label, m) => isLabPort(spec, state, label, m));
  const killed = await stopAndDelete(names, pinDirFor(agentNs));
  return { namespaces: names, killed, restored };
}

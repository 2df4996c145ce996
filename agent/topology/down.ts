import { existsSync } from 'node:fs';
import { run } from '../../shared/exec.js';
import type { Command } from './commands.js';
import { listNamespaces, readLinks } from './ip-state.js';
import { portsIn } from './lab-state.js';
import { pinDirFor } from './names.js';
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
  return r.stdout.split('\n').filter(Boolean).map(Number).filter((p) => p > 1 && p !== process.pid);
}

export async function downLab(spec: LabSpec): Promise<{ namespaces: string[]; killed: number[] }> {
  const names = await labOwnedNamespaces(spec);
  const killed: number[] = [];
  for (const n of names) for (const pid of await pidsIn(n)) {
    try {
      process.kill(pid, 'SIGTERM');
      killed.push(pid);
    } catch { /* already gone */ }
  }
  if (killed.length) {
    await new Promise((r) => setTimeout(r, 300)); // a grace period for dp/agent to exit cleanly
    for (const n of names) for (const pid of await pidsIn(n)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  for (const c of await planDown(spec)) await run(c.argv, { allowFail: c.bestEffort === true });
  return { namespaces: names, killed };
}

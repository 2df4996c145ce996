import { readLabState, portsIn, workloadProblem } from './lab-state.js';
import { readLinks } from './ip-state.js';
import { pinDirFor } from './names.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import { labNamespaces, type LabSpec } from './spec.js';
import { existsSync } from 'node:fs';

/** `agent status`: what exists, per namespace and per workload. */
export interface LinkStatus {
  ifname: string;
  ifindex: number;
  mac?: string;
  state: string;
  up: boolean;
  kind?: string;
  master?: string;
  mtu: number;
}

export interface WorkloadStatus {
  name: string;
  namespace: string;
  specMode: string;
  /** Mode and steering recorded on the port (null when not pulled). */
  mode: string | null;
  steering: string | null;
  vexIfindex?: number;
  vinIfindex?: number;
  ucMac?: string;
  healthy: boolean;
  problem?: string;
}

export interface LabStatus {
  prefix: string;
  namespaces: Array<{ name: string; role: string; links: LinkStatus[] }>;
  workloads: WorkloadStatus[];
  /** Ports in agent-ns that are not in the spec (e.g. pulled with `agent pull`). */
  otherPorts: string[];
  pinDir: { path: string; exists: boolean };
}

export async function labStatus(spec: LabSpec): Promise<LabStatus> {
  const ns = labNamespaces(spec);
  const state = await readLabState(spec);
  const roleOf = (n: string) =>
    n === ns.host
      ? 'host'
      : n === ns.agent
        ? 'agent'
        : spec.workloads.some((w) => ns.workload(w.name) === n)
          ? 'workload'
          : 'other';
  const namespaces = [];
  for (const name of state.namespaces) {
    const links = (await readLinks(name).catch(() => [])).map((l) => {
      const s: LinkStatus = {
        ifname: l.ifname,
        ifindex: l.ifindex,
        state: l.operstate,
        up: l.flags.includes('UP'),
        mtu: l.mtu,
      };
      if (l.address) s.mac = l.address;
      if (l.linkinfo?.info_kind) s.kind = l.linkinfo.info_kind;
      if (l.master) s.master = l.master;
      return s;
    });
    namespaces.push({ name, role: roleOf(name), links });
  }
  const ports = portsIn(state.agent.links);
  const workloads = spec.workloads.map((w) => {
    const p = ports.get(w.name);
    const problem = workloadProblem(w, state);
    const s: WorkloadStatus = {
      name: w.name,
      namespace: ns.workload(w.name),
      specMode: w.mode,
      mode: p?.marker?.mode ?? null,
      steering: p?.marker?.steering ?? null,
      healthy: problem === null,
    };
    if (problem) s.problem = problem;
    if (p?.vex) {
      s.vexIfindex = p.vex.ifindex;
      s.ucMac = ucmacForIfindex(p.vex.ifindex);
    }
    if (p?.vin) s.vinIfindex = p.vin.ifindex;
    return s;
  });
  const pin = pinDirFor(ns.agent);
  return {
    prefix: spec.prefix,
    namespaces,
    workloads,
    otherPorts: [...ports.keys()].filter((l) => !spec.workloads.some((w) => w.name === l)),
    pinDir: { path: pin, exists: existsSync(pin) },
  };
}

export function formatStatus(s: LabStatus): string[] {
  const out: string[] = [];
  if (!s.namespaces.length) out.push(`no namespaces with prefix ${s.prefix}`);
  for (const n of s.namespaces) {
    out.push(`${n.name} (${n.role})`);
    for (const l of n.links)
      out.push(
        `  ${String(l.ifindex).padStart(8)} ${l.ifname.padEnd(15)} ${(l.mac ?? '').padEnd(17)} ${l.state.padEnd(8)} mtu ${l.mtu}${l.kind ? ` ${l.kind}` : ''}${l.master ? ` master ${l.master}` : ''}`,
      );
  }
  out.push('workloads:');
  for (const w of s.workloads)
    out.push(
      `  ${w.name.padEnd(11)} ${w.healthy ? 'ok' : `BROKEN (${w.problem})`} mode=${w.mode ?? '-'} (spec ${w.specMode}) steering=${w.steering ?? '-'}${w.ucMac ? ` ucmac=${w.ucMac}` : ''}`,
    );
  if (s.otherPorts.length) out.push(`other ports in agent-ns: ${s.otherPorts.join(', ')}`);
  out.push(`bpf pins: ${s.pinDir.path} ${s.pinDir.exists ? 'present' : 'absent'}`);
  return out;
}

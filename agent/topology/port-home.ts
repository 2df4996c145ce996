/**
 * Where the workload side of a pulled port lives. A port remembers its owner in the vex
 * marker but not its namespace (a container's netns has no name, only /proc/PID/ns/net),
 * so the namespace is found by looking for the eth0 whose veth peer is the port's vin and
 * whose MAC is the workload's: in every named namespace and every process's namespace.
 */
import { readdirSync, statSync } from 'node:fs';
import { readLinks, type IpLink } from './ip-state.js';

/** One path per distinct network namespace: /run/netns names first, then /proc/PID/ns/net. */
export function networkNamespacePaths(): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  const add = (p: string) => {
    try {
      const ino = statSync(p).ino;
      if (seen.has(ino)) return;
      seen.add(ino);
      out.push(p);
    } catch {
      /* gone meanwhile */
    }
  };
  try {
    for (const n of readdirSync('/run/netns')) add(`/run/netns/${n}`);
  } catch {
    /* no named namespaces */
  }
  add('/proc/1/ns/net');
  for (const d of readdirSync('/proc')) if (/^\d+$/.test(d)) add(`/proc/${d}/ns/net`);
  return out;
}

/** The namespace path holding the workload end of `vin` (a veth with the workload's MAC), or null. */
export async function findPortHome(agentNsPath: string, vin: IpLink, workloadMac: string): Promise<string | null> {
  const agentIno = statSync(agentNsPath).ino;
  for (const p of networkNamespacePaths()) {
    try {
      if (statSync(p).ino === agentIno) continue;
      const links = await readLinks(p);
      if (links.some((l) => l.link_index === vin.ifindex && l.address === workloadMac && l.link_netnsid !== undefined))
        return p;
    } catch {
      /* a namespace that went away while we looked */
    }
  }
  return null;
}

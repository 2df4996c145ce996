/**
 * The node's enforcer namespace as a daemon finds or makes it at start: the namespace and
 * its steered vbr/vth pair, the lab workloads already wired into it, the internal
 * (east-west) nets, and a dp that a killed agent left running there.
 */
import ipaddr from 'ipaddr.js';
import { labNamespaces, type LabSpec, type Mode } from '../topology/spec.js';
import { isLabPort } from '../topology/reconcile.js';
import { readLabState } from '../topology/lab-state.js';
import type { Logger } from '../../shared/log.js';
import type { Enroller } from './enrol.js';
import type { DaemonOptions } from './options.js';
import { dpCommand } from '../../shared/repo-root.js';
import { fastPathDpArgs } from '../steering/bpf-flows.js';
import { servicePair } from '../topology/steering-bridge.js';
import { netnsPath, VBR, VBR_IFINDEX, vexName, vinName } from '../topology/names.js';
import { planCreateNamespace, planServicePair, serviceMtu } from '../topology/agent-ns.js';
import { execute } from '../topology/commands.js';
import { listNamespaces, readLinks } from '../topology/ip-state.js';
import type { SteeringBackend } from '../steering/index.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { run } from '../../shared/exec.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import { netnsInode } from './container-port.js';
import type { WorkloadRegistry } from './workloads.js';

/** Without a lab: the enforcer namespace and its vbr/vth pair, steered. */
export async function ensureEnforcer(agentNs: string, backend: SteeringBackend | null): Promise<void> {
  const exists = (await listNamespaces()).includes(agentNs);
  const links = exists ? await readLinks(agentNs) : [];
  await execute([
    ...(exists ? [] : planCreateNamespace(agentNs, true)),
    ...planServicePair(agentNs, links, serviceMtu([1500])),
  ]);
  if (backend) {
    const vbr = (await readLinks(agentNs)).find((l) => l.ifname === VBR);
    await backend.applyPlan(agentNs, await backend.planService(servicePair(agentNs, vbr?.ifindex ?? VBR_IFINDEX)));
  }
}

/** The lab's workloads whose ports exist, into the registry (group = workload name). */
export async function registerLabWorkloads(spec: LabSpec, agentNs: string, registry: WorkloadRegistry): Promise<void> {
  const links = await readLinks(agentNs);
  const ns = labNamespaces(spec);
  for (const w of spec.workloads) {
    const vex = links.find((l) => l.ifname === vexName(w.name));
    const vin = links.find((l) => l.ifname === vinName(w.name));
    if (!vex || !vin) continue;
    const path = netnsPath(ns.workload(w.name));
    registry.set({
      key: w.name,
      name: w.name,
      source: 'lab',
      group: w.name,
      ip: w.address,
      ips: [w.address],
      mac: w.mac,
      netns: path,
      netnsInode: netnsInode(path),
      vexIfindex: vex.ifindex,
      vinIfindex: vin.ifindex,
      ucmac: ucmacForIfindex(vex.ifindex),
      since: new Date().toISOString(),
      reason: 'lab',
    });
  }
}

/** Internal (east-west) nets: the spec's subnets, the runtime's networks, and --internal-net. */
export async function internalNetsOf(
  spec: LabSpec | undefined,
  runtime: ContainerRuntime | null | undefined,
  flags: readonly string[],
): Promise<string[]> {
  const out = new Set<string>(flags);
  const net = (cidr: string) => {
    try {
      const [a, bits] = ipaddr.parseCIDR(cidr);
      if (a.kind() === 'ipv4') out.add(`${ipaddr.IPv4.networkAddressFromCIDR(cidr).toString()}/${bits}`);
    } catch {
      /* not a CIDR */
    }
  };
  if (spec) {
    net(spec.hostSide.address);
    for (const w of spec.workloads) net(w.ip);
  }
  if (runtime) for (const s of await runtime.subnets().catch(() => [])) net(s.cidr);
  return [...out].sort();
}

/** A dp left running by an agent that was killed would hold the service port: stop it first. */
export async function killStaleDp(agentNs: string): Promise<void> {
  const r = await run(['ip', 'netns', 'pids', agentNs], { allowFail: true });
  for (const pid of r.stdout.split('\n').filter(Boolean).map(Number)) {
    if (pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/**
 * Ports already in the enforcer when the daemon starts (it was restarted, or `agent pull`
 * made them): adopted and steered in their group's mode when their workload lives, swept
 * when it does not. Lab ports belong to the lab's reconcile, not to adoption.
 */
export async function adoptPorts(x: {
  enroller: Enroller;
  runtime: ContainerRuntime | null | undefined;
  spec: LabSpec | undefined;
  modeOf(group: string): Mode;
  log: Logger;
}): Promise<void> {
  const running = x.runtime ? await x.runtime.list().catch(() => null) : null;
  const alive = (id: string, inode: number): boolean | undefined => {
    if (!running) return undefined;
    const c = running.find((r) => r.id === id);
    if (!c) return false;
    try {
      return netnsInode(`/proc/${c.pid}/ns/net`) === inode;
    } catch {
      return false;
    }
  };
  const spec = x.spec;
  const labState = spec ? await readLabState(spec) : undefined;
  const adopted = await x.enroller.adopt(alive, (label, m) =>
    spec && labState ? isLabPort(spec, labState, label, m) : false,
  );
  for (const w of adopted) {
    await x.enroller.steering.steer(w, x.modeOf(w.group));
    x.log.info({ workload: w.name, port: w.key, group: w.group, container: w.containerId?.slice(0, 12) }, 'adopted');
  }
}

/** `ip netns exec <agent-ns> dp …`, with this checkout's dp rather than whichever is on PATH. */
export async function dpArgv(
  agentNs: string,
  ctrlPath: string,
  eventsEndpoint: string,
  backend: SteeringBackend | null,
  o: Pick<DaemonOptions, 'reportInterval' | 'fastPath' | 'dpArgs'>,
): Promise<string[]> {
  return [
    ...['ip', 'netns', 'exec', agentNs, ...dpCommand(), '-n', '1', '--ctrl', ctrlPath, '--events', eventsEndpoint],
    ...['--report-interval', String(o.reportInterval ?? 2)],
    ...(await fastPathDpArgs(backend, o.fastPath !== false)),
    ...(o.dpArgs ?? []),
  ];
}

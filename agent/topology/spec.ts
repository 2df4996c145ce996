import { readFile } from 'node:fs/promises';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TollgateError } from '../../shared/errors.js';
import { isMac } from '../../shared/mac.js';
import { DEFAULT_LAB } from './default-lab.js';

/**
 * The lab spec: which namespaces, workloads and steering `agent up` should make real.
 * Everything is validated here, before any command runs, and every rejection names the
 * field path (`workloads[1].mac: ...`), so a bad spec never leaves a half-built lab.
 */

/**
 * The benchmarking range (RFC 2544) the project's own tests, demo and benchmarks keep to.
 * A user's lab spec may use any unicast IPv4 network.
 */
export const LAB_RANGE = '198.18.0.0/15';

const WORKLOAD_NAME = /^[a-z][a-z0-9]{0,10}$/;
const NS_LABEL = /^[a-z][a-z0-9-]{0,15}$/;

const workloadSchema = z.strictObject({
  name: z.string().regex(WORKLOAD_NAME, 'must match ^[a-z][a-z0-9]{0,10}$ (vex-<name> must fit in 15 characters)'),
  ip: z.string(),
  mac: z.string(),
  mode: z.enum(['learn', 'monitor', 'protect']).default('learn'),
  gateway: z.string().optional(),
  mtu: z.number().int().min(576).max(9000).default(1500),
});

const labSchema = z.strictObject({
  prefix: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,24}$/, 'must be 1-24 characters of [a-zA-Z0-9_.-]')
    .default(DEFAULT_LAB.prefix),
  hostSide: z
    .strictObject({
      name: z.string().regex(NS_LABEL, 'must match ^[a-z][a-z0-9-]{0,15}$').default(DEFAULT_LAB.hostSide.name),
      address: z.string().default(DEFAULT_LAB.hostSide.address),
    })
    .prefault({}),
  agentNs: z.string().regex(NS_LABEL, 'must match ^[a-z][a-z0-9-]{0,15}$').default(DEFAULT_LAB.agentNs),
  workloads: z.array(workloadSchema).default([]),
  steering: z.enum(['u32', 'bpf', 'auto', 'none']).default('auto'),
});

export type Mode = 'learn' | 'monitor' | 'protect';
export type SteeringChoice = 'u32' | 'bpf' | 'auto' | 'none';

export interface WorkloadSpec {
  name: string;
  /** CIDR as written, e.g. 198.18.0.10/24. */
  ip: string;
  address: string;
  prefixLength: number;
  mac: string;
  mode: Mode;
  gateway?: string;
  mtu: number;
}

export interface LabSpec {
  prefix: string;
  hostSide: { name: string; address: string; ip: string; prefixLength: number };
  agentNs: string;
  workloads: WorkloadSpec[];
  steering: SteeringChoice;
}

/** Namespace names of a lab, all under its prefix. */
export interface LabNamespaces {
  host: string;
  agent: string;
  workload(name: string): string;
}

export function labNamespaces(spec: Pick<LabSpec, 'prefix' | 'hostSide' | 'agentNs'>): LabNamespaces {
  return {
    host: spec.prefix + spec.hostSide.name,
    agent: spec.prefix + spec.agentNs,
    workload: (name) => spec.prefix + name,
  };
}

function pathText(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s || '(spec)';
}

type Issue = { path: string; message: string };

/** A host CIDR inside the lab range; returns [address, prefix] or records an issue. */
function checkCidr(text: string, path: string, issues: Issue[]): [string, number] | null {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let len: number;
  try {
    [addr, len] = ipaddr.parseCIDR(text);
  } catch {
    issues.push({ path, message: `invalid CIDR "${text}" (expected e.g. 198.18.0.10/24)` });
    return null;
  }
  if (addr.kind() !== 'ipv4') {
    issues.push({ path, message: `"${text}" is not IPv4` });
    return null;
  }
  const range = addr.range();
  if (
    range !== 'unicast' &&
    range !== 'private' &&
    range !== 'benchmarking' &&
    range !== 'carrierGradeNat' &&
    range !== 'reserved'
  ) {
    issues.push({ path, message: `address ${addr.toString()} is not a unicast host address (${range})` });
    return null;
  }
  if (len < 15 || len > 30) {
    issues.push({ path, message: `prefix length /${len} must be between /15 and /30` });
    return null;
  }
  const net = ipaddr.IPv4.networkAddressFromCIDR(text).toString();
  const bcast = ipaddr.IPv4.broadcastAddressFromCIDR(text).toString();
  if (addr.toString() === net || addr.toString() === bcast) {
    issues.push({ path, message: `${addr.toString()} is the network or broadcast address of /${len}` });
    return null;
  }
  return [addr.toString(), len];
}

function checkMac(mac: string, path: string, issues: Issue[]): string | null {
  if (!isMac(mac)) {
    issues.push({ path, message: `invalid MAC "${mac}"` });
    return null;
  }
  const m = mac.toLowerCase();
  const first = parseInt(m.slice(0, 2), 16);
  if (first & 1) issues.push({ path, message: `MAC ${m} is multicast/broadcast` });
  else if (m === '00:00:00:00:00:00') issues.push({ path, message: 'MAC 00:00:00:00:00:00 is not usable' });
  // 4e:65:75:56 ("NeuV") is the steering MAC prefix; a workload with it would be mis-steered.
  else if (m.startsWith('4e:65:75:56'))
    issues.push({ path, message: `MAC ${m} uses the reserved steering prefix 4e:65:75:56` });
  else return m;
  return null;
}

function inSubnet(ip: string, cidr: string): boolean {
  try {
    return ipaddr.parse(ip).match(ipaddr.parseCIDR(cidr));
  } catch {
    return false;
  }
}

/** Validates a parsed spec object (from YAML/JSON or code). Throws ESPEC naming the field. */
export function parseLabSpec(input: unknown): LabSpec {
  const parsed = labSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: pathText(i.path), message: i.message }));
    throw specError(issues);
  }
  const raw = parsed.data;
  const issues: Issue[] = [];
  const host = checkCidr(raw.hostSide.address, 'hostSide.address', issues);
  if (raw.hostSide.name === raw.agentNs)
    issues.push({ path: 'agentNs', message: `same as hostSide.name "${raw.agentNs}"` });

  const names = new Map<string, number>();
  const ips = new Map<string, string>();
  const macs = new Map<string, number>();
  if (host) ips.set(host[0], 'hostSide.address');
  const workloads: WorkloadSpec[] = [];
  raw.workloads.forEach((w, i) => {
    const at = `workloads[${i}]`;
    const prev = names.get(w.name);
    if (prev !== undefined)
      issues.push({ path: `${at}.name`, message: `duplicate workload name "${w.name}" (also workloads[${prev}])` });
    else names.set(w.name, i);
    if (w.name === raw.hostSide.name || w.name === raw.agentNs)
      issues.push({ path: `${at}.name`, message: `"${w.name}" collides with the host-side or agent namespace name` });
    const cidr = checkCidr(w.ip, `${at}.ip`, issues);
    if (cidr) {
      const owner = ips.get(cidr[0]);
      if (owner) issues.push({ path: `${at}.ip`, message: `duplicate address ${cidr[0]} (also ${owner})` });
      else ips.set(cidr[0], `${at}.ip`);
    }
    const mac = checkMac(w.mac, `${at}.mac`, issues);
    if (mac) {
      const m = macs.get(mac);
      if (m !== undefined) issues.push({ path: `${at}.mac`, message: `duplicate MAC ${mac} (also workloads[${m}])` });
      else macs.set(mac, i);
    }
    let gateway = w.gateway;
    if (gateway !== undefined) {
      if (!ipaddr.IPv4.isValidFourPartDecimal(gateway))
        issues.push({ path: `${at}.gateway`, message: `invalid IPv4 address "${gateway}"` });
      else if (cidr && !inSubnet(gateway, w.ip))
        issues.push({ path: `${at}.gateway`, message: `${gateway} is not in ${w.ip}` });
    } else if (host && cidr && inSubnet(host[0], w.ip)) {
      gateway = host[0]; // the bridge address is the natural default gateway, as with a CNI bridge
    }
    if (cidr && mac) {
      const ws: WorkloadSpec = {
        name: w.name,
        ip: w.ip,
        address: cidr[0],
        prefixLength: cidr[1],
        mac,
        mode: w.mode,
        mtu: w.mtu,
      };
      if (gateway !== undefined) ws.gateway = gateway;
      workloads.push(ws);
    }
  });
  if (issues.length || !host) throw specError(issues);
  return {
    prefix: raw.prefix,
    hostSide: { name: raw.hostSide.name, address: raw.hostSide.address, ip: host[0], prefixLength: host[1] },
    agentNs: raw.agentNs,
    workloads,
    steering: raw.steering,
  };
}

function specError(issues: Issue[]): TollgateError {
  const first = issues[0] ?? { path: '(spec)', message: 'invalid spec' };
  const rest = issues
    .slice(1)
    .map((i) => `; ${i.path}: ${i.message}`)
    .join('');
  return new TollgateError('ESPEC', `${first.message}${rest}`, first.path);
}

/** Parses YAML or JSON text (JSON is YAML). */
export function parseLabSpecText(text: string, source = 'spec'): LabSpec {
  let obj: unknown;
  try {
    obj = parseYaml(text);
  } catch (e) {
    throw new TollgateError('ESPEC', `${source}: not valid YAML/JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseLabSpec(obj);
}

/** Loads a spec file, or the embedded default lab when no path is given. */
export async function loadLabSpec(path?: string): Promise<LabSpec> {
  if (!path) return parseLabSpec(structuredClone(DEFAULT_LAB));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new TollgateError('ESPEC', `cannot read spec file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseLabSpecText(text, path);
}

/** The named workload of a spec; ENOWORKLOAD naming the field when absent. */
export function requireWorkload(spec: LabSpec, name: string, field = 'workload'): WorkloadSpec {
  const w = spec.workloads.find((x) => x.name === name);
  if (!w) {
    const known = spec.workloads.map((x) => x.name).join(', ') || 'none';
    throw new TollgateError('ENOWORKLOAD', `unknown workload "${name}" (known: ${known})`, field);
  }
  return w;
}

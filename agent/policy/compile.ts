/**
 * Turns the agent's group rules into NeuVector-shaped ctrl_cfg_policy messages, one policy
 * per workload, compiled to the current addresses of the groups' members: ingress rules
 * where the workload's group is the server, egress rules where it is the client, the mode's default action, chunked START..END so no datagram exceeds 8120 bytes
 * (NeuVector's agent cap, under the dp's 8192).
 */
import ipaddr from 'ipaddr.js';
import { MSG_END, MSG_START } from '../../shared/ctrl/flags.js';
import type { CtrlRequest, WireRule } from '../../shared/ctrl/schemas.js';
import { MODES, PolicyAction, PolicyDir, type WorkloadMode } from '../../shared/policy-actions.js';
import { type AllowRule, appliesAt, PROTO_NUMBERS } from '../learn/rule.js';

export interface WorkloadView {
  /** Port label (a lab workload's name, a container's port label). */
  name: string;
  /** Policy group; rules name groups. A lab workload is its own group. */
  group: string;
  /** Main IPv4 address without prefix length ('' when it has none). */
  ip: string;
  /** Every address of the workload (IPv4 and IPv6) that rules resolve to. */
  ips?: readonly string[];
  mac: string;
  mode: WorkloadMode;
}

export const MAX_CTRL_JSON = 8120;

interface Range {
  lo: string;
  hi: string;
  v6: boolean;
}

function addressesOf(w: WorkloadView): string[] {
  return [...new Set([w.ip, ...(w.ips ?? [])].filter(Boolean))];
}

function single(ip: string): Range {
  return { lo: ip, hi: ip, v6: ip.includes(':') };
}

/** A CIDR as an address range, or undefined when it is not one. */
export function cidrRange(peer: string): Range | undefined {
  try {
    const [addr, bits] = ipaddr.parseCIDR(peer);
    if (addr.kind() === 'ipv4') {
      const lo = ipaddr.IPv4.networkAddressFromCIDR(peer).toString();
      const hi = ipaddr.IPv4.broadcastAddressFromCIDR(peer).toString();
      return { lo, hi, v6: false };
    }
    const bytes = addr.toByteArray();
    const loB = bytes.map((b, i) => (i * 8 >= bits ? 0 : i * 8 + 8 <= bits ? b : b & (0xff << (8 - (bits - i * 8)))));
    const hiB = loB.map((b, i) => (i * 8 >= bits ? 0xff : i * 8 + 8 <= bits ? b : b | (0xff >> (bits - i * 8))));
    return { lo: ipaddr.fromByteArray(loB).toString(), hi: ipaddr.fromByteArray(hiB).toString(), v6: true };
  } catch {
    return undefined;
  }
}

/**
 * A rule peer (group name or CIDR) as address ranges: every address of every current
 * member of the group, or the CIDR. A group without members resolves to nothing (its
 * rules come back when a member enrols and policies are pushed again).
 */
export function resolvePeer(peer: string, workloads: readonly WorkloadView[]): Range[] {
  const members = workloads.filter((x) => x.group === peer);
  if (members.length) return members.flatMap((m) => addressesOf(m).map(single));
  const r = cidrRange(peer);
  return r ? [r] : [];
}

function wire(id: number, from: Range, to: Range, r: AllowRule, ingress: boolean): WireRule {
  const w: WireRule = {
    id,
    sip: from.lo,
    dip: to.lo,
    port: r.port,
    portr: r.port,
    proto: PROTO_NUMBERS[r.proto],
    action: PolicyAction.ALLOW,
    ingress,
  };
  if (from.hi !== from.lo) w.sipr = from.hi;
  if (to.hi !== to.lo) w.dipr = to.hi;
  if (r.proto === 'icmp' || r.proto === 'icmpv6') {
    w.port = 0;
    w.portr = 65535;
  }
  return w;
}

/**
 * The rules that apply at workload `w`, in rule-id order: ingress rules whose server
 * group is w's (from every client address to w's own), egress rules whose client group
 * is w's (from w's own addresses to every server address), each only where its side
 * says it applies.
 */
export function rulesFor(w: WorkloadView, workloads: readonly WorkloadView[], rules: readonly AllowRule[]): WireRule[] {
  const out: WireRule[] = [];
  const own = addressesOf(w).map(single);
  for (const r of rules) {
    if (r.to === w.group && appliesAt(r, 'ingress')) {
      for (const from of resolvePeer(r.from, workloads))
        for (const to of own) if (from.v6 === to.v6) out.push(wire(r.id, from, to, r, true));
    }
    if (r.from === w.group && appliesAt(r, 'egress')) {
      for (const to of resolvePeer(r.to, workloads))
        for (const from of own) if (from.v6 === to.v6) out.push(wire(r.id, from, to, r, false));
    }
  }
  return out;
}

/** ctrl_cfg_policy datagrams (as objects) for one workload, START..END chunked. */
export function policyMessages(
  w: WorkloadView,
  workloads: readonly WorkloadView[],
  rules: readonly AllowRule[],
): CtrlRequest<'ctrl_cfg_policy'>[] {
  const all = rulesFor(w, workloads, rules);
  const base = {
    cmd: 1 as const,
    defact: MODES[w.mode].defaultAction,
    dir: PolicyDir.EGRESS | PolicyDir.INGRESS,
    mac: [w.mac],
  };
  const chunks: WireRule[][] = [];
  let i = 0;
  while (i < all.length) {
    let n = Math.min(40, all.length - i);
    while (
      n > 1 &&
      JSON.stringify({ ctrl_cfg_policy: { ...base, flag: MSG_START | MSG_END, rules: all.slice(i, i + n) } }).length >
        MAX_CTRL_JSON
    )
      n = Math.floor(n / 2);
    chunks.push(all.slice(i, i + n));
    i += n;
  }
  if (chunks.length === 0) chunks.push([]);
  return chunks.map((rs, k) => ({
    ctrl_cfg_policy: { ...base, flag: (k === 0 ? MSG_START : 0) | (k === chunks.length - 1 ? MSG_END : 0), rules: rs },
  }));
}

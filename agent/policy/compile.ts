/**
 * Turns the agent's rules into NeuVector-shaped ctrl_cfg_policy messages, one policy per
 * workload: ingress rules where the workload is the server, egress rules where it is the
 * client, the mode's default action, chunked START..END so no datagram exceeds 8120 bytes
 * (NeuVector's agent cap, under the dp's 8192).
 */
import ipaddr from 'ipaddr.js';
import { MODES, PolicyDir, type WorkloadMode } from '../../shared/policy-actions.js';
import { type AllowRule, PROTO_NUMBERS } from '../learn/rule.js';

export interface WorkloadView {
  name: string;
  /** Address without prefix length. */
  ip: string;
  mac: string;
  mode: WorkloadMode;
}

export const MAX_CTRL_JSON = 8120;
const MSG_START = 1;
const MSG_END = 2;
const ALLOW = 2;

interface WireRule {
  id: number;
  sip: string;
  sipr?: string;
  dip: string;
  dipr?: string;
  port: number;
  portr: number;
  proto: number;
  action: number;
  ingress: boolean;
}

/** Resolves a rule endpoint (workload name or CIDR) to an address range. */
export function resolvePeer(peer: string, workloads: readonly WorkloadView[]): { lo: string; hi: string } | undefined {
  const w = workloads.find((x) => x.name === peer);
  if (w) return { lo: w.ip, hi: w.ip };
  try {
    const [addr, bits] = ipaddr.parseCIDR(peer);
    if (addr.kind() === 'ipv4') {
      const lo = ipaddr.IPv4.networkAddressFromCIDR(peer).toString();
      const hi = ipaddr.IPv4.broadcastAddressFromCIDR(peer).toString();
      return { lo, hi };
    }
    const bytes = addr.toByteArray();
    const loB = bytes.map((b, i) => (i * 8 >= bits ? 0 : i * 8 + 8 <= bits ? b : b & (0xff << (8 - (bits - i * 8)))));
    const hiB = loB.map((b, i) => (i * 8 >= bits ? 0xff : i * 8 + 8 <= bits ? b : b | (0xff >> (bits - i * 8))));
    return { lo: ipaddr.fromByteArray(loB).toString(), hi: ipaddr.fromByteArray(hiB).toString() };
  } catch {
    return undefined;
  }
}

function wire(id: number, from: { lo: string; hi: string }, to: { lo: string; hi: string }, r: AllowRule, ingress: boolean): WireRule {
  const w: WireRule = { id, sip: from.lo, dip: to.lo, port: r.port, portr: r.port, proto: PROTO_NUMBERS[r.proto], action: ALLOW, ingress };
  if (from.hi !== from.lo) w.sipr = from.hi;
  if (to.hi !== to.lo) w.dipr = to.hi;
  if (r.proto === 'icmp' || r.proto === 'icmpv6') {
    w.port = 0;
    w.portr = 65535;
  }
  return w;
}

/** The rules that apply at workload `w`, in rule-id order. */
export function rulesFor(w: WorkloadView, workloads: readonly WorkloadView[], rules: readonly AllowRule[]): WireRule[] {
  const out: WireRule[] = [];
  for (const r of rules) {
    const from = resolvePeer(r.from, workloads);
    const to = resolvePeer(r.to, workloads);
    if (!from || !to) continue;
    if (r.to === w.name) out.push(wire(r.id, from, to, r, true));
    if (r.from === w.name) out.push(wire(r.id, from, to, r, false));
  }
  return out;
}

/** ctrl_cfg_policy datagrams (as objects) for one workload, START..END chunked. */
export function policyMessages(w: WorkloadView, workloads: readonly WorkloadView[], rules: readonly AllowRule[]): object[] {
  const all = rulesFor(w, workloads, rules);
  const base = { cmd: 1, defact: MODES[w.mode].defaultAction, dir: PolicyDir.EGRESS | PolicyDir.INGRESS, mac: [w.mac] };
  const chunks: WireRule[][] = [];
  let i = 0;
  while (i < all.length) {
    let n = Math.min(40, all.length - i);
    while (n > 1 && JSON.stringify({ ctrl_cfg_policy: { ...base, flag: 3, rules: all.slice(i, i + n) } }).length > MAX_CTRL_JSON) n = Math.floor(n / 2);
    chunks.push(all.slice(i, i + n));
    i += n;
  }
  if (chunks.length === 0) chunks.push([]);
  return chunks.map((rs, k) => ({
    ctrl_cfg_policy: { ...base, flag: (k === 0 ? MSG_START : 0) | (k === chunks.length - 1 ? MSG_END : 0), rules: rs },
  }));
}

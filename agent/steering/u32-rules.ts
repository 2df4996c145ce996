import { parseMac } from '../../shared/mac.js';
import type { ServicePair, SteeredPort, SteeringMode } from './backend.js';

/**
 * NeuVector's u32 + pedit + mirred rule set (agent/pipe/tc.go FwdPortPair/TapPortPair in
 * NeuVector's source; README "Steering backends"), as pure functions producing `tc -batch` lines. All filters sit on the
 * plain ingress qdisc (parent ffff:); u32 and pedit offsets are relative to the L3
 * header, so -14 is the destination MAC and -8 the source MAC.
 *
 * Two additions:
 * - NeuVector bypasses IPv6 (the catch-all takes it); we steer unicast IPv6 too, with the
 *   same L2 matches under `protocol ipv6` at pref 10000, ahead of the catch-all at 10002
 *   (a tc pref holds one protocol, so IPv6 needs its own).
 * - 802.1Q-tagged unicast IP. Live on a stock kernel, NeuVector's `protocol ip` rule never
 *   sees a tagged frame: the receive path moves the tag into the skb's metadata before tc
 *   ingress, and tc then classifies by the tag's protocol (skb_protocol(skb, false) is
 *   802.1Q while a tag is present), so tagged IP fell through to the catch-all and crossed
 *   uninspected. Tagged IPv4 and IPv6 get their own prefs (9999, 9998) under `protocol
 *   802.1Q`. With the tag out of the frame data, the MAC offsets stay -14/-8, and the
 *   inner ethertype sits at -2 (so tagged ARP still takes the catch-all). The tag itself
 *   travels in the metadata through mirred, so vth and the peer see it as sent.
 */
export const PREF_IP = 10001;
export const PREF_IPV6 = 10000;
export const PREF_VLAN_IP = 9999;
export const PREF_VLAN_IPV6 = 9998;
export const PREF_ALL = 10002;

export type UnicastProtocol = 'ip' | 'ipv6' | 'vlan-ip' | 'vlan-ipv6';

/** One unicast rule of a port side: its pref, and where a mode switch puts its successor
 *  while the regular pref is swapped (lower, so evaluated first). */
export interface UnicastSlot {
  protocol: UnicastProtocol;
  pref: number;
  swapPref: number;
}

export const UNICAST_SLOTS: readonly UnicastSlot[] = [
  { protocol: 'ip', pref: PREF_IP, swapPref: 9001 },
  { protocol: 'ipv6', pref: PREF_IPV6, swapPref: 9000 },
  { protocol: 'vlan-ip', pref: PREF_VLAN_IP, swapPref: 8999 },
  { protocol: 'vlan-ipv6', pref: PREF_VLAN_IPV6, swapPref: 8998 },
];

/** The tc `protocol` and any extra match of each kind of unicast rule. */
const PROTOCOL_MATCH: Record<UnicastProtocol, { protocol: string; inner: string }> = {
  ip: { protocol: 'ip', inner: '' },
  ipv6: { protocol: 'ipv6', inner: '' },
  'vlan-ip': { protocol: '802.1Q', inner: ' match u16 0x0800 0xffff at -2' },
  'vlan-ipv6': { protocol: '802.1Q', inner: ' match u16 0x86dd 0xffff at -2' },
};

type Verb = 'add' | 'replace';

/** NeuVector's vbr pref: the port's ifindex mod 65536 (0 is not a usable pref). */
export function vbrPref(ifindex: number): number {
  return ifindex % 65536 || 65535;
}

const hex = (b: Buffer, from: number, len: number): string => `0x${b.subarray(from, from + len).toString('hex')}`;

/** DA == mac: `u16 at -14`, `u32 at -12`. */
function matchDa(mac: string): string {
  const m = parseMac(mac);
  return `match u16 ${hex(m, 0, 2)} 0xffff at -14 match u32 ${hex(m, 2, 4)} 0xffffffff at -12`;
}

/** SA == mac: `u32 at -8`, `u16 at -4`. */
function matchSa(mac: string): string {
  const m = parseMac(mac);
  return `match u32 ${hex(m, 0, 4)} 0xffffffff at -8 match u16 ${hex(m, 4, 2)} 0xffff at -4`;
}

function setDa(mac: string): string {
  const m = parseMac(mac);
  return `action pedit munge offset -14 u16 set ${hex(m, 0, 2)} munge offset -12 u32 set ${hex(m, 2, 4)} pipe`;
}

function setSa(mac: string): string {
  const m = parseMac(mac);
  return `action pedit munge offset -8 u32 set ${hex(m, 0, 4)} munge offset -4 u16 set ${hex(m, 4, 2)} pipe`;
}

const UNICAST = 'match u8 0 1 at -14';
const mirror = (dev: string): string => `action mirred egress mirror dev ${dev}`;

/** The unicast-IP steering rule of vex (role vex: DA match) or vin (SA match). */
export function unicastRule(
  verb: Verb,
  role: 'vex' | 'vin',
  port: SteeredPort,
  pair: ServicePair,
  mode: SteeringMode,
  pref: number,
  kind: UnicastProtocol,
): string {
  const dev = role === 'vex' ? port.vex : port.vin;
  const peer = role === 'vex' ? port.vin : port.vex;
  const match = role === 'vex' ? matchDa(port.wlMac) : matchSa(port.wlMac);
  const rewrite = role === 'vex' ? setDa(port.ucMac) : setSa(port.ucMac);
  const { protocol, inner } = PROTOCOL_MATCH[kind];
  const head = `filter ${verb} dev ${dev} parent ffff: pref ${pref} protocol ${protocol} u32 ${UNICAST} ${match}${inner}`;
  // tap: the unchanged frame goes on to the peer first, then the rewritten copy to vbr.
  const tapFirst = mode === 'tap' ? `${mirror(peer)} pipe ` : '';
  return `${head} ${tapFirst}${rewrite} ${mirror(pair.vbr)}`;
}

/** pref 10002: everything else (ARP, broadcast, multicast, other MACs) to the peer. */
export function catchAllRule(verb: Verb, role: 'vex' | 'vin', port: SteeredPort): string {
  const dev = role === 'vex' ? port.vex : port.vin;
  const peer = role === 'vex' ? port.vin : port.vex;
  return `filter ${verb} dev ${dev} parent ffff: pref ${PREF_ALL} protocol all u32 match u8 0 0 ${mirror(peer)}`;
}

/** vbr rules for frames the dp sent back: restore and forward (inline) or drop (tap). */
export function vbrRules(verb: Verb, port: SteeredPort, pair: ServicePair, mode: SteeringMode): string[] {
  const toWl = `filter ${verb} dev ${pair.vbr} parent ffff: pref ${vbrPref(port.vexIfindex)} protocol all u32 ${matchDa(port.ucMac)}`;
  const toNet = `filter ${verb} dev ${pair.vbr} parent ffff: pref ${vbrPref(port.vinIfindex)} protocol all u32 ${matchSa(port.ucMac)}`;
  if (mode === 'tap') return [`${toWl} action drop`, `${toNet} action drop`];
  return [`${toWl} ${setDa(port.wlMac)} ${mirror(port.vin)}`, `${toNet} ${setSa(port.wlMac)} ${mirror(port.vex)}`];
}

/** The unicast rules of one side at their regular prefs (or, with `swap`, the swap prefs). */
export function unicastRules(
  verb: Verb,
  role: 'vex' | 'vin',
  port: SteeredPort,
  pair: ServicePair,
  mode: SteeringMode,
  swap = false,
): string[] {
  return UNICAST_SLOTS.map((s) => unicastRule(verb, role, port, pair, mode, swap ? s.swapPref : s.pref, s.protocol));
}

/** A fresh port: NeuVector's AttachPortPair (ingress qdiscs) + FwdPortPair/TapPortPair. */
export function attachPortLines(port: SteeredPort, pair: ServicePair, mode: SteeringMode = port.mode): string[] {
  const lines: string[] = [];
  for (const role of ['vin', 'vex'] as const) {
    lines.push(`qdisc add dev ${role === 'vex' ? port.vex : port.vin} ingress`);
  }
  for (const role of ['vex', 'vin'] as const) {
    lines.push(...unicastRules('add', role, port, pair, mode), catchAllRule('add', role, port));
  }
  lines.push(...vbrRules('add', port, pair, mode));
  return lines;
}

export function serviceLines(pair: ServicePair): string[] {
  return [`qdisc add dev ${pair.vbr} ingress`];
}

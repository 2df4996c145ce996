/**
 * Every reason a frame can be rejected or flagged, as one `as const` table of dotted names
 * (Suricata style). The numeric code is the index: decoders return it, counters are kept
 * per name, events and tests use the same strings.
 */
export const REASONS = [
  'ok',
  'decoder.ethernet.pkt_too_small',
  'decoder.vlan.header_too_small',
  'decoder.vlan.too_many_layers',
  'decoder.arp.pkt_too_small',
  'decoder.ipv4.pkt_too_small',
  'decoder.ipv4.hlen_too_small',
  'decoder.ipv4.iplen_smaller_than_hlen',
  'decoder.ipv4.trunc_pkt',
  'decoder.ipv4.wrong_ip_version',
  'decoder.ipv4.opt_invalid',
  'decoder.ipv4.frag_too_large',
  'decoder.ipv6.pkt_too_small',
  'decoder.ipv6.trunc_pkt',
  'decoder.ipv6.wrong_ip_version',
  'decoder.ipv6.exthdr_trunc',
  'decoder.ipv6.exthdr_too_many',
  'decoder.ipv6.frag_pkt_too_large',
  'decoder.tcp.pkt_too_small',
  'decoder.tcp.hlen_too_small',
  'decoder.tcp.invalid_flags',
  'decoder.udp.pkt_too_small',
  'decoder.udp.hlen_invalid',
  'decoder.icmpv4.pkt_too_small',
  'decoder.icmpv4.ipv4_trunc_pkt',
  'decoder.icmpv6.pkt_too_small',
  'decoder.icmpv6.ipv6_trunc_pkt',
  'decoder.frame.too_large',
  'defrag.overlap',
  'defrag.tiny_first_fragment',
  'defrag.no_first_fragment',
  'defrag.table_full',
  'defrag.endpoint_full',
  'defrag.too_many_fragments',
  'defrag.hold_full',
] as const;

export type ReasonName = (typeof REASONS)[number];

/** name → code, built once at load. */
export const R = Object.fromEntries(REASONS.map((n, i) => [n, i])) as { readonly [K in ReasonName]: number };

export const REASON_OK = 0;

export function reasonName(code: number): ReasonName {
  return REASONS[code] ?? 'ok';
}

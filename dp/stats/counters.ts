/**
 * Device counters: NeuVector's DEVICE_COUNTER names where they apply, plus Tollgate's
 * own (malformed by reason, capture truncation, table-full failure policy). Plain numbers
 * mutated in place on the hot path.
 */
import { REASONS, type ReasonName } from '../decode/reasons.js';

export interface DeviceCounters {
  rx: number;
  rxBytes: number;
  rxDrop: number;
  tx: number;
  error: number;
  noWorkload: number;
  ipv4: number;
  ipv6: number;
  tcp: number;
  tcpNoSession: number;
  /** TCP FIN/RST without a session to a port the policy denies (inline): dropped. */
  tcpNoSessionDrops: number;
  udp: number;
  icmp: number;
  arp: number;
  other: number;
  fragments: number;
  assemblies: number;
  duplicateFragments: number;
  timeoutFragments: number;
  totalSessions: number;
  tcpSessions: number;
  udpSessions: number;
  icmpSessions: number;
  ipSessions: number;
  /** ICMP errors mapped onto an existing flow / quoting a flow we never saw. */
  icmpErrors: number;
  icmpErrorNoSession: number;
  /** ICMP errors without a session that the ICMP policy denies (inline): dropped. */
  icmpErrorNoSessionDrops: number;
  /** Non-first fragments held until their first fragment is judged. */
  fragmentsHeld: number;
  /** Held fragments sent once their first fragment was allowed. */
  fragmentsReleased: number;
  /** Held fragments dropped: first fragment denied, never seen in time, or end of input. */
  fragmentsDiscarded: number;
  /** Frames longer than a standard (VLAN-tagged) Ethernet frame: jumbo or GSO/GRO leftovers. */
  oversizeFrames: number;
  /** Frames shorter in the capture than on the wire (snaplen). */
  truncatedCaptures: number;
  /** New sessions refused because the table was full (inline: dropped, tap: inspected without session). */
  sessionTableFull: number;
  /** New sessions refused: the endpoint is at its quota with no half-open session to evict. */
  sessionQuotaFull: number;
  /** Half-open TCP sessions ended to make room (endpoint quota or full table). */
  sessionsEvicted: number;
  /** Policy lookups that threw (decided by the fail-safe choice). */
  policyErrors: number;
  policyDrops: number;
  /** TCP resets sent to cut sessions a new policy denies. */
  resetsInjected: number;
  /** Timestamps that went backwards (clock held at the latest seen). */
  clockBackwards: number;
  /** Event listeners that threw (the event is lost, the packet is not). */
  emitErrors: number;
  /** Per-packet events (malformed, policy.deny) not built: over the per-second budget. */
  eventsSuppressed: number;
  malformed: Record<ReasonName, number>;
}

export function newDeviceCounters(): DeviceCounters {
  const malformed = {} as Record<ReasonName, number>;
  for (const r of REASONS) if (r !== 'ok') malformed[r] = 0;
  return {
    rx: 0, rxBytes: 0, rxDrop: 0, tx: 0, error: 0, noWorkload: 0, ipv4: 0, ipv6: 0, tcp: 0, tcpNoSession: 0, tcpNoSessionDrops: 0, udp: 0,
    icmp: 0, arp: 0, other: 0, fragments: 0, assemblies: 0, duplicateFragments: 0, timeoutFragments: 0, totalSessions: 0,
    tcpSessions: 0, udpSessions: 0, icmpSessions: 0, ipSessions: 0, icmpErrors: 0, icmpErrorNoSession: 0, icmpErrorNoSessionDrops: 0,
    fragmentsHeld: 0, fragmentsReleased: 0, fragmentsDiscarded: 0,
    oversizeFrames: 0, truncatedCaptures: 0, sessionTableFull: 0, sessionQuotaFull: 0, sessionsEvicted: 0, policyErrors: 0,
    policyDrops: 0, resetsInjected: 0, clockBackwards: 0, emitErrors: 0, eventsSuppressed: 0, malformed,
  };
}

/** Only the reasons that occurred (for summaries). */
export function nonZeroMalformed(c: DeviceCounters): Partial<Record<ReasonName, number>> {
  const out: Partial<Record<ReasonName, number>> = {};
  for (const [k, v] of Object.entries(c.malformed)) if (v > 0) out[k as ReasonName] = v;
  return out;
}

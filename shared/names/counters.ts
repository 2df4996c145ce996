/**
 * Every counter name, defined once: its scope (which object counts it), how `dp -n N`
 * merges it across data workers, and its doc line. The counter objects (dp/pipeline.ts,
 * dp/stats/counters.ts, dp/endpoints/endpoint.ts, dp/fastpath/fast-path.ts), the keys of
 * the `counters` event record (docs/EVENTS.md), the worker-merge rule
 * (dp/workers/merge-replies.ts) and the metric names (agent/metrics/names.ts) are derived
 * from these tables; docs/CONTROL.md, docs/EVENTS.md and docs/METRICS.md are checked against
 * them by test/unit/names.test.ts.
 *
 * merge: 'sum' = added up across workers; 'worker0' = configuration-sized or seen by every
 * worker alike (each worker gets every control datagram), so worker 0's value; 'main' = the
 * main thread's own count (it owns the control socket and sends the replies).
 */
export type Merge = 'sum' | 'worker0' | 'main';
interface Counter {
  readonly merge: Merge;
  readonly doc: string;
  /** A level (a gauge: sessions open now), not a monotonic count. */
  readonly level?: true;
}

/** The live path (dp/pipeline.ts): `dp_counter_device.pipeline`, device keys of the counters record. */
export const PIPELINE_COUNTERS = {
  rxPackets: { merge: 'sum', doc: 'frames captured on service ports' },
  rxBytes: { merge: 'sum', doc: 'bytes of the frames captured on service ports' },
  txPackets: { merge: 'sum', doc: 'frames sent back out (forwarded)' },
  txBytes: { merge: 'sum', doc: 'bytes of the frames sent back out' },
  dropPackets: { merge: 'sum', doc: "inline frames dropped by the engine's verdict (policy, malformed, ...)" },
  txErrors: { merge: 'sum', doc: 'the kernel refused a send (e.g. ENOBUFS)' },
  noWorkload: { merge: 'sum', doc: 'a "NeuV" unique MAC no EP owns: dropped (NeuVector drops these without counting)' },
  notSteered: { merge: 'sum', doc: 'neither SA nor DA is a "NeuV" MAC: dropped' },
  oversize: {
    merge: 'sum',
    doc: 'larger than MTU + 22 (GSO leftovers) or truncated by capture: dropped, never mangled',
  },
  runt: { merge: 'sum', doc: 'shorter than 14 bytes: dropped' },
  tapPackets: { merge: 'sum', doc: 'frames of tap EPs: inspected, not forwarded' },
  injected: { merge: 'sum', doc: 'frames the engine built (TCP resets) and sent' },
  batches: { merge: 'sum', doc: 'ring backend: JS calls, each carrying a batch of frames (0 with cap)' },
  ringDrops: {
    merge: 'sum',
    doc: 'ring backend: frames the kernel dropped because the RX ring was full (PACKET_STATISTICS, refreshed every second)',
  },
  csumCompleted: {
    merge: 'sum',
    doc: 'ring backend: frames handed over CHECKSUM_PARTIAL (tx checksum offload upstream) whose TCP/UDP checksum the dp completed before deciding them (docs/FASTPATH.md, "Offloads"; refreshed every second)',
  },
  rxCoalesced: {
    merge: 'sum',
    doc: 'ring backend: wake-ups of a busy port that waited --rx-coalesce-us before reading, so its frames went as one batch (refreshed every second)',
  },
} as const satisfies Record<string, Counter>;

/**
 * The engine (dp/stats/counters.ts): `dp_counter_device.engine`. NeuVector's DEVICE_COUNTER
 * names where they apply, plus Tollgate's own. `malformed` is a table by decode reason
 * (dp/decode/reasons.ts), reported as `malformed.<reason>`.
 */
export const ENGINE_COUNTERS = {
  rx: { merge: 'sum', doc: 'frames the engine processed' },
  rxBytes: { merge: 'sum', doc: 'wire bytes of the frames the engine processed' },
  rxDrop: { merge: 'sum', doc: 'frames the engine decided to drop' },
  tx: { merge: 'sum', doc: 'frames of inline endpoints the engine let through' },
  error: { merge: 'sum', doc: 'frames that failed to decode (malformed)' },
  noWorkload: { merge: 'sum', doc: 'frames handed to the engine without an endpoint (offline runs count none)' },
  ipv4: { merge: 'sum', doc: 'IPv4 packets' },
  ipv6: { merge: 'sum', doc: 'IPv6 packets' },
  tcp: { merge: 'sum', doc: 'TCP packets' },
  tcpNoSession: { merge: 'sum', doc: 'TCP packets without a session that cannot start one (no SYN)' },
  tcpNoSessionDrops: {
    merge: 'sum',
    doc: 'TCP FIN/RST/ACK without a session to a port no policy allows (inline): dropped',
  },
  udp: { merge: 'sum', doc: 'UDP packets' },
  icmp: { merge: 'sum', doc: 'ICMP and ICMPv6 packets' },
  arp: { merge: 'sum', doc: 'ARP frames' },
  other: { merge: 'sum', doc: 'frames of other protocols' },
  fragments: { merge: 'sum', doc: 'IP fragments' },
  assemblies: { merge: 'sum', doc: 'datagrams reassembled from fragments' },
  duplicateFragments: { merge: 'sum', doc: 'fragments that repeat one already held' },
  timeoutFragments: { merge: 'sum', doc: 'fragment trains that expired incomplete' },
  totalSessions: { merge: 'sum', doc: 'sessions created' },
  tcpSessions: { merge: 'sum', doc: 'TCP sessions created' },
  udpSessions: { merge: 'sum', doc: 'UDP sessions created' },
  icmpSessions: { merge: 'sum', doc: 'ICMP sessions created' },
  ipSessions: { merge: 'sum', doc: 'sessions of other IP protocols created' },
  icmpErrors: { merge: 'sum', doc: 'ICMP errors mapped onto an existing flow' },
  icmpErrorNoSession: { merge: 'sum', doc: 'ICMP errors quoting a flow the engine never saw' },
  icmpErrorNoSessionDrops: {
    merge: 'sum',
    doc: 'ICMP errors without a session that the ICMP policy denies (inline): dropped',
  },
  fragmentsHeld: { merge: 'sum', doc: 'non-first fragments held until their first fragment is judged' },
  fragmentsReleased: { merge: 'sum', doc: 'held fragments sent once their first fragment was allowed' },
  fragmentsDiscarded: {
    merge: 'sum',
    doc: 'held fragments dropped: first fragment denied, never seen in time, or end of input',
  },
  oversizeFrames: {
    merge: 'sum',
    doc: 'frames longer than a standard (VLAN-tagged) Ethernet frame: jumbo or GSO/GRO leftovers',
  },
  truncatedCaptures: { merge: 'sum', doc: 'frames shorter in the capture than on the wire (snaplen)' },
  sessionTableFull: {
    merge: 'sum',
    doc: 'new sessions refused because the table was full (inline: dropped, tap: inspected without session)',
  },
  sessionQuotaFull: {
    merge: 'sum',
    doc: 'new sessions refused: the endpoint is at its quota with no half-open session to evict',
  },
  sessionsEvicted: { merge: 'sum', doc: 'half-open TCP sessions ended to make room (endpoint quota or full table)' },
  policyErrors: { merge: 'sum', doc: 'policy lookups that threw (decided by the fail-safe choice)' },
  policyDrops: { merge: 'sum', doc: 'first packets of new sessions the policy denied (inline): dropped, no session' },
  resetsInjected: { merge: 'sum', doc: 'TCP resets sent to cut sessions a new policy denies' },
  clockBackwards: { merge: 'sum', doc: 'timestamps that went backwards (clock held at the latest seen)' },
  emitErrors: { merge: 'sum', doc: 'event listeners that threw (the event is lost, the packet is not)' },
  eventsSuppressed: {
    merge: 'sum',
    doc: 'per-packet events (malformed, policy.deny) not built: over the per-second budget',
  },
  malformed: { merge: 'sum', doc: 'malformed frames by decode reason (`malformed.<reason>`)' },
} as const satisfies Record<string, Counter>;

/** The kernel fast path (dp/fastpath/fast-path.ts): `dp_counter_device.fastPath`, device keys of the counters record. */
export const FAST_PATH_COUNTERS = {
  fastPathAdded: { merge: 'sum', doc: 'entries written' },
  fastPathRemoved: { merge: 'sum', doc: 'entries removed' },
  fastPathFull: { merge: 'sum', doc: 'flows that did not fit and stay on the slow path' },
  fastPathErrors: { merge: 'sum', doc: 'map calls that failed otherwise' },
  fastPathFlushed: { merge: 'sum', doc: 'entries a previous dp left, deleted at start' },
  fastPathPackets: { merge: 'sum', doc: "frames the kernel forwarded for the dp's sessions" },
  fastPathBytes: { merge: 'sum', doc: "bytes the kernel forwarded for the dp's sessions" },
  fastPathActive: { merge: 'sum', doc: 'entries the dp has in the map now' },
  fastPathLimit: { merge: 'sum', doc: "the dp's limit (the map size, or `--fast-path-max`)" },
} as const satisfies Record<string, Counter>;

/**
 * Device keys of the counters record that are not a counter object's field: NeuVector's
 * names for live-path counts, and the event stream's own health (dp/runtime.ts).
 */
export const RECORD_COUNTERS = {
  rx: { merge: 'sum', doc: "NeuVector's name for the live path's `rxPackets`" },
  tx: { merge: 'sum', doc: "NeuVector's name for the live path's `txPackets`" },
  rxDrop: { merge: 'sum', doc: "NeuVector's name for the live path's `dropPackets`" },
  eventsDropped: {
    merge: 'sum',
    doc: "records the agent never gets: dropped at the publisher's full queue, or never built (`eventsSuppressed`)",
  },
} as const satisfies Record<string, Counter>;

/** Per endpoint (dp/endpoints/endpoint.ts): `ctrl_stats_macs` and the counters record's `endpoints[]`. */
export const ENDPOINT_COUNTERS = {
  rxPackets: { merge: 'sum', doc: 'frames toward the workload (ingress, DA = ucmac)' },
  rxBytes: { merge: 'sum', doc: 'bytes of the frames toward the workload' },
  txPackets: { merge: 'sum', doc: 'frames from the workload (egress, SA = ucmac)' },
  txBytes: { merge: 'sum', doc: 'bytes of the frames from the workload' },
  dropPackets: {
    merge: 'sum',
    doc: 'inline frames the engine dropped (each once; held fragments that end up dropped included)',
  },
  sessions: { merge: 'sum', doc: 'sessions started' },
  curSessions: { merge: 'sum', doc: 'sessions open now (a level, not a count)', level: true },
} as const satisfies Record<string, Counter>;

/** The counters record's per-endpoint fields beside `mac` and `tap` (docs/EVENTS.md). */
export const RECORD_ENDPOINT_FIELDS = [
  'rxPackets',
  'rxBytes',
  'dropPackets',
  'sessions',
  'curSessions',
] as const satisfies readonly (keyof typeof ENDPOINT_COUNTERS)[];

/** The control socket (dp/ctrl/counters.ts): `dp_counter_device.ctrl`. */
export const CTRL_COUNTERS = {
  datagrams: { merge: 'worker0', doc: 'datagrams received' },
  messages: { merge: 'worker0', doc: 'messages (top-level keys) of known names' },
  ok: { merge: 'worker0', doc: 'messages applied' },
  errors: { merge: 'worker0', doc: 'messages and datagrams rejected' },
  repliesSent: { merge: 'main', doc: 'reply datagrams sent' },
  replyErrors: { merge: 'main', doc: 'reply datagrams the socket refused' },
  errorsByCode: { merge: 'worker0', doc: 'rejections by error code {code: n}' },
  messagesByName: { merge: 'worker0', doc: 'messages by name {ctrl_xxx: n}' },
} as const satisfies Record<string, Counter>;

/**
 * The fields of the replies `dp -n N` merges across workers, and how (docs/CONTROL.md
 * "Workers"). Fields that are objects merge recursively (numbers summed).
 */
export const REPLY_FIELDS = {
  dp_stats_device: {
    uptime_s: { merge: 'worker0', doc: 'seconds since the dp started' },
    rx_packets: { merge: 'sum', doc: "the live path's `rxPackets`" },
    rx_bytes: { merge: 'sum', doc: "the live path's `rxBytes`" },
    tx_packets: { merge: 'sum', doc: "the live path's `txPackets`" },
    tx_bytes: { merge: 'sum', doc: "the live path's `txBytes`" },
    drop_packets: { merge: 'sum', doc: "the live path's `dropPackets`" },
    endpoints: { merge: 'worker0', doc: 'endpoints configured' },
    ports: { merge: 'worker0', doc: 'service ports open [{iface, mtu}]' },
    internal_nets: { merge: 'worker0', doc: 'internal subnets configured' },
    sessions: { merge: 'sum', doc: 'session counts (as `dp_session_count`)' },
  },
  dp_stats_macs: {
    macs: { merge: 'worker0', doc: 'the MACs found' },
    unknown: { merge: 'worker0', doc: 'the MACs not found' },
    tap: { merge: 'worker0', doc: 'tap flag of each MAC found' },
    rx_packets: { merge: 'sum', doc: 'endpoint `rxPackets`, summed over the MACs' },
    rx_bytes: { merge: 'sum', doc: 'endpoint `rxBytes`, summed over the MACs' },
    tx_packets: { merge: 'sum', doc: 'endpoint `txPackets`, summed over the MACs' },
    tx_bytes: { merge: 'sum', doc: 'endpoint `txBytes`, summed over the MACs' },
    drop_packets: { merge: 'sum', doc: 'endpoint `dropPackets`, summed over the MACs' },
    sessions: { merge: 'sum', doc: 'endpoint `sessions`, summed over the MACs' },
    cur_sessions: { merge: 'sum', doc: 'endpoint `curSessions`, summed over the MACs' },
  },
  dp_session_count: {
    cur: { merge: 'sum', doc: 'sessions open now' },
    tcp: { merge: 'sum', doc: 'TCP sessions open now' },
    udp: { merge: 'sum', doc: 'UDP sessions open now' },
    icmp: { merge: 'sum', doc: 'ICMP sessions open now' },
    ip: { merge: 'sum', doc: 'sessions of other IP protocols open now' },
  },
  dp_counter_device: {
    pipeline: { merge: 'sum', doc: "the live path's counters" },
    engine: { merge: 'sum', doc: "the engine's counters" },
    ctrl: { merge: 'worker0', doc: "the control socket's counters (`repliesSent`, `replyErrors`: the main thread's)" },
    fastPath: { merge: 'sum', doc: "the kernel fast path's counters" },
  },
} as const satisfies Record<string, Record<string, Counter>>;

export type PipelineCounterName = keyof typeof PIPELINE_COUNTERS;
export type EngineCounterName = keyof typeof ENGINE_COUNTERS;
export type FastPathCounterName = keyof typeof FAST_PATH_COUNTERS;
export type EndpointCounterName = keyof typeof ENDPOINT_COUNTERS;
export type RecordCounterName = keyof typeof RECORD_COUNTERS;
export type CtrlCounterName = keyof typeof CTRL_COUNTERS;
export type MergedReply = keyof typeof REPLY_FIELDS;

/** The names of a table, in table order. */
export function namesOf<T extends Record<string, Counter>>(table: T): (keyof T & string)[] {
  return Object.keys(table) as (keyof T & string)[];
}

/** A counter object of a table's numeric names, every one 0. */
export function zeroed<K extends string>(names: readonly K[]): Record<K, number> {
  const o = {} as Record<K, number>;
  for (const n of names) o[n] = 0;
  return o;
}

/**
 * The key an engine counter has in the counters record's `device` map: its own name,
 * unless the live path or the record itself uses that name (`rxBytes`, `noWorkload`,
 * `rx`, ...), then `engine.<name>`, so an engine count never stands for a live-path one.
 */
export type EngineRecordKey<K extends EngineCounterName = EngineCounterName> = K extends
  | PipelineCounterName
  | RecordCounterName
  ? `engine.${K}`
  : K;

export function engineRecordKey<K extends EngineCounterName>(name: K): EngineRecordKey<K> {
  return (
    Object.hasOwn(PIPELINE_COUNTERS, name) || Object.hasOwn(RECORD_COUNTERS, name) ? `engine.${name}` : name
  ) as EngineRecordKey<K>;
}

/** The plain (not nested) engine counters, each with its record key. */
export const ENGINE_RECORD_KEYS: readonly (readonly [Exclude<EngineCounterName, 'malformed'>, string])[] = namesOf(
  ENGINE_COUNTERS,
)
  .filter((n): n is Exclude<EngineCounterName, 'malformed'> => n !== 'malformed')
  .map((n) => [n, engineRecordKey(n)] as const);

/**
 * Every flat key of the counters record's `device` map (plus `malformed.<reason>` for the
 * reasons that occurred). Built once; a name two tables would both put there is a load error.
 */
export const DEVICE_RECORD_KEYS: readonly string[] = (() => {
  const keys = [
    ...namesOf(PIPELINE_COUNTERS),
    ...ENGINE_RECORD_KEYS.map(([, k]) => k),
    ...namesOf(RECORD_COUNTERS),
    ...namesOf(FAST_PATH_COUNTERS),
  ];
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw new Error(`counter name ${k} is used twice in the counters record`);
    seen.add(k);
  }
  return keys;
})();

/** Fields of a merged reply that are worker 0's, not summed. */
export function worker0Fields(reply: MergedReply): ReadonlySet<string> {
  return new Set(
    Object.entries(REPLY_FIELDS[reply])
      .filter(([, f]) => f.merge === 'worker0')
      .map(([k]) => k),
  );
}

/** Control counters the main thread owns (dp -n N). */
export const MAIN_THREAD_CTRL_COUNTERS = namesOf(CTRL_COUNTERS).filter((n) => CTRL_COUNTERS[n].merge === 'main');

/**
 * Offline mode (`dp -p FILE|DIR`): captures run through the same Engine as live traffic,
 * as seen by one dummy endpoint (NeuVector's FAKE_EP) in tap mode (inspect, never drop)
 * or inline mode (verdicts apply; drops can be written to a pcap).
 *
 * Direction: every frame is handed to the engine as ingress to the dummy endpoint, as
 * NeuVector's pcap mode does; client/server roles come from the flows themselves (SYN
 * sender, SYN-ACK receiver, lower port on mid-stream pickup, first UDP sender).
 *
 * Clock: packet timestamps. The engine ticks (expiring idle sessions) whenever capture
 * time passes a whole second; a timestamp that goes backwards is held at the latest time
 * seen (counted as clockBackwards); a jump forward simply expires what went idle. Each
 * file is a separate capture: its remaining sessions end (reason eof, or fin/rst for
 * finished TCP) and the clock restarts before the next file.
 *
 * Output: JSONL events (session.start, session.end, malformed, file.error) and a final
 * summary line.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Engine, Verdict, type EngineEvent, type PolicyHook } from '../engine.js';
import { newCounters, type Endpoint } from '../endpoints/endpoint.js';
import { PcapReader, isPcapError } from '../../shared/pcap/reader.js';
import { PcapWriter } from '../../shared/pcap/writer.js';
import { LINKTYPE_ETHERNET, type PcapError } from '../../shared/pcap/format.js';
import { listCaptureFiles } from './files.js';
import { type DeviceCounters, nonZeroMalformed } from '../stats/counters.js';

export interface OfflineOptions {
  inputs: string[];
  /** Where JSONL goes: a stream, a file path (created/truncated, closed at the end), or stdout when absent. */
  out?: NodeJS.WritableStream | string | undefined;
  /**
   * Write frames the engine drops to this pcap (inline mode drops malformed and denied
   * frames). Asking for it without a mode means inline: in tap mode nothing is ever dropped.
   */
  dropPcap?: string | undefined;
  mode?: 'tap' | 'inline';
  policy?: PolicyHook;
  /**
   * `dp -p --policy FILE`: a replay case.yaml (or any YAML/JSON with `mode` and `policy`,
   * see policy-file.ts) gives the mode and the policy, unless mode/policy are passed too.
   * A bad file throws (TollgateError naming the field) before any frame is read.
   */
  policyFile?: string | undefined;
  /** Also write session.start events (default true). */
  sessionStarts?: boolean;
  /**
   * Direction of frame `index` (1-based over all inputs): true = toward the endpoint.
   * Default: every frame is ingress (NeuVector's pcap mode). Live-replay comparisons pass
   * the real direction so offline sessions get the same client/ingress as in the lab.
   */
  ingressOf?: (index: number) => boolean;
  /** Called with every frame's verdict (1-based index over all inputs). */
  onVerdict?: (index: number, verdict: Verdict) => void;
}

export interface FileErrorEvent {
  type: 'file.error';
  file: string;
  code: PcapError['code'] | 'input.missing';
  message: string;
  packetsRead: number;
}

export interface OfflineFileResult {
  file: string;
  packets: number;
  /** The problem that stopped (or prevented) reading, as a file.error code. */
  error?: string;
  /** Records read but not processed (non-Ethernet link type). */
  skipped?: number;
  /** Header oddities that did not stop reading (file.error codes). */
  warnings?: string[];
}

export interface OfflineSummary {
  type: 'summary';
  mode: 'tap' | 'inline';
  files: OfflineFileResult[];
  packets: number;
  bytes: number;
  forwarded: number;
  dropped: number;
  sessions: { total: number; tcp: number; udp: number; icmp: number; ip: number };
  malformed: Partial<Record<string, number>>;
  fileErrors: number;
  counters: DeviceCounters;
}

/** Frames (and, at the end of a file, sessions ended) between writes of the pending events. */
const BATCH = 4096;
const FLUSH_CHARS = 1 << 16;

export async function runOffline(opts: OfflineOptions): Promise<OfflineSummary> {
  // The policy modules (YAML, schemas, the rule compiler) load only for --policy: a plain
  // `dp -p` spends its start-up on nothing it does not use (docs/BENCHMARKS.md).
  const fromFile = opts.policyFile ? (await import('./policy-file.js')).loadPolicyFile(opts.policyFile) : null;
  const pol = fromFile ? await import('./policy.js') : null;
  const mode = opts.mode ?? (fromFile && pol ? pol.offlineEngineMode(fromFile.mode) : opts.dropPcap ? 'inline' : 'tap');
  const policy = opts.policy ?? (fromFile && pol ? pol.offlinePolicy(fromFile.mode, fromFile.config) : undefined);
  const ownStream = typeof opts.out === 'string' ? createWriteStream(opts.out) : null;
  const out: NodeJS.WritableStream = ownStream ?? (typeof opts.out === 'object' ? opts.out : process.stdout);
  let pending = '';
  const flush = async (force: boolean): Promise<void> => {
    if (pending.length === 0 || (!force && pending.length < FLUSH_CHARS)) return;
    const ok = out.write(pending);
    pending = '';
    if (!ok) await once(out, 'drain');
  };
  const write = (ev: object): void => {
    pending += `${JSON.stringify(ev)}\n`;
  };
  const sessionStarts = opts.sessionStarts ?? true;
  const emit = (ev: EngineEvent): void => {
    if (ev.type === 'session.start' && !sessionStarts) return;
    write(ev);
  };
  // Held fragments (sent before their first fragment) are released through inject once
  // allowed: offline there is no port, the summary counts them as forwarded.
  const inject = (): void => {};
  const engine = new Engine(policy ? { emit, policy, inject } : { emit, inject });
  const ep: Endpoint = {
    id: 0,
    iface: 'pcap',
    mac: '00:00:00:00:00:00',
    ucmac: '00:00:00:00:00:00',
    bcmac: '00:00:00:00:00:00',
    macNum: 0,
    ucmacNum: 0,
    tap: mode === 'tap',
    counters: newCounters(),
  };
  const drops = opts.dropPcap ? new PcapWriter(opts.dropPcap) : null;
  const results: OfflineFileResult[] = [];
  let forwarded = 0;
  let dropped = 0;
  let fileErrors = 0;
  let frameIndex = 0;
  const { ingressOf, onVerdict } = opts;
  const { files, missing } = listCaptureFiles(opts.inputs);
  for (const m of missing) {
    fileErrors++;
    write({
      type: 'file.error',
      file: m,
      code: 'input.missing',
      message: `no such file or directory: ${m}`,
      packetsRead: 0,
    } satisfies FileErrorEvent);
    results.push({ file: m, packets: 0, error: 'input.missing' });
  }
  try {
    for (const file of files) {
      const r = PcapReader.open(file);
      if (isPcapError(r)) {
        fileErrors++;
        write({ type: 'file.error', file, code: r.code, message: r.message, packetsRead: 0 } satisfies FileErrorEvent);
        results.push({ file, packets: 0, error: r.code });
        continue;
      }
      engine.restartClock();
      const warnings: string[] = [];
      if (r.warning) {
        warnings.push(r.warning.code);
        write({
          type: 'file.error',
          file,
          code: r.warning.code,
          message: r.warning.message,
          packetsRead: 0,
        } satisfies FileErrorEvent);
      }
      let nextTick = -Infinity;
      let n = 0;
      let skipped = 0;
      for (;;) {
        let more = true;
        for (let i = 0; i < BATCH; i++) {
          if (!r.next()) {
            more = false;
            break;
          }
          n++;
          frameIndex++;
          if (r.linkType !== LINKTYPE_ETHERNET) {
            skipped++;
            continue;
          }
          const ts = r.tsMs;
          if (ts >= nextTick) {
            engine.tick(ts);
            nextTick = engine.nowMs + 1000;
          }
          const ingress = ingressOf ? ingressOf(frameIndex) : true;
          const v = engine.processAt(r.buf, r.off, r.capLen, r.wireLen, ts, ep, ingress);
          if (onVerdict) onVerdict(frameIndex, v);
          if (v === Verdict.Forward) forwarded++;
          else if (v === Verdict.Held) continue;
          else {
            dropped++;
            if (drops) drops.write(r.buf, r.off, r.capLen, ts, r.wireLen);
          }
        }
        await flush(false);
        if (!more) break;
      }
      // In slices, written out between them: a capture that ends with 100k open sessions
      // would otherwise build all their session.end lines into one string.
      while (engine.closeAll('eof', BATCH) > 0) await flush(false);
      const res: OfflineFileResult = { file, packets: n };
      if (warnings.length) res.warnings = warnings;
      if (skipped > 0) res.skipped = skipped;
      if (r.error) {
        fileErrors++;
        write({
          type: 'file.error',
          file,
          code: r.error.code,
          message: r.error.message,
          packetsRead: r.error.packetsRead,
        } satisfies FileErrorEvent);
        res.error = r.error.code;
      }
      if (skipped > 0) {
        write({
          type: 'file.error',
          file,
          code: 'pcap.unsupported_linktype',
          message: `${skipped} records of a non-Ethernet link type skipped`,
          packetsRead: n,
        } satisfies FileErrorEvent);
      }
      results.push(res);
    }
  } finally {
    drops?.close();
  }
  const c = engine.counters;
  const summary: OfflineSummary = {
    type: 'summary',
    mode,
    files: results,
    packets: c.rx,
    bytes: c.rxBytes,
    // Held fragments end up forwarded (their first fragment was allowed) or dropped.
    forwarded: forwarded + c.fragmentsReleased,
    dropped: dropped + c.fragmentsDiscarded,
    sessions: {
      total: c.totalSessions,
      tcp: c.tcpSessions,
      udp: c.udpSessions,
      icmp: c.icmpSessions,
      ip: c.ipSessions,
    },
    malformed: nonZeroMalformed(c),
    fileErrors,
    counters: c,
  };
  write(summary);
  await flush(true);
  if (ownStream) {
    ownStream.end();
    await once(ownStream, 'finish');
  }
  return summary;
}

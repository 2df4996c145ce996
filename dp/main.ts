import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger, type Logger } from '../shared/log.js';
import { errorMessage } from '../shared/errors.js';
import type { DpRuntime as DpRuntimeClass } from './runtime.js';
import { IO_BACKENDS, resolveIoBackend, type IoBackend } from './io/live.js';
import type { CtrlServer } from './ctrl/server.js';
import { RING_TX_MODES, RX_COALESCE_US, RX_COALESCE_US_MAX, type RingTx } from './io/ring-port.js';
import { openFastPath, parseMapRef, type FastPathConfig } from './fastpath/open.js';
import { offlineExitStatus } from './offline/exit-status.js';
import { POLICY_ERROR_MODES, type FailSafeOptions, type PolicyErrorMode } from './verdict/fail-safe.js';

/**
 * The `dp` command. Live mode: control socket + service ports, driven by ctrl_*
 * datagrams (docs/CONTROL.md). Offline mode (-p): pcap replay through the same engine.
 *
 * -n 1 (NeuVector's monitor default): control socket and data path on one event loop.
 * -n N ≥ 2: N worker_threads each own a data path with ring sockets in one
 * fanout group (member picked from the IP addresses); the main thread owns the control socket, posts every
 * datagram to every worker and merges the replies (docs/CONTROL.md "Workers").
 */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const program = new Command()
  .name('dp')
  .description('Tollgate data plane: inline inspection on the service port, NeuVector-compatible control socket')
  .option(
    '-n, --workers <n>',
    'data workers: 1 = one event loop; N ≥ 2 = worker threads sharing the port by a hash of the IP addresses (ring backend)',
    '1',
  )
  .option('--ctrl <path>', 'control socket path', '/tmp/dp_listen.sock')
  .option('--events <endpoint>', 'ZeroMQ endpoint of the agent event PULL socket, e.g. ipc:///run/tollgate/lab.events')
  .option('--report-interval <seconds>', 'connection/violation/counter report interval', '2')
  .option('-i, --iface <iface>', 'open this service port at start (as ctrl_add_srvc_port)')
  .option('-p, --pcap <fileOrDir>', 'offline mode: replay pcap/pcapng file(s) and exit')
  .option('-o, --out <file>', 'offline mode: JSONL events to this file (default stdout)')
  .option('--drop-pcap <file>', 'offline mode: write dropped frames to this pcap')
  .option(
    '--policy <file>',
    'offline mode: endpoint mode and policy rules from a replay case.yaml (test/replay/README.md)',
  )
  .addOption(
    new Option(
      '--policy-error <mode>',
      'a policy lookup that throws: closed = DENY (inline drops, tap reports), open = OPEN',
    )
      .choices(POLICY_ERROR_MODES)
      .default('closed'),
  )
  .option(
    '--session-quota <n>',
    'sessions one endpoint may hold (default: half the session table); beyond it its half-open TCP sessions are evicted first',
  )
  .option('--partial-ok', 'offline mode: exit 0 when an input was read only in part (damaged or skipped records)')
  .addOption(
    new Option(
      '--io <backend>',
      'service port I/O: ring (batched AF_PACKET rings, native addon), cap (libpcap), auto (ring when built)',
    )
      .choices(IO_BACKENDS)
      .default(process.env.TOLLGATE_DP_IO ?? 'auto'),
  )
  .addOption(
    new Option(
      '--ring-tx <mode>',
      'ring backend: send forwarded frames with one sendmmsg per batch, or through a PACKET_TX_RING',
    )
      .choices(RING_TX_MODES)
      .default(process.env.TOLLGATE_DP_RING_TX ?? 'sendmmsg'),
  )
  .addOption(
    new Option(
      '--rx-coalesce-us <us>',
      'ring backend: RX interrupt moderation; on a busy port, wait this long before reading so frames go as one batch (0: off)',
    )
      .argParser(rxCoalesceUs)
      .default(RX_COALESCE_US),
  )
  .option(
    '--fast-path-map <ref>',
    "kernel fast path: the steering program's pinned tg_flows map (path) or id:N; established allowed flows then bypass the dp",
  )
  .option('--fast-path-max <n>', 'kernel fast path: at most this many offloaded flows (default: the map size)')
  .option('--no-fast-path', 'kill switch: never offload a flow, even with --fast-path-map')
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(LOG_LEVELS)
      .default(process.env.TOLLGATE_LOG_LEVEL ?? 'info'),
  );

interface Opts {
  workers: string;
  ctrl: string;
  events?: string;
  reportInterval: string;
  iface?: string;
  pcap?: string;
  out?: string;
  dropPcap?: string;
  policy?: string;
  partialOk?: boolean;
  policyError: PolicyErrorMode;
  sessionQuota?: string;
  io: IoBackend;
  ringTx: RingTx;
  rxCoalesceUs: number;
  fastPathMap?: string;
  fastPathMax?: string;
  /** commander's --no-fast-path: false when given. */
  fastPath: boolean;
  logLevel: (typeof LOG_LEVELS)[number];
}

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts<Opts>();
  const log = createLogger('dp', opts.logLevel);
  const workers = Number(opts.workers);
  if (!Number.isInteger(workers) || workers < 1) {
    log.error({ workers: opts.workers }, '-n must be a positive integer');
    return 2;
  }
  if (opts.sessionQuota !== undefined) {
    const q = Number(opts.sessionQuota);
    if (!Number.isInteger(q) || q < 1) {
      log.error({ sessionQuota: opts.sessionQuota }, '--session-quota must be a positive integer');
      return 2;
    }
  }
  if (opts.pcap) return runOfflineMode(opts, log);
  if (workers > 1) return runWorkers(opts, workers, log);
  return runLive(opts, log);
}

async function runOfflineMode(opts: Opts, log: Logger): Promise<number> {
  // Loaded only for -p, so a live dp never pays for the pcap reader.
  const { runOffline } = await import('./offline/run.js');
  const summary = await runOffline({
    inputs: [opts.pcap!],
    out: opts.out,
    dropPcap: opts.dropPcap,
    policyFile: opts.policy,
  });
  log.info({ summary }, 'offline run done');
  const status = offlineExitStatus(summary, opts.partialOk === true);
  for (const p of status.problems) process.stderr.write(`dp: ${p}\n`);
  if (status.code !== 0 && !opts.partialOk && status.problems.length) {
    process.stderr.write('dp: exit 1 (--partial-ok accepts inputs read in part; unreadable inputs always fail)\n');
  }
  return status.code;
}

/** The engine's fail-safe choices from --policy-error and --session-quota (validated in main). */
function failSafeOf(opts: Opts): FailSafeOptions {
  return {
    policyError: opts.policyError,
    ...(opts.sessionQuota !== undefined ? { sessionsPerEndpoint: Number(opts.sessionQuota) } : {}),
  };
}

/** --rx-coalesce-us: whole µs in 0..RX_COALESCE_US_MAX. */
function rxCoalesceUs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > RX_COALESCE_US_MAX)
    throw new InvalidArgumentError(`must be whole microseconds in 0..${RX_COALESCE_US_MAX}`);
  return n;
}

/** --report-interval in ms, or undefined (logged) when out of range. */
function reportIntervalMs(opts: Opts, log: Logger): number | undefined {
  const interval = Number(opts.reportInterval);
  if (!Number.isFinite(interval) || interval <= 0 || interval > 3600) {
    log.error({ reportInterval: opts.reportInterval }, '--report-interval must be seconds in (0, 3600]');
    return undefined;
  }
  return Math.round(interval * 1000);
}

async function runLive(opts: Opts, log: Logger): Promise<number> {
  // Loaded here, not at the top: `dp -p` never needs the control runtime (its module graph
  // costs an offline run about a third of a second and ~15 MiB; docs/BENCHMARKS.md).
  const { DpRuntime } = (await import('./runtime.js')) as { DpRuntime: typeof DpRuntimeClass };
  const intervalMs = reportIntervalMs(opts, log);
  if (intervalMs === undefined) return 2;
  const fastPath = fastPathConfig(opts, log);
  if (fastPath === null) return 2;
  const rt = new DpRuntime({
    ctrlPath: opts.ctrl,
    log,
    ...(opts.events ? { eventsEndpoint: opts.events } : {}),
    reportIntervalMs: intervalMs,
    io: opts.io,
    ringTx: opts.ringTx,
    rxCoalesceUs: opts.rxCoalesceUs,
    ...(fastPath ? { fastPath } : {}),
    failSafe: failSafeOf(opts),
  });
  log.info(
    {
      io: rt.state.ports?.backend,
      ...(rt.state.ports?.backend === 'ring' ? { ringTx: opts.ringTx, rxCoalesceUs: opts.rxCoalesceUs } : {}),
    },
    'service port I/O backend',
  );
  rt.start();
  if (opts.iface) {
    const port = rt.state.ports!.open(opts.iface);
    log.info({ iface: port.iface, mtu: port.mtu }, 'service port open (-i)');
  }
  return new Promise<number>((resolve) => {
    const shutdown = (sig: string): void => {
      log.info({ sig }, 'shutting down');
      rt.stop();
      resolve(0);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

/** The fast-path settings, undefined when off, null (logged) when invalid. */
function fastPathConfig(opts: Opts, log: Logger): FastPathConfig | undefined | null {
  if (!opts.fastPath) {
    if (opts.fastPathMap) {
      // Off, but entries an earlier dp left must not keep forwarding past this one.
      log.info('fast path off (--no-fast-path); emptying the map');
      openFastPath({ map: opts.fastPathMap }, log)?.close();
    }
    return undefined;
  }
  if (!opts.fastPathMap) return undefined;
  let max: number | undefined;
  if (opts.fastPathMax !== undefined) {
    max = Number(opts.fastPathMax);
    if (!Number.isInteger(max) || max < 0) {
      log.error({ fastPathMax: opts.fastPathMax }, '--fast-path-max must be a non-negative integer');
      return null;
    }
  }
  try {
    parseMapRef(opts.fastPathMap);
  } catch (e) {
    log.error({ fastPathMap: opts.fastPathMap }, errorMessage(e));
    return null;
  }
  return { map: opts.fastPathMap, ...(max !== undefined ? { maxEntries: max } : {}) };
}

/**
 * dp -n N: the main thread owns the control socket, the workers own the data. The
 * socket opens only once every worker is ready, so a client that sees it can configure
 * all of them. A lost worker ends the dp with a non-zero code.
 */
async function runWorkers(opts: Opts, workers: number, log: Logger): Promise<number> {
  const intervalMs = reportIntervalMs(opts, log);
  if (intervalMs === undefined) return 2;
  let backend: 'ring' | 'cap';
  try {
    backend = resolveIoBackend(opts.io);
  } catch (e) {
    log.error({ io: opts.io, err: errorMessage(e) }, '-n ≥ 2 needs the ring backend');
    return 2;
  }
  if (opts.fastPathMap && opts.fastPath) log.warn('fast path off: dp -n N does not offload flows yet (use -n 1)');
  if (backend !== 'ring') {
    log.error(
      { io: opts.io, workers },
      '-n ≥ 2 needs the ring backend (PACKET_FANOUT); libpcap (cap) cannot share a port between workers: use --io ring or -n 1',
    );
    return 2;
  }
  const { WorkerPool } = await import('./workers/pool.js');
  const { CtrlServer } = await import('./ctrl/server.js');
  let server: CtrlServer | undefined;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  const pool = new WorkerPool(
    workers,
    {
      // Unique per dp process in this netns: a second dp on another port must not join it.
      fanoutGroup: process.pid & 0xffff,
      ...(opts.events ? { eventsEndpoint: opts.events } : {}),
      reportIntervalMs: intervalMs,
      io: 'ring',
      ringTx: opts.ringTx,
      rxCoalesceUs: opts.rxCoalesceUs,
      logLevel: opts.logLevel,
      failSafe: failSafeOf(opts),
      ...(opts.iface ? { iface: opts.iface } : {}),
    },
    log,
    () => {
      server?.stop();
      finish(1);
    },
  );
  try {
    await pool.start();
  } catch (e) {
    log.error({ err: errorMessage(e) }, 'data workers did not start');
    await pool.stop();
    return 1;
  }
  log.info({ io: 'ring', ringTx: opts.ringTx, rxCoalesceUs: opts.rxCoalesceUs, workers }, 'service port I/O backend');
  server = new CtrlServer(opts.ctrl, { log, ctrlCounters: pool.ctrlCounters, dispatch: (buf) => pool.dispatch(buf) });
  server.start();
  const shutdown = (sig: string): void => {
    log.info({ sig }, 'shutting down');
    server?.stop();
    void pool.stop().then(() => finish(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return done;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`dp: ${errorMessage(e)}\n`);
    process.exit(1);
  },
);

import { Command, Option } from 'commander';
import { createLogger, type Logger } from '../shared/log.js';
import { errorMessage } from '../shared/errors.js';
import { DpRuntime } from './ctrl/runtime.js';
import { loadEngine } from './engine-loader.js';
import { IO_BACKENDS, type IoBackend } from './io/live.js';
import { RING_TX_MODES, type RingTx } from './io/ring-port.js';

/**
 * The `dp` command. Live mode: control socket + service ports, driven by ctrl_*
 * datagrams (docs/CONTROL.md). Offline mode (-p): pcap replay through the same engine.
 *
 * -n N is accepted for NeuVector compatibility; the data path runs on one event loop
 * whatever N is (docs/CONTROL.md "Workers"). The ring addon can already put N sockets in
 * one PACKET_FANOUT_HASH group; worker threads with replicated control are not built.
 */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const program = new Command()
  .name('dp')
  .description('Tollgate data plane: inline inspection on the service port, NeuVector-compatible control socket')
  .option('-n, --workers <n>', 'data workers (accepted; one event loop is used, see docs/CONTROL.md)', '1')
  .option('--ctrl <path>', 'control socket path', '/tmp/dp_listen.sock')
  .option('--events <endpoint>', 'ZeroMQ endpoint of the agent event PULL socket, e.g. ipc:///run/tollgate/lab.events')
  .option('--report-interval <seconds>', 'connection/violation/counter report interval', '2')
  .option('-i, --iface <iface>', 'open this service port at start (as ctrl_add_srvc_port)')
  .option('-p, --pcap <fileOrDir>', 'offline mode: replay pcap/pcapng file(s) and exit')
  .option('-o, --out <file>', 'offline mode: JSONL events to this file (default stdout)')
  .option('--drop-pcap <file>', 'offline mode: write dropped frames to this pcap')
  .option('--policy <file>', 'offline mode: endpoint mode and policy rules from a replay case.yaml (test/replay/README.md)')
  .addOption(
    new Option('--io <backend>', 'service port I/O: ring (batched AF_PACKET rings, native addon), cap (libpcap), auto (ring when built)')
      .choices(IO_BACKENDS)
      .default(process.env.TOLLGATE_DP_IO ?? 'auto'),
  )
  .addOption(
    new Option('--ring-tx <mode>', 'ring backend: send forwarded frames with one sendmmsg per batch, or through a PACKET_TX_RING')
      .choices(RING_TX_MODES)
      .default(process.env.TOLLGATE_DP_RING_TX ?? 'sendmmsg'),
  )
  .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default(process.env.TOLLGATE_LOG_LEVEL ?? 'info'));

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
  io: IoBackend;
  ringTx: RingTx;
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
  if (opts.pcap) return runOfflineMode(opts, log);
  return runLive(opts, workers, log);
}

async function runOfflineMode(opts: Opts, log: Logger): Promise<number> {
  const { runOffline } = await loadEngine();
  const summary = await runOffline({ inputs: [opts.pcap!], out: opts.out, dropPcap: opts.dropPcap, policyFile: opts.policy });
  log.info({ summary }, 'offline run done');
  return 0;
}

async function runLive(opts: Opts, workers: number, log: Logger): Promise<number> {
  const { createEngine, forwardVerdict } = await loadEngine();
  const interval = Number(opts.reportInterval);
  if (!Number.isFinite(interval) || interval <= 0 || interval > 3600) {
    log.error({ reportInterval: opts.reportInterval }, '--report-interval must be seconds in (0, 3600]');
    return 2;
  }
  const rt = new DpRuntime({
    ctrlPath: opts.ctrl, createEngine, forwardVerdict, log,
    ...(opts.events ? { eventsEndpoint: opts.events } : {}),
    reportIntervalMs: Math.round(interval * 1000),
    io: opts.io,
    ringTx: opts.ringTx,
  });
  log.info({ io: rt.state.ports?.backend, ...(rt.state.ports?.backend === 'ring' ? { ringTx: opts.ringTx } : {}) }, 'service port I/O backend');
  rt.start();
  if (workers > 1) log.warn({ workers }, 'one data event loop is used whatever -n says (see docs/CONTROL.md)');
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

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`dp: ${errorMessage(e)}\n`);
    process.exit(1);
  },
);

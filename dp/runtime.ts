import type { Logger } from '../shared/log.js';
import { EndpointRegistry } from './endpoints/registry.js';
import { ServicePorts, type IoBackend } from './io/live.js';
import type { RingTx } from './io/ring-port.js';
import { Pipeline } from './pipeline.js';
import { CtrlCounters } from './ctrl/counters.js';
import { InternalNets } from './ctrl/internal-net.js';
import { CtrlServer } from './ctrl/server.js';
import { dispatchDatagramStream } from './ctrl/dispatch.js';
import { WorkerEventPublisher } from './workers/worker-publisher.js';
import type { DpState } from './ctrl/state.js';
import { PolicyTable } from './policy/policy-table.js';
import { PolicyChunks } from './policy/policy-chunks.js';
import { policyHook } from './policy/engine-hook.js';
import { EventBridge } from './events/event-bridge.js';
import { EventPublisher } from './events/publisher.js';
import { Engine } from './engine.js';
import { openFastPath, type FastPathConfig } from './fastpath/open.js';
import { deviceRecord } from './events/counters-record.js';
import type { DeviceCounters } from './stats/counters.js';
import type { FailSafeOptions } from './verdict/fail-safe.js';

export interface DpRuntimeOptions {
  ctrlPath: string;
  /** A ready engine (tests); without one the runtime builds it with its policy, event and inject hooks. */
  engine?: Engine;
  /** ZeroMQ endpoint of the agent's event PULL socket; no events without it. */
  eventsEndpoint?: string;
  /** Event flush interval (ms). */
  reportIntervalMs?: number;
  log: Logger;
  /** false: no service ports can be opened (control-only tests). Default true. */
  live?: boolean;
  /** Service port I/O: 'auto' (ring when the addon is built, else cap), 'ring' or 'cap'. */
  io?: IoBackend;
  /** Ring backend: how forwarded frames are sent (default sendmmsg). */
  ringTx?: RingTx;
  /** Ring backend: RX interrupt moderation in µs (dp/io/ring-port.ts RX_COALESCE_US). */
  rxCoalesceUs?: number;
  /**
   * dp -n N data worker: this runtime's id (0..N-1). Its service ports join `fanoutGroup`,
   * its counters records carry `worker`, and it serves no control socket (the main
   * thread owns it and posts every datagram to every worker).
   */
  worker?: number;
  /** Fanout group of the ring sockets (dp -n N; the addon picks the member by IP addresses). */
  fanoutGroup?: number;
  /** Kernel fast path: the steering program's tg_flows map (dp/fastpath/); off without it. */
  fastPath?: FastPathConfig;
  /** dp -n N: how many data workers there are (session ids are unique across them). */
  workers?: number;
  /** The engine's fail-safe choices (dp --policy-error, --session-quota). */
  failSafe?: FailSafeOptions;
}

/** How often the coarse packet clock advances; sessions time out in seconds, so 20 ms is ample. */
const CLOCK_MS = 20;
/**
 * Per-packet engine events (malformed frames, denied first packets) built per second live;
 * violation records aggregate them anyway, and a flood beyond this allocates nothing.
 */
const LIVE_EVENTS_PER_SECOND = 1000;
/** Engine housekeeping (idle timeouts). */
const TICK_MS = 1000;

/**
 * A running dp: control socket, endpoint registry, service ports and the pipeline,
 * all on one event loop. With `dp -n 1` (the only mode NeuVector's monitor uses) the
 * control thread and the data path share the loop: the I/O backend (ring batches or cap
 * frames) delivers frames synchronously in its poll callback and control datagrams are
 * handled between poll rounds, so a config change is never seen half-applied by a frame
 * and needs no locking.
 */
export class DpRuntime {
  readonly state: DpState;
  readonly pipeline: Pipeline;
  /** The control socket; a data worker has none (the main thread serves control, dp/workers/pool.ts). */
  readonly server: CtrlServer | undefined;
  private timers: NodeJS.Timeout[] = [];

  private readonly publisher: EventPublisher | undefined;
  private readonly worker: number | undefined;
  private readonly reportIntervalMs: number;

  constructor(opts: DpRuntimeOptions) {
    const registry = new EndpointRegistry();
    const policy = new PolicyTable();
    const pubOpts = opts.eventsEndpoint ? { endpoint: opts.eventsEndpoint, log: opts.log } : undefined;
    this.publisher = !pubOpts
      ? undefined
      : opts.worker === undefined
        ? new EventPublisher(pubOpts)
        : new WorkerEventPublisher(pubOpts, opts.worker);
    this.worker = opts.worker;
    this.reportIntervalMs = opts.reportIntervalMs ?? 2000;
    // The engine and the pipeline refer to each other through the bridge and inject hooks.
    let pipelineRef: Pipeline | undefined;
    let bridge: EventBridge | undefined;
    const fastPath = opts.fastPath ? openFastPath(opts.fastPath, opts.log) : undefined;
    const engine =
      opts.engine ??
      new Engine({
        policy: policyHook(policy),
        emit: (ev) => bridge?.onEngineEvent(ev),
        inject: (f, len) => pipelineRef?.inject(f, len),
        ...(fastPath ? { fastPath } : {}),
        ...(opts.failSafe ? { failSafe: opts.failSafe } : {}),
        eventsPerSecond: LIVE_EVENTS_PER_SECOND,
        sessionIdStride: opts.workers ?? 1,
        sessionIdOffset: (opts.worker ?? 0) + 1,
      });
    this.pipeline = new Pipeline(registry, engine);
    pipelineRef = this.pipeline;
    if (fastPath) this.pipeline.afterFrames = () => fastPath.flush();
    bridge = new EventBridge(
      registry,
      policy,
      this.publisher ?? null,
      this.pipeline.frame,
      () => this.deviceCounters(),
      opts.log,
    );
    const pipeline = this.pipeline;
    const ports =
      opts.live === false
        ? undefined
        : new ServicePorts({
            onFrame: (buf, len, trunc, max, sink) => pipeline.onFrame(buf, len, trunc, max, sink),
            onBatch: (batch, n) => pipeline.onBatch(batch, n),
            onTxFail: (n) => {
              pipeline.counters.txPackets -= n;
              pipeline.counters.txErrors += n;
            },
            io: opts.io ?? 'auto',
            ...(opts.ringTx ? { ringTx: opts.ringTx } : {}),
            ...(opts.rxCoalesceUs !== undefined ? { rxCoalesceUs: opts.rxCoalesceUs } : {}),
            ...(opts.fanoutGroup !== undefined ? { fanoutGroup: opts.fanoutGroup } : {}),
          });
    this.state = {
      registry,
      engine,
      policy,
      policyChunks: new PolicyChunks(),
      events: bridge,
      ports,
      internalNets: new InternalNets(),
      pipelineCounters: this.pipeline.counters,
      ctrlCounters: new CtrlCounters(),
      debugCategories: new Set(),
      log: opts.log,
      baseLogLevel: opts.log.level,
      startedAtMs: Date.now(),
      fastPath,
    };
    const state = this.state;
    this.server =
      opts.worker !== undefined
        ? undefined
        : new CtrlServer(opts.ctrlPath, {
            get log() {
              return state.log;
            },
            ctrlCounters: state.ctrlCounters,
            dispatch: (buf) => {
              // Entries queued by the last frames go in before any configuration changes.
              state.fastPath?.flush();
              return dispatchDatagramStream(buf, state);
            },
          });
  }

  start(): void {
    // A data worker's control datagrams come from the main thread (dp/workers/pool.ts).
    this.server?.start();
    const clock = setInterval(() => {
      this.pipeline.nowMs = Date.now();
    }, CLOCK_MS);
    const tick = setInterval(() => {
      try {
        if (this.state.ports?.backend === 'ring') {
          this.pipeline.counters.ringDrops = this.state.ports.ringDrops();
          this.pipeline.counters.csumCompleted = this.state.ports.ringTotal('csumCompleted');
          this.pipeline.counters.rxCoalesced = this.state.ports.ringTotal('rxCoalesced');
        }
        this.state.engine.tick(Date.now());
        this.logPolicyErrors();
      } catch (e) {
        this.state.log.error({ err: e }, 'engine tick failed');
      }
    }, TICK_MS);
    // Flushed with or without a publisher: without one the interval's reports are
    // discarded, which is what keeps the aggregator bounded in a dp started without --events.
    const flush = setInterval(() => {
      try {
        this.state.events?.flush();
      } catch (e) {
        this.state.log.error({ err: e }, 'event flush failed');
      }
    }, this.reportIntervalMs);
    this.timers = [clock, tick, flush];
  }

  private policyErrorsLogged = 0;

  /** A policy exception is logged once per tick interval with how many there were. */
  private logPolicyErrors(): void {
    const n = (this.state.engine.counters as { policyErrors?: number }).policyErrors ?? 0;
    if (n === this.policyErrorsLogged) return;
    this.state.log.error(
      { policyErrors: n, since: n - this.policyErrorsLogged },
      'policy lookups failed: decided by the fail-safe choice',
    );
    this.policyErrorsLogged = n;
  }

  /** The device counters the periodic counters record carries (flat, numeric; dp/events/counters-record.ts). */
  deviceCounters(): Record<string, number> {
    return deviceRecord({
      pipeline: this.pipeline.counters,
      engine: this.state.engine.counters as DeviceCounters,
      fastPath: this.state.fastPath?.counters,
      publisherDropped: this.publisher?.dropped ?? 0,
    });
  }

  /** Closes ports and the socket (unlinking it); safe to call twice. */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.state.ports?.closeAll();
    try {
      this.state.fastPath?.close();
    } catch (e) {
      this.state.log.error({ err: e }, 'fast path close failed');
    }
    this.server?.stop();
    this.publisher?.close();
  }
}

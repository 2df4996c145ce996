import type { Logger } from '../../shared/log.js';
import { EndpointRegistry } from '../endpoints/registry.js';
import { ServicePorts } from '../io/live.js';
import { Pipeline, type EngineApi } from '../pipeline.js';
import { CtrlCounters } from './counters.js';
import { InternalNets } from './internal-net.js';
import { CtrlServer } from './server.js';
import type { DpState } from './state.js';

export interface DpRuntimeOptions {
  ctrlPath: string;
  engine: EngineApi;
  /** The engine's Verdict.Forward value. */
  forwardVerdict: number;
  log: Logger;
  /** false: no service ports can be opened (control-only tests). Default true. */
  live?: boolean;
}

/** How often the coarse packet clock advances; sessions time out in seconds, so 20 ms is ample. */
const CLOCK_MS = 20;
/** Engine housekeeping (idle timeouts). */
const TICK_MS = 1000;

/**
 * A running dp: control socket, endpoint registry, service ports and the pipeline,
 * all on one event loop. With `dp -n 1` (the only mode NeuVector's monitor uses) the
 * control thread and the data path share the loop: cap delivers frames synchronously
 * in its poll callback and control datagrams are handled between poll rounds, so a
 * config change is never seen half-applied by a frame and needs no locking.
 */
export class DpRuntime {
  readonly state: DpState;
  readonly pipeline: Pipeline;
  readonly server: CtrlServer;
  private timers: NodeJS.Timeout[] = [];

  constructor(opts: DpRuntimeOptions) {
    const registry = new EndpointRegistry();
    this.pipeline = new Pipeline(registry, opts.engine, opts.forwardVerdict);
    const pipeline = this.pipeline;
    const ports = opts.live === false ? undefined : new ServicePorts((buf, len, trunc, max, sink) => pipeline.onFrame(buf, len, trunc, max, sink));
    this.state = {
      registry,
      engine: opts.engine,
      ports,
      internalNets: new InternalNets(),
      pipelineCounters: this.pipeline.counters,
      ctrlCounters: new CtrlCounters(),
      debugCategories: new Set(),
      log: opts.log,
      baseLogLevel: opts.log.level,
      startedAtMs: Date.now(),
    };
    this.server = new CtrlServer(opts.ctrlPath, this.state);
  }

  start(): void {
    this.server.start();
    const clock = setInterval(() => {
      this.pipeline.nowMs = Date.now();
    }, CLOCK_MS);
    const tick = setInterval(() => {
      try {
        this.state.engine.tick(Date.now());
      } catch (e) {
        this.state.log.error({ err: e }, 'engine tick failed');
      }
    }, TICK_MS);
    this.timers = [clock, tick];
  }

  /** Closes ports and the socket (unlinking it); safe to call twice. */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.state.ports?.closeAll();
    this.server.stop();
  }
}

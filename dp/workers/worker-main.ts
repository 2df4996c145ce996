/**
 * Entry point of one dp -n N data worker (a worker_thread): the data side of a DpRuntime
 * (registry, policy, engine, pipeline, events) with its own ring sockets in the dp's
 * fanout group (member picked from the IP addresses), so the kernel hands it a share of the flows (both
 * directions of a flow to the same worker). It serves no socket: the main thread posts
 * every control datagram here and merges the replies (dp/workers/pool.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LevelWithSilent } from 'pino';
import { createLogger } from '../../shared/log.js';
import { errorMessage } from '../../shared/errors.js';
import { DpRuntime } from '../runtime.js';
import { dispatchDatagram } from '../ctrl/dispatch.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);

async function run(): Promise<void> {
  const log = createLogger('dp', init.logLevel as LevelWithSilent).child({ worker: init.worker });
  const rt = new DpRuntime({
    ctrlPath: '',
    log,
    ...(init.eventsEndpoint ? { eventsEndpoint: init.eventsEndpoint } : {}),
    reportIntervalMs: init.reportIntervalMs,
    io: init.io,
    ringTx: init.ringTx,
    rxCoalesceUs: init.rxCoalesceUs,
    worker: init.worker,
    workers: init.workers,
    ...(init.failSafe ? { failSafe: init.failSafe } : {}),
    fanoutGroup: init.fanoutGroup,
  });
  rt.start();
  if (init.iface) rt.state.ports!.open(init.iface);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'ctrl') {
      // Same handlers, same order as every other worker: the same configuration everywhere.
      post({
        type: 'replies',
        id: m.id,
        replies: dispatchDatagram(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength), rt.state),
      });
    } else if (m.type === 'stop') {
      rt.stop();
      post({ type: 'stopped' });
      port.close();
    }
  });
  post({ type: 'ready' });
}

run().catch((e: unknown) => post({ type: 'fatal', message: errorMessage(e) }));

/**
 * The dp's connection reports stay bounded under a burst of new flows: a real DpRuntime
 * (control socket, engine, pipeline, ZeroMQ publisher) gets 10,000 distinct UDP flows at
 * once, and the reports it holds between flushes never exceed MAX_HELD_REPORTS, with or
 * without an agent listening, while every session still reaches the agent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Pull } from 'zeromq';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { DpRuntime } from '../../dp/runtime.js';
import { MAX_HELD_REPORTS } from '../../dp/events/event-bridge.js';
import { DpClient } from '../../shared/ctrl/client.js';
import { decodeEvent } from '../../shared/events/codec.js';
import type { ConnectionRecord, EventRecord } from '../../shared/events/schema.js';
import { parseMac } from '../../shared/mac.js';
import { frame, ipv4, udp } from '../../scripts/pcapgen/frames.js';
import { tempSockPath } from '../helpers/dp-client.js';

const MAC = '02:74:67:00:00:0c';
const UC = '4e:65:75:56:00:0c';
const FLOWS = 10_000;

let rt: DpRuntime | undefined;
let cli: DpClient | undefined;
let pull: Pull | undefined;
afterEach(() => {
  cli?.close();
  rt?.stop();
  pull?.close();
  rt = cli = pull = undefined;
});

async function start(name: string, eventsEndpoint?: string): Promise<DpRuntime> {
  rt = new DpRuntime({
    ctrlPath: tempSockPath(name),
    log: pino({ level: 'silent' }),
    live: false,
    // A long interval: only the bound may send reports while the burst runs.
    reportIntervalMs: 600_000,
    ...(eventsEndpoint ? { eventsEndpoint } : {}),
  });
  rt.start();
  cli = new DpClient(rt.server!.path, name);
  cli.open();
  const r = await cli.request({
    ctrl_add_mac: { iface: 'vth', mac: MAC, ucmac: UC, bcmac: 'ff:ff:ff:00:00:0c', oldmac: '', pmac: '', pips: null },
  });
  expect(r.at(-1)).toHaveProperty('dp_ok');
  return rt;
}

/**
 * Sends FLOWS distinct client flows toward the workload, in batches of 64 with a turn of
 * the event loop between them (as the live ring hands them over); returns the most reports
 * held at any time.
 */
async function burst(runtime: DpRuntime): Promise<number> {
  const sink = { send: () => true };
  let most = 0;
  for (let i = 0; i < FLOWS; i++) {
    if (i % 64 === 0) await new Promise((r) => setImmediate(r));
    const client = `198.19.${i >> 8}.${i & 255}`;
    const l3 = ipv4(client, '198.18.0.12', 17, udp(client, '198.18.0.12', 1024 + (i % 60000), 53, Buffer.alloc(4)));
    const f = frame(l3, { dst: parseMac(UC), src: parseMac('02:99:00:00:00:01') });
    runtime.pipeline.onFrame(f, f.length, false, 1522, sink);
    most = Math.max(most, runtime.state.events!.agg.pending);
  }
  return most;
}

describe('connection reports under a burst of new flows', () => {
  it('are sent early at the bound, and every session reaches the agent', async () => {
    const ep = `ipc:///tmp/tg-evbound-${randomBytes(4).toString('hex')}.sock`;
    pull = new Pull();
    await pull.bind(ep);
    const runtime = await start('evbound', ep);
    let sessions = 0;
    const received = (async () => {
      for (;;) {
        const [msg] = await pull!.receive();
        const rec = decodeEvent(msg!) as EventRecord;
        if (rec.type === 'connection') sessions += (rec as ConnectionRecord).sessions;
        if (rec.type === 'counters') return rec;
      }
    })();
    expect(await burst(runtime)).toBeLessThanOrEqual(MAX_HELD_REPORTS);
    runtime.state.events!.flush();
    const counters = await received;
    expect(counters).toMatchObject({ eventsDropped: 0 });
    expect(sessions).toBe(FLOWS);
  });

  it('stay bounded without a publisher (a dp started without --events)', async () => {
    const runtime = await start('evbound-nopub');
    expect(await burst(runtime)).toBeLessThanOrEqual(MAX_HELD_REPORTS);
  });
});

/**
 * The `counters` record as the agent receives it (real DpRuntime, real ZeroMQ PUSH → PULL,
 * msgpack): the live path's counters under their own names, the engine's beside them, never
 * one standing in for the other (shared/names/counters.ts decides each key once).
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Pull } from 'zeromq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpRuntime } from '../../dp/runtime.js';
import { dispatchDatagram } from '../../dp/ctrl/dispatch.js';
import type { DeviceCounters } from '../../dp/stats/counters.js';
import { decodeEvent } from '../../shared/events/codec.js';
import type { CountersRecord, EventRecord } from '../../shared/events/schema.js';
import { parseMac } from '../../shared/mac.js';
import { DEVICE_RECORD_KEYS, RECORD_ENDPOINT_FIELDS } from '../../shared/names/counters.js';
import { frame, ipv4, udp } from '../../scripts/pcapgen/frames.js';
import { tempSockPath } from '../helpers/dp-client.js';

const WEB_MAC = '02:74:67:00:00:0a';
const WEB_UC = '4e:65:75:56:00:0a';
const STRAY_UC = '4e:65:75:56:0f:0f';
const PEER_MAC = '02:99:00:00:00:01';

let rt: DpRuntime;
let pull: Pull;

beforeAll(async () => {
  const endpoint = `ipc:///tmp/tg-ctrrec-${process.pid}-${randomBytes(3).toString('hex')}.sock`;
  pull = new Pull();
  await pull.bind(endpoint);
  // A report interval far beyond the test: the record is flushed by the test, once.
  rt = new DpRuntime({
    ctrlPath: tempSockPath('ctrrec'),
    log: pino({ level: 'silent' }),
    live: false,
    eventsEndpoint: endpoint,
    reportIntervalMs: 3_600_000,
  });
  const ctrl = (m: object): void => {
    const r = dispatchDatagram(Buffer.from(JSON.stringify(m)), rt.state);
    expect(r.at(-1)).toContain('dp_ok');
  };
  ctrl({
    ctrl_add_mac: {
      iface: 'vth',
      mac: WEB_MAC,
      ucmac: WEB_UC,
      bcmac: 'ff:ff:ff:00:00:0a',
      oldmac: '',
      pmac: '',
      pips: null,
    },
  });
  ctrl({ ctrl_cfg_mac: { tap: false, macs: [WEB_MAC] } });
});

afterAll(() => {
  rt?.stop();
  pull?.close();
});

async function nextCounters(): Promise<CountersRecord> {
  for (;;) {
    const [msg] = await pull.receive();
    const r = decodeEvent(msg!) as EventRecord;
    if (r.type === 'counters') return r;
  }
}

describe('the counters record', () => {
  it("carries the live path's noWorkload and rxBytes under their names, the engine's as engine.<name>", async () => {
    const sent: Buffer[] = [];
    const sink = {
      send: (b: Buffer, len: number) => {
        sent.push(Buffer.from(b.subarray(0, len)));
        return true;
      },
    };
    const l3 = ipv4('198.19.0.5', '198.18.0.10', 17, udp('198.19.0.5', '198.18.0.10', 40000, 53, Buffer.alloc(40)));
    // Two frames to a steering MAC no endpoint owns (dropped before the engine), one to the workload.
    const stray = frame(l3, { dst: parseMac(STRAY_UC), src: parseMac(PEER_MAC) });
    const toWeb = frame(l3, { dst: parseMac(WEB_UC), src: parseMac(PEER_MAC) });
    for (const f of [stray, stray, toWeb]) rt.pipeline.onFrame(f, f.length, false, 1522, sink);
    expect(sent).toHaveLength(1);

    rt.state.events!.flush();
    const rec = await nextCounters();
    const d = rec.device;
    const p = rt.pipeline.counters;
    const e = rt.state.engine.counters as DeviceCounters;
    expect(p.noWorkload).toBe(2);
    expect(d.noWorkload).toBe(2);
    expect(d['engine.noWorkload']).toBe(e.noWorkload);
    expect(d.rxBytes).toBe(stray.length * 2 + toWeb.length);
    expect(d['engine.rxBytes']).toBe(toWeb.length);
    expect(d.rxPackets).toBe(3);
    expect(d.rx).toBe(3);
    expect(d['engine.rx']).toBe(1);
    expect(d.tx).toBe(1);
    // Every key is one the tables define, and each of them is there.
    expect(
      Object.keys(d)
        .filter((k) => !k.startsWith('malformed.'))
        .sort(),
    ).toEqual([...DEVICE_RECORD_KEYS].filter((k) => !k.startsWith('fastPath')).sort());
    expect(rec.endpoints).toEqual([
      {
        mac: WEB_MAC,
        tap: false,
        ...Object.fromEntries(RECORD_ENDPOINT_FIELDS.map((k) => [k, rt.state.registry.byMac(WEB_MAC)!.counters[k]])),
      },
    ]);
    expect(rec.endpoints[0]).toMatchObject({ rxPackets: 1, rxBytes: toWeb.length, sessions: 1, curSessions: 1 });
  });
});

import { describe, expect, it } from 'vitest';
import { Engine } from '../../dp/engine.js';
import { EndpointRegistry } from '../../dp/endpoints/registry.js';
import { Pipeline, type FrameBatch, type FrameSink } from '../../dp/pipeline.js';

/**
 * Pipeline.onBatch (the ring backend's entry) and onFrame (cap's) are one verdict path:
 * the same frames, laid out at ring-like offsets in one buffer, get the same verdicts and
 * the same counters as when fed one by one.
 */
const UCMAC = Buffer.from([0x4e, 0x65, 0x75, 0x56, 0x00, 0xb4]);
const UNKNOWN = Buffer.from([0x4e, 0x65, 0x75, 0x56, 0x00, 0xc0]);
const PEER = Buffer.from([0x02, 0x99, 0, 0, 0, 1]);
const PLAIN = Buffer.from([0x02, 0x98, 0, 0, 0, 2]);

function udp(da: Buffer, sa: Buffer, sport: number, payload = 'x'): Buffer {
  const body = Buffer.from(payload);
  const ip = Buffer.alloc(28);
  ip[0] = 0x45;
  ip.writeUInt16BE(28 + body.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set([198, 18, 0, 1], 12);
  ip.set([198, 18, 0, 2], 16);
  ip.writeUInt16BE(sport, 20);
  ip.writeUInt16BE(53, 22);
  ip.writeUInt16BE(8 + body.length, 24);
  return Buffer.concat([da, sa, Buffer.from([8, 0]), ip, body]);
}

function setup(): { pipeline: Pipeline; sent: Buffer[] } {
  const registry = new EndpointRegistry();
  const { ep } = registry.add({
    iface: 'vth',
    mac: '02:11:22:33:44:55',
    ucmac: '4e:65:75:56:00:b4',
    bcmac: 'ff:ff:ff:00:00:b4',
    oldmac: '',
  });
  ep.tap = false;
  return { pipeline: new Pipeline(registry, new Engine()), sent: [] };
}

/** Frames of every kind the classifier tells apart. */
const frames = [
  udp(UCMAC, PEER, 1000, 'ingress'),
  udp(PEER, UCMAC, 1001, 'egress'),
  udp(UNKNOWN, PEER, 1002), // noWorkload
  udp(PLAIN, PEER, 1003), // notSteered
  Buffer.alloc(10, 1), // runt
  udp(UCMAC, PEER, 1004, 'y'.repeat(1600)), // oversize (max frame 1522)
  udp(UCMAC, PEER, 1005, 'again'),
];
const MAX_FRAME = 1522;

describe('Pipeline.onBatch', () => {
  it('gives the verdicts and counters onFrame gives, for frames at offsets in one buffer', () => {
    const one = setup();
    const sink: FrameSink = {
      send: (b, len) => {
        one.sent.push(Buffer.from(b.subarray(0, len)));
        return true;
      },
    };
    for (const f of frames) one.pipeline.onFrame(f, f.length, false, MAX_FRAME, sink);

    const batch = setup();
    const slot = 2048;
    const ring = new Uint8Array(slot * frames.length);
    const desc = new Int32Array(3 * frames.length);
    frames.forEach((f, i) => {
      const off = i * slot + 66; // where TPACKET_V2 puts the MAC header
      ring.set(f, off);
      desc.set([off, f.length, f.length], 3 * i);
    });
    const b: FrameBatch = {
      ring,
      desc,
      verdicts: new Uint8Array(frames.length).fill(9),
      maxFrame: MAX_FRAME,
      cursor: 0,
      send: () => true,
    };
    batch.pipeline.onBatch(b, frames.length);

    const forwarded = frames.filter((_, i) => b.verdicts[i] === 1).map((f) => f.toString('hex'));
    expect(forwarded).toEqual(one.sent.map((f) => f.toString('hex')));
    expect([...b.verdicts]).toEqual([1, 1, 0, 0, 0, 0, 1]);
    const { batches, ...rest } = batch.pipeline.counters;
    expect(batches).toBe(1);
    const { batches: cap, ...oneRest } = one.pipeline.counters;
    expect(cap).toBe(0);
    expect(rest).toEqual(oneRest);
    expect(rest.noWorkload).toBe(1);
    expect(rest.notSteered).toBe(1);
    expect(rest.runt).toBe(1);
    expect(rest.oversize).toBe(1);
    expect(b.cursor).toBe(frames.length);
  });

  it('a frame the ring cut (caplen < wirelen) is oversize and not forwarded', () => {
    const { pipeline } = setup();
    const f = udp(UCMAC, PEER, 2000);
    const ring = new Uint8Array(256);
    ring.set(f, 66);
    const b: FrameBatch = {
      ring,
      desc: Int32Array.from([66, f.length, f.length + 100]),
      verdicts: new Uint8Array(1),
      maxFrame: MAX_FRAME,
      cursor: 0,
      send: () => true,
    };
    pipeline.onBatch(b, 1);
    expect(b.verdicts[0]).toBe(0);
    expect(pipeline.counters.oversize).toBe(1);
    expect(pipeline.counters.txPackets).toBe(0);
  });
});

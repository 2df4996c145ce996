import { describe, expect, it } from 'vitest';
import { Pull } from 'zeromq';
import { randomBytes } from 'node:crypto';
import { EventPublisher } from '../../dp/events/publisher.js';
import { ConnectionAggregator, type ConnectionSample } from '../../dp/events/connection-aggregator.js';
import { decodeEvent } from '../../shared/events/codec.js';
import type { EventRecord } from '../../shared/events/schema.js';

const sample = (over: Partial<ConnectionSample> = {}): ConnectionSample => ({
  ep: '02:00:00:00:00:0a',
  client: '198.18.0.1',
  server: '198.18.0.10',
  serverPort: 80,
  proto: 6,
  ingress: true,
  external: false,
  ruleId: 0,
  action: 1,
  nowSec: 1000,
  ...over,
});

describe('connection aggregation', () => {
  it('aggregates sessions and bytes per key and keeps one violation sample per key', () => {
    const a = new ConnectionAggregator();
    a.sessionStarted(sample());
    a.sessionStarted(sample({ nowSec: 1001 }));
    a.addBytes(sample(), 500);
    a.sessionStarted(sample({ serverPort: 22, action: 7 }));
    const frame = Buffer.alloc(600, 0xab);
    a.violation(sample({ serverPort: 22, action: 7 }), true, frame, 600);
    a.violation(sample({ serverPort: 22, action: 7 }), true, frame, 600);
    const out = a.flush();
    const conns = out.filter((r) => r.type === 'connection');
    const viol = out.filter((r) => r.type === 'violation');
    expect(conns).toHaveLength(2);
    expect(conns.find((c) => c.serverPort === 80)).toMatchObject({
      sessions: 2,
      bytes: 500,
      firstSeen: 1000,
      lastSeen: 1001,
    });
    expect(viol).toHaveLength(1);
    expect(viol[0]).toMatchObject({ count: 2, dropped: true, pktLen: 600 });
    expect((viol[0] as { packet: Uint8Array }).packet.length).toBe(256);
    expect(a.flush()).toHaveLength(0);
  });
});

describe('event publisher', () => {
  it('delivers msgpack records to a PULL consumer', async () => {
    const ep = `ipc:///tmp/tg-evtest-${randomBytes(4).toString('hex')}.sock`;
    const pull = new Pull();
    await pull.bind(ep);
    const pub = new EventPublisher({ endpoint: ep });
    const a = new ConnectionAggregator();
    a.sessionStarted(sample());
    for (const r of a.flush()) pub.publish(r);
    const [msg] = await pull.receive();
    const rec = decodeEvent(msg!) as EventRecord;
    expect(rec).toMatchObject({ type: 'connection', server: '198.18.0.10', serverPort: 80, sessions: 1 });
    pub.close();
    pull.close();
  });

  it('never blocks and counts drops when no agent is listening', () => {
    const ep = `ipc:///tmp/tg-evtest-absent-${randomBytes(4).toString('hex')}.sock`;
    const pub = new EventPublisher({ endpoint: ep, maxQueue: 100 });
    const a = new ConnectionAggregator();
    for (let i = 0; i < 1000; i++) a.sessionStarted(sample({ serverPort: i }));
    for (const r of a.flush()) pub.publish(r); // returns synchronously every time
    expect(pub.queued).toBeLessThanOrEqual(100);
    expect(pub.dropped).toBe(900);
    pub.close();
  });

  it('decodeEvent rejects garbage without throwing', () => {
    expect(decodeEvent(Buffer.from([0xc1, 0xff, 0x00]))).toBeNull();
    expect(decodeEvent(Buffer.from('hello'))).toBeNull();
  });
});

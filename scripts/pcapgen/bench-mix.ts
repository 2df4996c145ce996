/**
 * The benchmark mix (docs/BENCHMARKS.md): ~1M packets over 10k TCP flows carrying HTTP-like
 * request/response exchanges, 25k DNS query/response pairs and 200 UDP media streams,
 * all in 198.18.0.0/15, interleaved with up to 512 flows active at once. Deterministic
 * for a seed. Written straight to a pcap so memory stays flat.
 */
import { Rng } from './rng.js';
import { TcpConversation } from './tcp-conversation.js';
import { frame, ipv4, udp } from './frames.js';
import { PcapWriter } from '../../shared/pcap/writer.js';

export interface MixOptions {
  seed?: number;
  tcpFlows?: number;
  dnsPairs?: number;
  udpStreams?: number;
  udpStreamPackets?: number;
}

export interface MixResult {
  packets: number;
  bytes: number;
  tcpFlows: number;
  dnsPairs: number;
  udpStreams: number;
}

const TEXT = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: max-age=60\r\nServer: pcapgen\r\n\r\n' +
    '<html><head><title>Tollgate bench</title></head><body>'.padEnd(4096, 'lorem ipsum dolor sit amet consectetur '),
);

function ip4(a: number, b: number, c: number, d: number): string {
  return `${a}.${b}.${c}.${d}`;
}

function* tcpFlow(i: number, rng: Rng): Generator<Buffer> {
  const client = ip4(198, 18, (i >> 8) & 63, i & 255);
  const server = ip4(198, 19, 0, 1 + (i % 50));
  const t = new TcpConversation(client, server, 10000 + (i % 50000), 80, {}, [rng.u32(), rng.u32()]);
  yield* t.handshake();
  const requests = rng.int(2, 4);
  for (let r = 0; r < requests; r++) {
    const req = `GET /api/v1/items/${i}/${r}?q=${rng.int(0, 1e6)} HTTP/1.1\r\nHost: svc-${i % 50}.bench\r\nAccept: */*\r\n\r\n`;
    yield t.data('c', Buffer.from(req.padEnd(rng.int(120, 360), 'x')));
    const segs = rng.int(8, 24);
    for (let s = 0; s < segs; s++) {
      const len = rng.int(64, 512);
      const off = rng.int(0, TEXT.length - len);
      yield t.data('s', s === 0 ? TEXT.subarray(0, len) : TEXT.subarray(off, off + len));
      if (s % 2 === 1) yield t.ack('c');
    }
  }
  yield* t.close(rng.next() < 0.5 ? 'c' : 's');
}

function* dnsPair(j: number, rng: Rng): Generator<Buffer> {
  const client = ip4(198, 18, 64 + ((j >> 8) & 127), j & 255);
  const server = ip4(198, 19, 1, 1 + (j % 4));
  const port = 20000 + (j % 40000);
  const q = Buffer.alloc(rng.int(30, 60), 0x61);
  q.writeUInt16BE(j & 0xffff, 0);
  yield frame(ipv4(client, server, 17, udp(client, server, port, 53, q)));
  const a = Buffer.alloc(rng.int(80, 220), 0x62);
  a.writeUInt16BE(j & 0xffff, 0);
  yield frame(ipv4(server, client, 17, udp(server, client, 53, port, a)));
}

function* udpStream(k: number, n: number, rng: Rng): Generator<Buffer> {
  const a = ip4(198, 18, 200, k & 255);
  const b = ip4(198, 19, 2, k & 255);
  const payload = Buffer.alloc(172, 0x80);
  for (let p = 0; p < n; p++) {
    const fromA = rng.next() < 0.9;
    payload.writeUInt16BE(p & 0xffff, 2);
    yield fromA
      ? frame(ipv4(a, b, 17, udp(a, b, 16384 + 2 * k, 16384 + 2 * k, payload)))
      : frame(ipv4(b, a, 17, udp(b, a, 16384 + 2 * k, 16384 + 2 * k, payload)));
  }
}

export function writeBenchMix(path: string, o: MixOptions = {}): MixResult {
  const rng = new Rng(o.seed ?? 2024);
  const tcpFlows = o.tcpFlows ?? 10_000;
  const dnsPairs = o.dnsPairs ?? 25_000;
  const udpStreams = o.udpStreams ?? 200;
  const streamPackets = o.udpStreamPackets ?? 700;
  // Flow order: a seeded shuffle of all flows; udp streams start early and run long.
  const pending: (() => Generator<Buffer>)[] = [];
  for (let k = 0; k < udpStreams; k++) pending.push(() => udpStream(k, streamPackets, rng));
  const rest: (() => Generator<Buffer>)[] = [];
  for (let i = 0; i < tcpFlows; i++) rest.push(() => tcpFlow(i, rng));
  for (let j = 0; j < dnsPairs; j++) rest.push(() => dnsPair(j, rng));
  for (let i = rest.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  pending.push(...rest);
  pending.reverse(); // pop() from the end = original order

  const w = new PcapWriter(path);
  const active: Generator<Buffer>[] = [];
  let ts = 1_704_067_200_000;
  let bytes = 0;
  const MAX_ACTIVE = 512;
  while (active.length > 0 || pending.length > 0) {
    while (active.length < MAX_ACTIVE && pending.length > 0) active.push(pending.pop()!());
    const idx = rng.int(0, active.length - 1);
    const g = active[idx]!;
    const n = g.next();
    if (n.done) {
      active[idx] = active[active.length - 1]!;
      active.pop();
      continue;
    }
    ts += rng.int(5, 15) / 1000;
    w.write(n.value, 0, n.value.length, ts);
    bytes += n.value.length;
  }
  w.close();
  return { packets: w.packets, bytes, tcpFlows, dnsPairs, udpStreams };
}

import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { ringAddon } from '../../dp/io/ring-native.js';

/**
 * The building block for `dp -n N` workers: two ring sockets on one port in one fanout
 * group split the traffic by flow, every frame reaches exactly one of them, and both
 * directions of a flow reach the same one, its fragments included (the addon's classic BPF
 * fan-out program picks the socket from the IP addresses). The sockets are opened by a node
 * process inside the lab namespace, straight on the addon.
 */
const SEND = fileURLToPath(new URL('../helpers/send-frame.py', import.meta.url));
const ADDON = fileURLToPath(new URL('../../native/build/Release/packet_ring.node', import.meta.url));

/**
 * argv: addon path, frames expected, and "addr" to key flows by their address pair only
 * (fragments carry no ports). Prints "ready", then one JSON line: per socket, the flow keys it saw.
 */
const FANOUT_SCRIPT = `
const ring = require(process.argv[1]);
const expected = Number(process.argv[2]);
const byAddr = process.argv[3] === 'addr';
const seen = [new Map(), new Map()];
let total = 0;
const socks = [];
const done = () => {
  for (const s of socks) s.close();
  console.log(JSON.stringify(seen.map((m) => Object.fromEntries(m))));
  process.exit(0);
};
for (let k = 0; k < 2; k++) {
  let r;
  r = ring.open('vth', { frameSize: 2048, rxFrames: 256, txFrames: 16, batch: 64, fanoutGroup: 0x7a11, txRing: 0 }, (n) => {
    const buf = Buffer.from(r.ring);
    for (let i = 0; i < n; i++) {
      const o = r.desc[3 * i];
      if (buf.readUInt16BE(o + 12) !== 0x0800 || buf[o + 23] !== 17) continue;
      // The flow key in a fixed orientation (lower address:port first), and the direction.
      const a = buf.readUInt32BE(o + 26) + (byAddr ? '' : ':' + buf.readUInt16BE(o + 34));
      const b = buf.readUInt32BE(o + 30) + (byAddr ? '' : ':' + buf.readUInt16BE(o + 36));
      const key = a < b ? a + '-' + b : b + '-' + a;
      seen[k].set(key, (seen[k].get(key) ?? 0) + 1);
      if (++total === expected) setImmediate(done);
    }
  });
  socks.push(r);
}
setTimeout(done, 10000);
console.log('ready');
`;

const prefix = testPrefix();
const NS = `${prefix}fan`;
const FLOWS = 64;

function sh(...argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
}
function ipChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
/** A UDP frame; `frag` = [offset in 8-byte units, more fragments] makes it a fragment (the second without a UDP header). */
function udp(sip: number[], dip: number[], sport: number, dport: number, frag?: [number, boolean]): Buffer {
  const ip = Buffer.alloc(28);
  ip[0] = 0x45;
  ip.writeUInt16BE(28 + 4, 2);
  if (frag) ip.writeUInt16BE(0x4242, 4); // IP ID
  if (frag) ip.writeUInt16BE((frag[1] ? 0x2000 : 0) | frag[0], 6);
  ip[8] = 64;
  ip[9] = 17;
  ip.set(sip, 12);
  ip.set(dip, 16);
  ip.writeUInt16BE(ipChecksum(ip.subarray(0, 20)), 10);
  ip.writeUInt16BE(sport, 20);
  ip.writeUInt16BE(dport, 22);
  ip.writeUInt16BE(12, 24);
  const mac = Buffer.from([0x4e, 0x65, 0x75, 0x56, 0, 0xb4, 0x02, 0x99, 0, 0, 0, 1]);
  return Buffer.concat([mac, Buffer.from([8, 0]), ip, Buffer.from('fan!')]);
}

describe.skipIf(!isRoot || !ringAddon())('ring sockets in one fanout group', () => {
  beforeAll(async () => {
    sh('ip', 'netns', 'add', NS);
    sh(
      'nsenter',
      `--net=/run/netns/${NS}`,
      '--',
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    );
    sh('ip', '-n', NS, 'link', 'add', 'vbr', 'type', 'veth', 'peer', 'name', 'vth');
    for (const l of ['vbr', 'vth']) sh('ip', '-n', NS, 'link', 'set', l, 'up');
    for (let i = 0; i < 100; i++) {
      const l = sh('ip', '-n', NS, 'link', 'show', 'vbr') + sh('ip', '-n', NS, 'link', 'show', 'vth');
      if (!l.includes('qdisc noop') && !l.includes('state DOWN') && !l.includes('LOWERLAYERDOWN')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(() => {
    try {
      sh('ip', 'netns', 'del', NS);
    } catch {
      /* gone */
    }
  });

  it('splits flows between the sockets, each frame to one socket, both directions of a flow to the same one', async () => {
    const frames: Buffer[] = [];
    for (let f = 0; f < FLOWS; f++) {
      const client = [198, 18, 1, f + 1];
      const server = [198, 19, 0, 2];
      frames.push(udp(client, server, 30000 + f, 53), udp(server, client, 53, 30000 + f));
    }
    const seen = await fanOut(frames, 'port');
    const [a, b] = [seen[0]!, seen[1]!];
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    expect(keys.size).toBe(FLOWS);
    for (const k of keys) {
      // Both frames of the flow (one per direction) on exactly one socket.
      expect([a[k] ?? 0, b[k] ?? 0].sort()).toEqual([0, 2]);
    }
    // 64 flows: both sockets get work (all on one would be a 2^-63 event for a fair hash).
    expect(Object.keys(a).length).toBeGreaterThan(0);
    expect(Object.keys(b).length).toBeGreaterThan(0);
  });

  it('finding 7: the fragments of a datagram reach the socket that has the rest of its flow', async () => {
    const frames: Buffer[] = [];
    for (let f = 0; f < FLOWS; f++) {
      const client = [198, 18, 2, f + 1];
      const server = [198, 19, 0, 3];
      // A whole datagram each way, then a datagram in two fragments (the second has no ports).
      frames.push(udp(client, server, 31000 + f, 53), udp(server, client, 53, 31000 + f));
      frames.push(udp(client, server, 31000 + f, 53, [0, true]), udp(client, server, 0, 0, [2, false]));
    }
    const seen = await fanOut(frames, 'addr');
    const [a, b] = [seen[0]!, seen[1]!];
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    expect(keys.size).toBe(FLOWS);
    for (const k of keys) expect([a[k] ?? 0, b[k] ?? 0].sort()).toEqual([0, 4]);
    expect(Object.keys(a).length).toBeGreaterThan(0);
    expect(Object.keys(b).length).toBeGreaterThan(0);
  });
});

/** Sends `frames` into vth of the lab and returns, per fanout member socket, the flow keys it saw. */
async function fanOut(frames: Buffer[], key: 'port' | 'addr'): Promise<Record<string, number>[]> {
  const child = spawn(
    'nsenter',
    [`--net=/run/netns/${NS}`, '--', 'node', '-e', FANOUT_SCRIPT, ADDON, String(frames.length), key],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  try {
    for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('ready');
    sh('nsenter', `--net=/run/netns/${NS}`, '--', 'python3', SEND, 'vbr', ...frames.map((f) => f.toString('hex')));
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  return JSON.parse(out.split('\n').find((l) => l.startsWith('['))!) as Record<string, number>[];
}

/**
 * Correctness and fail-safety through the control socket of an in-process dp (real
 * DpRuntime: real socket, registry, policy table, engine with its policy hook, pipeline),
 * driven by the agent's own dp client; frames go through the live pipeline's verdict path.
 * One describe per fail-safety property (docs/ARCHITECTURE.md "Fail-safe choices").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DpRuntime } from '../../dp/runtime.js';
import { CtrlServer } from '../../dp/ctrl/server.js';
import { CtrlCounters } from '../../dp/ctrl/counters.js';
import { dispatchDatagramStream } from '../../dp/ctrl/dispatch.js';
import type { Engine } from '../../dp/engine.js';
import { MAX_POLICY_RULES } from '../../dp/ctrl/limits.js';
import { DpClient, type DpReply } from '../../shared/ctrl/client.js';
import { createUnixDgramSocket } from '../../shared/unix-dgram.js';
import { parseMac } from '../../shared/mac.js';
import { TCP, frame, icmp4, ipv4, tcp, udp } from '../../scripts/pcapgen/frames.js';
import { DP_BIN, tempSockPath } from '../helpers/dp-client.js';
import { spawnSync } from 'node:child_process';

const logs: Record<string, unknown>[] = [];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk, _e, cb) {
      logs.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  }),
);

const WEB_MAC = '02:74:67:00:00:0a';
const WEB_UC = '4e:65:75:56:00:0a';
const DB_MAC = '02:74:67:00:00:0b';
const DB_UC = '4e:65:75:56:00:0b';
const PEER_MAC = '02:99:00:00:00:01';
const WEB = '198.18.0.10';
const PEER = '198.19.0.5';

const addMac = (mac: string, ucmac: string, oldmac = '') => ({
  ctrl_add_mac: { iface: 'vth', mac, ucmac, bcmac: `ff:ff:ff:00:${ucmac.slice(12)}`, oldmac, pmac: '', pips: null },
});
const anyRule = (id: number, proto: number, port: number, action: number) => ({
  id,
  sip: '0.0.0.0',
  sipr: '255.255.255.255',
  dip: '0.0.0.0',
  dipr: '255.255.255.255',
  proto,
  port,
  action,
  ingress: true,
});
const policy = (mac: string, defact: number, rules: unknown[]) => ({
  ctrl_cfg_policy: { cmd: 1, flag: 3, defact, dir: 0, mac: [mac], rules },
});

let rt: DpRuntime;
let cli: DpClient;

/** Runs frames toward (ingress) or from (egress) the workload of `ucmac` through the pipeline; returns what went out. */
function wire(frames: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  // push() returns the new length, never 0: every frame is sent.
  const sink = { send: (b: Buffer, len: number) => out.push(Buffer.from(b.subarray(0, len))) > 0 };
  for (const f of frames) rt.pipeline.onFrame(f, f.length, false, 1522, sink);
  return out;
}
const toWl = (ucmac: string, l3: Buffer) => frame(l3, { dst: parseMac(ucmac), src: parseMac(PEER_MAC) });
const fromWl = (ucmac: string, l3: Buffer) => frame(l3, { dst: parseMac(PEER_MAC), src: parseMac(ucmac) });

async function ok(msg: object): Promise<DpReply[]> {
  const r = await cli.request(msg);
  expect(r.at(-1), JSON.stringify(r)).toHaveProperty('dp_ok');
  return r;
}

beforeAll(async () => {
  // One endpoint holds all 100,000 sessions of the listing test: its quota is raised for that.
  rt = new DpRuntime({
    ctrlPath: tempSockPath('fsafe'),
    log,
    live: false,
    failSafe: { sessionsPerEndpoint: 120_000 },
  });
  rt.start();
  cli = new DpClient(rt.server!.path, 'fsafe');
  cli.open();
  await ok(addMac(WEB_MAC, WEB_UC));
  await ok({ ctrl_cfg_mac: { tap: false, macs: [WEB_MAC] } });
});
afterAll(() => {
  cli?.close();
  rt?.stop();
});

describe('finding 11: ctrl_cfg_policy over the socket decides live frames (finding 4: every policy input re-decides)', () => {
  it('rules, internal nets, the ICMP switch and the mode each decide existing sessions again', async () => {
    await ok({ ctrl_cfg_internal_net: { flag: 3, subnet_addr: [{ ip: '198.18.0.0', mask: '255.255.255.0' }] } });
    await ok(
      policy(WEB_MAC, 7, [
        { id: 20, sip: '0.0.0.0', dip: WEB, port: 80, proto: 6, action: 2, ingress: true },
        anyRule(21, 17, 53, 2),
      ]),
    );
    const syn = toWl(WEB_UC, ipv4(PEER, WEB, 6, tcp(PEER, WEB, 45000, 80, 1, 0, TCP.SYN)));
    const synAck = fromWl(WEB_UC, ipv4(WEB, PEER, 6, tcp(WEB, PEER, 80, 45000, 9, 2, TCP.SYN | TCP.ACK)));
    const denied = toWl(WEB_UC, ipv4(PEER, WEB, 6, tcp(PEER, WEB, 45001, 22, 1, 0, TCP.SYN)));
    expect(wire([syn, synAck, denied])).toHaveLength(2);
    // The peer becomes internal: the external-only rule no longer admits the session; resets both ways.
    await ok({ ctrl_cfg_internal_net: { flag: 3, subnet_addr: [{ ip: '198.18.0.0', mask: '255.254.0.0' }] } });
    const data = toWl(
      WEB_UC,
      ipv4(PEER, WEB, 6, tcp(PEER, WEB, 45000, 80, 2, 10, TCP.ACK | TCP.PSH, Buffer.from('GET /'))),
    );
    const out = wire([data]);
    expect(out).toHaveLength(2); // the two resets, not the data
    expect(out.every((f) => (f[14 + 20 + 13]! & TCP.RST) !== 0)).toBe(true);
    expect(rt.pipeline.counters.injected).toBe(2);
    // ICMP: implicitly allowed, until ctrl_enable_icmp_policy turns policing on.
    const echo = (seq: number) => toWl(WEB_UC, ipv4(PEER, WEB, 1, icmp4(8, 0, (9 << 16) | seq, Buffer.alloc(8))));
    expect(wire([echo(1)])).toHaveLength(1);
    await ok({ ctrl_enable_icmp_policy: { enable_icmp_policy: true } });
    expect(wire([echo(2)])).toHaveLength(0);
    await ok({ ctrl_enable_icmp_policy: { enable_icmp_policy: false } });
    // Mode: a UDP session allowed, then tapped (no frames go out), then inline again.
    const dns = toWl(WEB_UC, ipv4(PEER, WEB, 17, udp(PEER, WEB, 45002, 53, Buffer.alloc(12))));
    expect(wire([dns])).toHaveLength(1);
    await ok({ ctrl_cfg_mac: { tap: true, macs: [WEB_MAC] } });
    expect(wire([dns])).toHaveLength(0);
    await ok({ ctrl_cfg_mac: { tap: false, macs: [WEB_MAC] } });
    expect(wire([dns])).toHaveLength(1);
    await ok(policy(WEB_MAC, 0, []));
  });
});

describe('finding 6: counters', () => {
  it("an endpoint's drop_packets counts each dropped frame once", async () => {
    await ok(policy(WEB_MAC, 7, []));
    const before = (await cli.request({ ctrl_stats_macs: { macs: [WEB_MAC] } }))[0]!.dp_stats_macs as {
      drop_packets: number;
    };
    const frames = [1, 2, 3].map((i) =>
      toWl(WEB_UC, ipv4(PEER, WEB, 17, udp(PEER, WEB, 46000 + i, 9, Buffer.alloc(4)))),
    );
    expect(wire(frames)).toHaveLength(0);
    const after = (await cli.request({ ctrl_stats_macs: { macs: [WEB_MAC] } }))[0]!.dp_stats_macs as {
      drop_packets: number;
    };
    expect(after.drop_packets - before.drop_packets).toBe(3);
    await ok(policy(WEB_MAC, 0, []));
  });

  it('after ctrl_add_mac with oldmac, events carry the new MAC', async () => {
    await ok(addMac(DB_MAC, DB_UC));
    const ev = (sport: number) =>
      toWl(DB_UC, ipv4(PEER, '198.18.0.11', 17, udp(PEER, '198.18.0.11', sport, 53, Buffer.alloc(4))));
    wire([ev(47000)]);
    const first = rt.state.events!.agg.flush();
    expect(first.some((r) => r.type === 'connection' && r.ep === DB_MAC)).toBe(true);
    const NEW_MAC = '02:74:67:00:01:0b';
    await ok(addMac(NEW_MAC, DB_UC, DB_MAC));
    wire([ev(47001)]);
    const second = rt.state.events!.agg.flush().filter((r) => r.type === 'connection');
    expect(second.map((r) => r.ep)).toEqual([NEW_MAC]);
    await ok({ ctrl_del_mac: { mac: NEW_MAC } });
  });

  it("the counters record carries the live path's noWorkload and rxBytes, the engine's beside them", () => {
    const stray = toWl('4e:65:75:56:0f:0f', ipv4(PEER, WEB, 17, udp(PEER, WEB, 1, 2, Buffer.alloc(4))));
    wire([stray, stray]);
    const d = rt.deviceCounters();
    expect(d.noWorkload).toBe(rt.pipeline.counters.noWorkload);
    expect(d.noWorkload).toBeGreaterThanOrEqual(2);
    expect(d.rxBytes).toBe(rt.pipeline.counters.rxBytes);
    expect(d['engine.rxBytes']).toBe((rt.state.engine.counters as { rxBytes: number }).rxBytes);
    expect(d.rxBytes).not.toBe(d['engine.rxBytes']);
  });
});

describe('finding 14: endpoint keys are unique', () => {
  it('a ucmac or MAC another endpoint uses is refused (in any case), and the first endpoint keeps its frames', async () => {
    await ok(policy(WEB_MAC, 7, [anyRule(30, 17, 53, 2)]));
    const r = await cli.request(addMac('02:74:67:00:00:0c', WEB_UC.toUpperCase()));
    expect(r[0]).toMatchObject({ dp_error: { code: 'EINUSE', field: 'ctrl_add_mac.ucmac' } });
    const r2 = await cli.request(addMac(WEB_UC.toUpperCase(), '4e:65:75:56:00:0d'));
    expect(r2[0]).toMatchObject({ dp_error: { code: 'EINUSE', field: 'ctrl_add_mac.mac' } });
    await ok({ ctrl_cfg_mac: { tap: false, macs: [WEB_MAC] } });
    // The original endpoint still owns its steering MAC: its denied traffic stays denied.
    const denied = toWl(WEB_UC, ipv4(PEER, WEB, 17, udp(PEER, WEB, 48000, 9, Buffer.alloc(4))));
    expect(wire([denied])).toHaveLength(0);
    expect(rt.state.registry.byMacNumber(Number.parseInt(WEB_UC.replaceAll(':', ''), 16))?.mac).toBe(WEB_MAC);
    // Replacing its own record (same mac, or oldmac naming it) is allowed.
    await ok(addMac(WEB_MAC, WEB_UC));
    await ok(policy(WEB_MAC, 0, []));
  });
});

describe('finding 15: memory is bounded', () => {
  it('pending ctrl_cfg_policy chunks are capped: START without END cannot pile up', async () => {
    const chunk = Array.from({ length: 40 }, (_, i) => anyRule(1000 + i, 6, 1000 + i, 2));
    let rejected: DpReply | undefined;
    let sent = 0;
    for (let i = 0; sent <= MAX_POLICY_RULES + chunk.length; i++) {
      const r = await cli.request({
        ctrl_cfg_policy: { cmd: 1, flag: i === 0 ? 1 : 0, defact: 7, dir: 0, mac: [WEB_MAC], rules: chunk },
      });
      sent += chunk.length;
      if (r[0]!.dp_error) {
        rejected = r[0];
        break;
      }
    }
    expect(rejected).toMatchObject({ dp_error: { code: 'ELIMIT' } });
    expect(sent).toBeGreaterThan(MAX_POLICY_RULES);
    // The pending policy is gone: an END now has no START.
    const end = await cli.request({
      ctrl_cfg_policy: { cmd: 1, flag: 2, defact: 7, dir: 0, mac: [WEB_MAC], rules: [] },
    });
    expect(end[0]).toMatchObject({ dp_error: { code: 'ECHUNK' } });
  }, 120_000);

  it('ctrl_list_session streams: 100,000 sessions are listed without building the whole list first', async () => {
    const engine = rt.state.engine as Engine;
    engine.clearSessions();
    const f = toWl(WEB_UC, ipv4(PEER, WEB, 17, udp(PEER, WEB, 1, 53, Buffer.alloc(4))));
    for (let i = 0; i < 100_000; i++) {
      f.writeUInt16BE(1024 + (i % 60000), 14 + 20); // source port
      f.writeUInt16BE(i < 60000 ? 0x0005 : 0x0105, 14 + 14); // 198.19.0.5 / 198.19.1.5
      wire([f]);
    }
    expect(engine.sessionCount().cur).toBe(100_000);
    // Taking the first datagram reads only the sessions that fit in it.
    let pulled = 0;
    const orig = engine.sessionRecords.bind(engine);
    const counting = function* (max?: number) {
      for (const r of orig(max)) {
        pulled++;
        yield r;
      }
    };
    const saved = engine.sessionRecords;
    engine.sessionRecords = counting as typeof engine.sessionRecords;
    try {
      const it = dispatchDatagramStream(Buffer.from('{"ctrl_list_session":{}}'), rt.state)[Symbol.iterator]();
      const first = JSON.parse(it.next().value as string) as {
        dp_session_list: { more: boolean; sessions: unknown[] };
      };
      expect(first.dp_session_list.more).toBe(true);
      expect(pulled).toBeLessThanOrEqual(first.dp_session_list.sessions.length + 1);
    } finally {
      engine.sessionRecords = saved;
    }
    // Over the socket, the whole list arrives.
    const replies = await cli.request({ ctrl_list_session: {} }, 60_000);
    const last = replies.at(-1)!.dp_session_list as { more: boolean; total: number; truncated: number };
    expect(last).toMatchObject({ more: false, total: 100_000, truncated: 0 });
    const listed = replies.reduce((n, r) => n + (r.dp_session_list as { sessions: unknown[] }).sessions.length, 0);
    expect(listed).toBe(100_000);
    engine.clearSessions();
  }, 120_000);
  it('compiling a 65,536-rule policy does not stall forwarding: each chunk is compiled as it arrives, frames between chunks meet the policy in force, END swaps in the whole policy', async () => {
    const engine = rt.state.engine as Engine;
    await ok(policy(WEB_MAC, 7, [anyRule(1, 6, 80, 2)])); // in force: TCP 80 only
    let sp = 0;
    const syn = (port: number) =>
      toWl(WEB_UC, ipv4(PEER, WEB, 6, tcp(PEER, WEB, 20000 + (sp++ % 40000), port, 1, 0, TCP.SYN)));
    const passes = (port: number) => wire([syn(port)]).length === 1;
    // Frames keep arriving from the event loop itself while the chunks go over the socket.
    let inLoop = 0;
    let inLoopForwarded = 0;
    let sending = true;
    const injector = () => {
      if (!sending) return;
      inLoop++;
      if (passes(80)) inLoopForwarded++;
      setImmediate(injector);
    };
    setImmediate(injector);
    const CHUNK = 40;
    const rules = Array.from({ length: MAX_POLICY_RULES - 1 }, (_, i) => anyRule(100 + i, 17, 10000 + (i % 50000), 2));
    rules.push(anyRule(99, 6, 9999, 2)); // the new policy: TCP 9999, not 80
    for (let i = 0; i < rules.length; i += CHUNK) {
      const last = i + CHUNK >= rules.length;
      if (last) sending = false; // frames from here on may meet the new policy
      const r = await cli.request({
        ctrl_cfg_policy: {
          cmd: 1,
          flag: (i === 0 ? 1 : 0) | (last ? 2 : 0),
          defact: 7,
          dir: 0,
          mac: [WEB_MAC],
          rules: rules.slice(i, i + CHUNK),
        },
      });
      expect(r.at(-1), JSON.stringify(r)).toHaveProperty('dp_ok');
      if (last) break;
      // Compiled on arrival: END will have nothing left to compile.
      expect(rt.state.policyChunks.pendingRules).toBe(i + CHUNK);
      if ((i / CHUNK) % 128 === 0) expect([passes(80), passes(9999)]).toEqual([true, false]);
    }
    expect(rt.state.policyChunks.pendingRules).toBe(0);
    // The loop ran between the chunks (each chunk is one datagram), under the policy in force.
    expect(inLoop).toBeGreaterThan(100);
    expect(inLoopForwarded).toBe(inLoop);
    expect([passes(80), passes(9999)]).toEqual([false, true]);
    engine.clearSessions();
    await ok({ ctrl_cfg_policy: { cmd: 3, flag: 3, defact: 0, dir: 0, mac: [WEB_MAC], rules: [] } });
  }, 120_000);
});

describe('finding 16: the control socket path', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tg-ctrlpath-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const server = (path: string) => new CtrlServer(path, { log, ctrlCounters: new CtrlCounters(), dispatch: () => [] });

  it('a directory at the path is an error naming the path, and is left alone', () => {
    const p = join(dir, 'dp_listen.sock');
    mkdirSync(p);
    writeFileSync(join(p, 'keep'), 'x');
    expect(() => server(p).start()).toThrow(`control socket path ${p} is a directory, not a socket`);
    expect(existsSync(join(p, 'keep'))).toBe(true);
  });

  it('the dp process started on a directory exits 1 with that message, no stack trace', () => {
    const p = join(dir, 'proc.sock');
    mkdirSync(p);
    const r = spawnSync('node', [DP_BIN, '--ctrl', p, '--log-level', 'silent'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      `dp: control socket path ${p} is a directory, not a socket: remove it or choose another --ctrl path`,
    );
  });

  it('a regular file is an error too; a stale socket is replaced', () => {
    const f = join(dir, 'file.sock');
    writeFileSync(f, 'data');
    expect(() => server(f).start()).toThrow(`control socket path ${f} is a regular file`);
    const s = join(dir, 'stale.sock');
    const stale = createUnixDgramSocket();
    stale.bind(s);
    stale.close(); // the path stays behind, as after a dp that was killed
    expect(statSync(s).isSocket()).toBe(true);
    const srv = server(s);
    srv.start();
    expect(statSync(s).isSocket()).toBe(true);
    srv.stop();
  });
});

describe("finding 8: the agent's dp client matches each reply to its request", () => {
  it('a late reply of a timed-out request never becomes the answer to the next one', async () => {
    // A dp that answers in order but late: replies are held back for `stallMs` after each datagram.
    const path = tempSockPath('slowdp');
    const sock = createUnixDgramSocket();
    let stallUntil = 0;
    const queue: { buf: Buffer; to: string }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = () => {
      timer = undefined;
      for (const q of queue.splice(0)) sock.send(q.buf, 0, q.buf.length, q.to, () => {});
    };
    sock.on('error', () => {});
    sock.on('message', (buf, rinfo) => {
      const msg = JSON.parse(buf.toString()) as Record<string, { seq_num?: number }>;
      const key = Object.keys(msg)[0]!;
      const reply =
        key === 'ctrl_keep_alive' ? { dp_keep_alive: { seq_num: msg[key]!.seq_num } } : { dp_ok: { ctrl: key } };
      queue.push({ buf: Buffer.from(JSON.stringify(reply)), to: rinfo.path! });
      if (!timer) timer = setTimeout(drain, Math.max(0, stallUntil - Date.now()));
    });
    sock.bind(path);
    const c = new DpClient(path, 'late');
    c.open();
    try {
      stallUntil = Date.now() + 400;
      await expect(c.request({ ctrl_add_mac: {} }, 150)).rejects.toMatchObject({ code: 'EDPTIMEOUT' });
      // The next request is sent while the first one's replies are still on their way.
      const r = await c.request({ ctrl_stats_device: {} }, 3000);
      expect(r).toEqual([{ dp_ok: { ctrl: 'ctrl_stats_device' } }]);
      expect(c.staleReplies).toBeGreaterThan(0);
    } finally {
      c.close();
      sock.close();
      if (timer) clearTimeout(timer);
    }
  });
});

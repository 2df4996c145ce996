/**
 * Fail-safety through the control socket of an in-process dp (test/helpers/ctrl-rig.ts):
 * memory bounds (pending policy chunks, session listings, the chunk-by-chunk compile of a
 * 65,536-rule policy) and the control socket's path. Split from fail-safety-ctrl.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CtrlServer } from '../../dp/ctrl/server.js';
import { CtrlCounters } from '../../dp/ctrl/counters.js';
import { dispatchDatagramStream } from '../../dp/ctrl/dispatch.js';
import type { Engine } from '../../dp/engine.js';
import { MAX_POLICY_RULES } from '../../dp/ctrl/limits.js';
import type { DpReply } from '../../shared/ctrl/client.js';
import { createUnixDgramSocket } from '../../shared/unix-dgram.js';
import { TCP, ipv4, tcp, udp } from '../../scripts/pcapgen/frames.js';
import { DP_BIN } from '../helpers/dp-client.js';
import { spawnSync } from 'node:child_process';
import {
  PEER,
  WEB,
  WEB_MAC,
  WEB_UC,
  anyRule,
  cli,
  log,
  ok,
  policy,
  rt,
  startCtrlRig,
  stopCtrlRig,
  toWl,
  wire,
} from '../helpers/ctrl-rig.js';

beforeAll(() => startCtrlRig('fsafelim'));
afterAll(stopCtrlRig);

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

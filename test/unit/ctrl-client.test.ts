/**
 * The one dp control client (shared/ctrl/client.ts): each reply goes to the request it
 * answers. Against a real in-process dp (DpRuntime, real socket) and against a peer that
 * answers late (as a dp stalled by a long control message or a frame burst would).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpClient } from '../../shared/ctrl/client.js';
import { createUnixDgramSocket } from '../../shared/unix-dgram.js';
import { DpRuntime } from '../../dp/runtime.js';
import { tempSockPath } from '../helpers/dp-client.js';

let rt: DpRuntime;

beforeAll(() => {
  rt = new DpRuntime({
    ctrlPath: tempSockPath('ctrlcli'),
    log: pino({ level: 'silent' }),
    live: false,
  });
  rt.start();
});

afterAll(() => rt?.stop());

describe('the dp control client', () => {
  it('hands every one of many overlapping requests its own replies', async () => {
    const c = new DpClient(rt.server!.path, 'overlap');
    c.open();
    try {
      const seqs = Array.from({ length: 50 }, (_, i) => 1000 + i);
      const all = await Promise.all(seqs.map((s) => c.request({ ctrl_keep_alive: { seq_num: s } })));
      expect(all).toEqual(seqs.map((s) => [{ dp_keep_alive: { seq_num: s } }]));
      // A datagram of two messages: both replies, in order; a malformed one: its error.
      expect(await c.request('{"ctrl_nope":{},"ctrl_keep_alive":{"seq_num":7}}')).toMatchObject([
        { dp_error: { code: 'EUNKNOWNCTRL' } },
        { dp_keep_alive: { seq_num: 7 } },
      ]);
      expect(await c.request('{"ctrl_keep_alive":')).toMatchObject([{ dp_error: { code: 'EBADJSON' } }]);
      expect(c.staleReplies).toBe(0);
    } finally {
      c.close();
    }
  });

  it('keeps replies to datagrams sent outside a request for sync(), never for a request', async () => {
    const c = new DpClient(rt.server!.path, 'raw');
    c.open();
    try {
      await c.sendRaw('{"ctrl_keep_alive":{"seq_num":41},"ctrl_keep_alive2":{}}');
      const r = await c.request({ ctrl_keep_alive: { seq_num: 42 } });
      expect(r).toEqual([{ dp_keep_alive: { seq_num: 42 } }]);
      expect(await c.sync()).toMatchObject([
        { dp_keep_alive: { seq_num: 41 } },
        { dp_error: { code: 'EUNKNOWNCTRL' } },
      ]);
      expect(await c.sync()).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('never takes a late reply of a timed-out request for the answer to the next one', async () => {
    // A peer that answers every datagram in order, but holds its replies back for a while.
    const path = tempSockPath('lateclient');
    const sock = createUnixDgramSocket();
    let stallUntil = 0;
    const queue: { buf: Buffer; to: string }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
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
      if (!timer) timer = setTimeout(flush, Math.max(0, stallUntil - Date.now()));
    });
    sock.bind(path);
    const c = new DpClient(path, 'late');
    c.open();
    try {
      stallUntil = Date.now() + 400;
      await expect(c.request({ ctrl_del_mac: { mac: '02:74:67:00:00:01' } }, 150)).rejects.toMatchObject({
        code: 'EDPTIMEOUT',
      });
      // Sent while the first request's replies are still on their way.
      const r = await c.request({ ctrl_stats_device: {} }, 3000);
      expect(r).toEqual([{ dp_ok: { ctrl: 'ctrl_stats_device' } }]);
      expect(c.staleReplies).toBeGreaterThan(0);
      expect(c.drain()).toContainEqual({ dp_ok: { ctrl: 'ctrl_del_mac' } });
    } finally {
      c.close();
      sock.close();
      if (timer) clearTimeout(timer);
    }
  });
});

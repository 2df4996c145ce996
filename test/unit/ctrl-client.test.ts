/**
 * The one dp control client (shared/ctrl/client.ts): each reply goes to the request it
 * answers. Against a real in-process dp (DpRuntime, real socket) and against a peer that
 * answers late (as a dp stalled by a long control message or a frame burst would).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpClient } from '../../shared/ctrl/client.js';
import { DpRuntime } from '../../dp/runtime.js';
import { tempSockPath } from '../helpers/dp-client.js';
import { startLateDp } from '../helpers/late-dp.js';

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
    const dp = startLateDp('lateclient');
    const c = new DpClient(dp.path, 'late');
    c.open();
    try {
      dp.stallFor(400);
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
      dp.close();
    }
  });
});

import { unlinkSync } from 'node:fs';
import { Pull } from 'zeromq';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/netns.js';
import { DpClient, startDp, stopDp, tempSockPath, type DpProcess } from '../helpers/dp-client.js';
import { decodeEvent } from '../../shared/events/codec.js';
import type { CountersRecord } from '../../shared/events/schema.js';
import { ringAddon } from '../../dp/io/ring-native.js';

/**
 * dp -n 2 --events: each worker publishes on its own PUSH socket, and its counters
 * records carry `worker`. No service port is opened (no links needed); the agent end is a
 * PULL socket bound here, as the agent binds its own.
 */
describe.skipIf(!isRoot || !ringAddon())('dp -n 2: per-worker event publishers', () => {
  const evPath = tempSockPath('dpwev');
  const pull = new Pull({ linger: 0 });
  let dp: DpProcess | undefined;
  let cli: DpClient | undefined;

  afterAll(async () => {
    cli?.close();
    if (dp) await stopDp(dp);
    pull.close();
    try {
      unlinkSync(evPath);
    } catch {
      /* gone */
    }
  });

  it('counters records arrive from worker 0 and worker 1, each with its own device counters', async () => {
    await pull.bind(`ipc://${evPath}`);
    dp = await startDp({
      args: ['-n', '2', '--io', 'ring', '--events', `ipc://${evPath}`, '--report-interval', '0.2'],
    });
    cli = new DpClient(dp.ctrl);
    await cli.sync();
    const seen = new Map<number, CountersRecord>();
    while (seen.size < 2) {
      const [msg] = await pull.receive();
      const r = decodeEvent(msg!);
      if (r?.type === 'counters') seen.set(r.worker ?? -1, r);
    }
    expect([...seen.keys()].sort()).toEqual([0, 1]);
    for (const r of seen.values()) {
      expect(typeof r.device.rx).toBe('number');
      expect(r.endpoints).toEqual([]);
    }
  });
});

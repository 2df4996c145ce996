import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { DpRuntime } from '../../dp/runtime.js';
import { Engine } from '../../dp/engine.js';
import { DpClient, tempSockPath } from '../helpers/dp-client.js';

/**
 * Each message's effect and reply shape, against an in-process dp (real engine, real
 * socket, no service port). Sessions are made by feeding real frames through the
 * pipeline's engine for a registered EP.
 */
const logs: any[] = [];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk, _e, cb) {
      logs.push(JSON.parse(String(chunk)));
      cb();
    },
  }),
);
const engine = new Engine();
const rt = new DpRuntime({ ctrlPath: tempSockPath('msg'), engine, log, live: false });
let cli: DpClient;

const MAC = '02:00:00:00:01:01';
const UCMAC = '4e:65:75:56:01:01';
const addMac = (mac: string, ucmac: string, oldmac = '') => ({
  ctrl_add_mac: { iface: 'vth', mac, ucmac, bcmac: `ff:ff:ff:00:${ucmac.slice(12)}`, oldmac, pmac: '', pips: null },
});

function udpFrame(n: number, da: Buffer, sa: Buffer): Buffer {
  const f = Buffer.alloc(14 + 20 + 8 + 4);
  da.copy(f, 0);
  sa.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(32, 16);
  f[22] = 64;
  f[23] = 17;
  f.set([198, 18, 1, 1], 26);
  f.set([198, 18, 2, 2], 30);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += f.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, 24);
  f.writeUInt16BE(10000 + n, 34);
  f.writeUInt16BE(53, 36);
  f.writeUInt16BE(12, 38);
  return f;
}
const macBuf = (s: string) => Buffer.from(s.split(':').map((h) => parseInt(h, 16)));

/** Feeds `n` UDP flows (one frame each, ingress) for the EP of ucmac through the live pipeline. */
function feedFlows(n: number, ucmac: string): number {
  const sent: Buffer[] = [];
  const sink = {
    send: (b: Buffer, len: number) => {
      sent.push(Buffer.from(b.subarray(0, len)));
      return true;
    },
  };
  for (let i = 0; i < n; i++) {
    const f = udpFrame(i, macBuf(ucmac), macBuf('02:99:00:00:00:01'));
    rt.pipeline.onFrame(f, f.length, false, 1522, sink);
  }
  return sent.length;
}

beforeAll(() => {
  rt.start();
  cli = new DpClient(rt.server!.path);
});
afterAll(() => {
  cli.close();
  rt.stop();
});

describe('ctrl messages: effects and replies', () => {
  it('keep-alive echoes seq_num', async () => {
    expect(await cli.call({ ctrl_keep_alive: { seq_num: 4294967295 } })).toEqual({
      dp_keep_alive: { seq_num: 4294967295 },
    });
  });

  it('add_mac creates a tap EP under mac, ucmac and bcmac; cfg_mac switches it inline and sets apps', async () => {
    expect(await cli.call(addMac(MAC, UCMAC))).toEqual({ dp_ok: { ctrl: 'ctrl_add_mac' } });
    const ep = rt.state.registry.byMac(MAC)!;
    expect(ep.tap).toBe(true);
    for (const m of [MAC, UCMAC, 'ff:ff:ff:00:01:01'])
      expect(rt.state.registry.byMacNumber(Number.parseInt(m.replaceAll(':', ''), 16))).toBe(ep);
    expect(
      await cli.call({
        ctrl_cfg_mac: { tap: false, macs: [MAC], apps: [{ ip_proto: 6, port: 80, app: 1001, server: 0 }] },
      }),
    ).toEqual({ dp_ok: { ctrl: 'ctrl_cfg_mac' } });
    expect(ep.tap).toBe(false);
    expect([...ep.apps!.values()]).toEqual([{ ipProto: 6, port: 80, app: 1001, server: 0, source: 'ctrl' }]);
    // apps replaces ctrl entries, keeps dp-learned ones; absent tap leaves the mode alone
    ep.apps!.set(17 * 0x10000 + 53, { ipProto: 17, port: 53, app: 1004, server: 0, source: 'dp' });
    await cli.call({ ctrl_cfg_mac: { macs: [MAC], apps: [{ ip_proto: 6, port: 443, app: 1002, server: 0 }] } });
    expect([...ep.apps!.values()].map((a) => a.port).sort()).toEqual([443, 53]);
    expect(ep.tap).toBe(false);
  });

  it('add_mac with oldmac inherits id, mode, counters and apps; old keys are gone', async () => {
    const old = rt.state.registry.byMac(MAC)!;
    expect(feedFlows(3, UCMAC)).toBe(3);
    await cli.call(addMac('02:00:00:00:01:02', '4e:65:75:56:01:02', MAC));
    const ep = rt.state.registry.byMac('02:00:00:00:01:02')!;
    expect(ep.id).toBe(old.id);
    expect(ep.tap).toBe(false);
    expect(ep.counters.rxPackets).toBe(3);
    expect(ep.apps!.size).toBe(2);
    expect(rt.state.registry.byMac(MAC)).toBeUndefined();
    expect(rt.state.registry.byMacNumber(0x4e6575560101)).toBeUndefined();
    const s = await cli.call({ ctrl_stats_macs: { macs: ['02:00:00:00:01:02', MAC] } });
    expect(s.dp_stats_macs).toMatchObject({ macs: ['02:00:00:00:01:02'], unknown: [MAC], tap: [false], rx_packets: 3 });
  });

  it('counts and lists sessions in chunks of at most 8192 bytes, then clears them', async () => {
    await cli.call({ ctrl_clear_session: {} });
    const n = feedFlows(600, '4e:65:75:56:01:02');
    expect(n).toBe(600);
    const count = await cli.call({ ctrl_count_session: {} });
    expect(count.dp_session_count).toMatchObject({ cur: 600, udp: 600 });
    const replies = await cli.request({ ctrl_list_session: {} });
    expect(replies.length).toBeGreaterThan(1);
    const sessions = replies.flatMap((r) => r.dp_session_list.sessions);
    expect(sessions).toHaveLength(600);
    expect(replies.slice(0, -1).every((r) => r.dp_session_list.more === true)).toBe(true);
    expect(replies.at(-1)!.dp_session_list).toMatchObject({ more: false, total: 600, truncated: 0 });
    for (const r of replies) expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThanOrEqual(8192);
    expect(await cli.call({ ctrl_clear_session: { filter_id: 0 } })).toEqual({ dp_ok: { ctrl: 'ctrl_clear_session' } });
    expect((await cli.call({ ctrl_count_session: {} })).dp_session_count.cur).toBe(0);
  });

  it('del_mac removes the EP and purges its sessions', async () => {
    feedFlows(5, '4e:65:75:56:01:02');
    expect((await cli.call({ ctrl_count_session: {} })).dp_session_count.cur).toBe(5);
    expect(await cli.call({ ctrl_del_mac: { iface: 'vth', mac: '02:00:00:00:01:02' } })).toEqual({
      dp_ok: { ctrl: 'ctrl_del_mac' },
    });
    expect((await cli.call({ ctrl_count_session: {} })).dp_session_count.cur).toBe(0);
    expect((await cli.call({ ctrl_del_mac: { mac: '02:00:00:00:01:02' } })).dp_error).toMatchObject({
      code: 'ENOTFOUND',
      field: 'ctrl_del_mac.mac',
    });
    // frames for its ucmac are now "no workload"
    const before = rt.pipeline.counters.noWorkload;
    feedFlows(2, '4e:65:75:56:01:02');
    expect(rt.pipeline.counters.noWorkload - before).toBe(2);
  });

  it('internal nets: chunks commit on END; iptype optional', async () => {
    await cli.call({ ctrl_cfg_internal_net: { flag: 1, subnet_addr: [{ ip: '198.18.0.0', mask: '255.254.0.0' }] } });
    expect(rt.state.internalNets.subnets).toHaveLength(0); // not yet committed
    await cli.call({
      ctrl_cfg_internal_net: { flag: 0, subnet_addr: [{ ip: '10.1.0.0', mask: '255.255.0.0', iptype: 'DEVIP' }] },
    });
    await cli.call({ ctrl_cfg_internal_net: { flag: 2, subnet_addr: [] } });
    expect(rt.state.internalNets.toJSON()).toEqual([
      { ip: '198.18.0.0', mask: '255.254.0.0', iptype: 0 },
      { ip: '10.1.0.0', mask: '255.255.0.0', iptype: 4 },
    ]);
    expect(rt.state.internalNets.isInternal(((198 << 24) | (19 << 16) | 5) >>> 0)).toBe(true);
    expect(rt.state.internalNets.isInternal(((8 << 24) | (8 << 16) | (8 << 8) | 8) >>> 0)).toBe(false);
    expect(rt.state.internalNets.isInternal(((127 << 24) | 1) >>> 0)).toBe(true);
  });

  it('stats_device, counter_device, list_mac and set_debug reply with their documented shapes', async () => {
    await cli.call(addMac(MAC, UCMAC));
    const d = (await cli.call({ ctrl_stats_device: {} })).dp_stats_device;
    expect(d).toMatchObject({ endpoints: 1, ports: [], internal_nets: 2 });
    expect(typeof d.rx_packets).toBe('number');
    const c = (await cli.call({ ctrl_counter_device: {} })).dp_counter_device;
    expect(Object.keys(c)).toEqual(['pipeline', 'engine', 'ctrl']);
    expect(c.pipeline.noWorkload).toBe(2);
    expect(c.ctrl.errorsByCode.ENOTFOUND).toBe(1);
    expect(c.engine.udp).toBeGreaterThan(0);
    const l = await cli.request({ ctrl_list_mac: {} });
    expect(l.at(-1)!.dp_mac_list).toMatchObject({
      more: false,
      total: 1,
      macs: [{ mac: MAC, ucmac: UCMAC, tap: true }],
    });
    expect(await cli.call({ ctrl_set_debug: { categories: ['ctrl', 'packet'] } })).toEqual({
      dp_ok: { ctrl: 'ctrl_set_debug' },
    });
    expect(log.level).toBe('debug');
    await cli.call({ ctrl_set_debug: { categories: [] } });
    expect(log.level).toBe('info');
    expect((await cli.call({ ctrl_add_srvc_port: { iface: 'vth' } })).dp_error).toMatchObject({ code: 'ENOLIVE' });
    expect(logs.some((l) => l.msg === 'control message rejected' && l.code === 'ENOLIVE' && l.reason)).toBe(true);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DpClient, startDp, stopDp, socketExists, type DpProcess } from '../helpers/dp-client.js';

/**
 * The real dp process (bin/dp.js, built dist) on a private socket path, hammered with bad
 * input. After every phase: the process is alive, the EP configured first is still there,
 * and the errors are counted by code and logged with their reason.
 */
const WL_MAC = '02:aa:00:00:00:01';
const ADD_MAC = {
  ctrl_add_mac: {
    iface: 'vth',
    mac: WL_MAC,
    ucmac: '4e:65:75:56:00:b4',
    bcmac: 'ff:ff:ff:00:00:b4',
    oldmac: '',
    pmac: '',
    pips: null,
  },
};
const VALID: unknown[] = [
  { ctrl_keep_alive: { seq_num: 7 } },
  {
    ctrl_cfg_internal_net: {
      flag: 3,
      subnet_addr: [
        { ip: '198.18.0.0', mask: '255.254.0.0' },
        { ip: '198.18.0.66', mask: '255.255.255.0', iptype: 'devip' },
      ],
    },
  },
  {
    ctrl_add_mac: {
      iface: 'vth',
      mac: '02:bb:00:00:00:02',
      ucmac: '4e:65:75:56:00:b5',
      bcmac: 'ff:ff:ff:00:00:b5',
      oldmac: '',
      pmac: '',
      pips: null,
    },
  },
  { ctrl_cfg_mac: { tap: false, macs: [WL_MAC], apps: [{ ip_proto: 6, port: 80, app: 1001, server: 0 }] } },
  { ctrl_stats_macs: { macs: [WL_MAC] } },
  { ctrl_count_session: {} },
  { ctrl_list_session: {} },
  { ctrl_clear_session: { filter_id: 0 } },
  { ctrl_stats_device: {} },
  { ctrl_set_debug: { categories: [] } },
  { ctrl_del_mac: { iface: 'vth', mac: '02:bb:00:00:00:02' } },
];

let dp: DpProcess;
let cli: DpClient;

async function counters(): Promise<any> {
  const r = await cli.call({ ctrl_counter_device: {} });
  return r.dp_counter_device;
}

async function expectConfigIntact(): Promise<void> {
  expect(dp.child.exitCode).toBeNull();
  const s = await cli.call({ ctrl_stats_macs: { macs: [WL_MAC] } });
  expect(s.dp_stats_macs.macs).toEqual([WL_MAC]);
  expect(s.dp_stats_macs.tap).toEqual([false]);
  const d = await cli.call({ ctrl_stats_device: {} });
  expect(d.dp_stats_device.internal_nets).toBe(2);
}

beforeAll(async () => {
  dp = await startDp();
  cli = new DpClient(dp.ctrl);
  expect((await cli.call(ADD_MAC)).dp_ok).toEqual({ ctrl: 'ctrl_add_mac' });
  expect((await cli.call({ ctrl_cfg_mac: { tap: false, macs: [WL_MAC] } })).dp_ok).toBeDefined();
  expect((await cli.call(VALID[1])).dp_ok).toBeDefined();
});

afterAll(async () => {
  cli?.close();
  if (dp) await stopDp(dp);
});

describe('control socket robustness (real dp process)', () => {
  it('binds its socket with mode 0600', async () => {
    const { statSync } = await import('node:fs');
    expect(statSync(dp.ctrl).mode & 0o777).toBe(0o600);
  });

  it('rejects invalid JSON, non-objects and empty objects with a reply naming the problem', async () => {
    expect((await cli.call('{"ctrl_keep_alive":')).dp_error).toMatchObject({ code: 'EBADJSON' });
    expect((await cli.call('[1,2]')).dp_error).toMatchObject({ code: 'EBADJSON' });
    expect((await cli.call('42')).dp_error).toMatchObject({ code: 'EBADJSON' });
    expect((await cli.call('{}')).dp_error).toMatchObject({ code: 'EEMPTY' });
    await expectConfigIntact();
  });

  it('rejects unknown ctrl_* keys, naming the key', async () => {
    const r = await cli.call({ ctrl_frobnicate: {} });
    expect(r.dp_error).toMatchObject({ code: 'EUNKNOWNCTRL', field: 'ctrl_frobnicate' });
    expect(r.dp_error.message).toContain('ctrl_frobnicate');
  });

  it('rejects wrong types and missing fields with the field path', async () => {
    let r = await cli.call({ ctrl_add_mac: { ...ADD_MAC.ctrl_add_mac, mac: 'zz:zz' } });
    expect(r.dp_error).toMatchObject({ code: 'EBADFIELD', field: 'ctrl_add_mac.mac' });
    r = await cli.call({ ctrl_keep_alive: { seq_num: 'one' } });
    expect(r.dp_error).toMatchObject({ code: 'EBADFIELD', field: 'ctrl_keep_alive.seq_num' });
    r = await cli.call({ ctrl_add_mac: { iface: 'vth', mac: WL_MAC } });
    expect(r.dp_error).toMatchObject({ code: 'EMISSING', field: 'ctrl_add_mac.ucmac' });
    r = await cli.call({ ctrl_cfg_internal_net: { flag: 3, subnet_addr: [{ ip: '198.18.0.0' }] } });
    expect(r.dp_error).toMatchObject({ code: 'EMISSING', field: 'ctrl_cfg_internal_net.subnet_addr.0.mask' });
    r = await cli.call({ ctrl_cfg_mac: { tap: true, macs: ['02:00:00:00:00:99', WL_MAC] } });
    expect(r.dp_error).toMatchObject({ code: 'ENOTFOUND', field: 'ctrl_cfg_mac.macs.0' });
    r = await cli.call({ ctrl_add_srvc_port: { iface: 'no-such-if0' } });
    expect(r.dp_error).toMatchObject({ code: 'EIFACE' });
    // the rejected cfg_mac (one unknown MAC) must not have switched WL_MAC to tap
    await expectConfigIntact();
  });

  it('rejects oversize datagrams', async () => {
    const big = JSON.stringify({ ctrl_keep_alive: { seq_num: 1, pad: 'x'.repeat(9000) } });
    const r = await cli.call(big);
    expect(r.dp_error).toMatchObject({ code: 'EMSGSIZE' });
    await expectConfigIntact();
  });

  it('rejects chunks out of order and keeps the committed internal nets', async () => {
    let r = await cli.call({
      ctrl_cfg_internal_net: { flag: 2, subnet_addr: [{ ip: '10.0.0.0', mask: '255.0.0.0' }] },
    });
    expect(r.dp_error).toMatchObject({ code: 'ECHUNK', field: 'ctrl_cfg_internal_net.subnet_addr.flag' });
    r = await cli.call({ ctrl_cfg_internal_net: { flag: 0, subnet_addr: [] } });
    expect(r.dp_error).toMatchObject({ code: 'ECHUNK' });
    // START, then a bad chunk: the transaction is void, so END is out of order too.
    expect(
      (await cli.call({ ctrl_cfg_internal_net: { flag: 1, subnet_addr: [{ ip: '10.0.0.0', mask: '255.0.0.0' }] } }))
        .dp_ok,
    ).toBeDefined();
    expect(
      (await cli.call({ ctrl_cfg_internal_net: { flag: 0, subnet_addr: [{ ip: '10.0.0.300', mask: '255.0.0.0' }] } }))
        .dp_error.code,
    ).toBe('EBADFIELD');
    expect((await cli.call({ ctrl_cfg_internal_net: { flag: 2, subnet_addr: [] } })).dp_error.code).toBe('ECHUNK');
    await expectConfigIntact();
  });

  it('handles several keys in one datagram independently', async () => {
    await cli.sendRaw('{"ctrl_nope":{},"ctrl_keep_alive":{"seq_num":99}}');
    const rs = await cli.sync();
    expect(rs).toHaveLength(2);
    expect(rs[0]!.dp_error).toMatchObject({ code: 'EUNKNOWNCTRL' });
    expect(rs[1]).toEqual({ dp_keep_alive: { seq_num: 99 } });
  });

  it('survives 10,000 random and mutated datagrams, counting and logging every error', async () => {
    const before = await counters();
    const validText = VALID.map((v) => JSON.stringify(v));
    const mutated = fc
      .tuple(fc.constantFrom(...validText), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 3 }))
      .map(([t, pos, byte, op]) => {
        const b = Buffer.from(t);
        const i = pos % b.length;
        if (op === 0)
          b[i] = byte; // flip a byte
        else if (op === 1)
          return b.subarray(0, i); // truncate
        else if (op === 2) return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]); // insert
        return Buffer.from(t.replace(/"[a-z_]+":/, `"${'k'.repeat(byte % 7)}":`)); // rename a key
      });
    const randomJson = fc.jsonValue().map((v) =>
      Buffer.from(
        JSON.stringify({
          [`ctrl_${['add_mac', 'cfg_mac', 'keep_alive', 'cfg_internal_net', 'stats_macs', 'x'][JSON.stringify(v).length % 6]}`]:
            v,
        }),
      ),
    );
    const anyJson = fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null'));
    const bytes = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((a) => Buffer.from(a));
    const datagrams = fc.sample(fc.oneof(mutated, randomJson, anyJson, bytes), { numRuns: 10_000, seed: 42 });

    let errorReplies = 0;
    let sent = 0;
    for (const d of datagrams) {
      if (d.length === 0) continue; // an empty datagram is legal on the wire but carries nothing to answer
      // Never delete the EP under test or switch it to tap: "earlier configuration stays" is checked below.
      const text = d.toString('utf8');
      if (text.includes(WL_MAC) && /del_mac|cfg_mac/.test(text)) continue;
      await cli.sendRaw(d);
      sent++;
      // every reply up to the barrier belongs to this datagram (one final reply per key)
      const rs = await cli.sync();
      errorReplies += rs.filter((r) => r.dp_error).length;
    }
    expect(sent).toBeGreaterThan(9_000);
    expect(errorReplies).toBeGreaterThan(sent / 2);
    const after = await counters();
    expect(after.ctrl.datagrams - before.ctrl.datagrams).toBeGreaterThanOrEqual(sent);
    expect(after.ctrl.errors - before.ctrl.errors).toBeGreaterThanOrEqual(errorReplies);
    for (const code of ['EBADJSON', 'EBADFIELD', 'EUNKNOWNCTRL'])
      expect(after.ctrl.errorsByCode[code]).toBeGreaterThan(0);
    // every rejection is logged with code and reason
    const rejected = dp.logs.filter((l) => l.includes('control message rejected')).map((l) => JSON.parse(l));
    expect(rejected.length).toBe(after.ctrl.errors);
    await cli.sync();
    for (const l of rejected.slice(-50)) {
      expect(typeof l.code).toBe('string');
      expect(typeof l.reason).toBe('string');
    }
    await expectConfigIntact();
  }, 180_000);

  it('answers nothing to an unbound sender but still counts its errors', async () => {
    const before = (await counters()).ctrl.errorsByCode.EBADJSON;
    const { execFileSync } = await import('node:child_process');
    execFileSync('python3', [new URL('../helpers/dp_send.py', import.meta.url).pathname, dp.ctrl, 'not json']);
    const after = (await counters()).ctrl.errorsByCode.EBADJSON;
    expect(after).toBe(before + 1);
  });

  it('stops cleanly on SIGTERM and removes its socket', async () => {
    const code = await stopDp(dp);
    expect(code).toBe(0);
    expect(socketExists(dp.ctrl)).toBe(false);
  });
});

/**
 * Correctness and fail-safety through the control socket of an in-process dp (real
 * DpRuntime: real socket, registry, policy table, engine with its policy hook, pipeline),
 * driven by the agent's own dp client; frames go through the live pipeline's verdict path.
 * One describe per fail-safety property (docs/ARCHITECTURE.md "Fail-safe choices").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpClient } from '../../shared/ctrl/client.js';
import { TCP, icmp4, ipv4, tcp, udp } from '../../scripts/pcapgen/frames.js';
import { startLateDp } from '../helpers/late-dp.js';
import {
  DB_MAC,
  DB_UC,
  PEER,
  WEB,
  WEB_MAC,
  WEB_UC,
  addMac,
  anyRule,
  cli,
  fromWl,
  ok,
  policy,
  rt,
  startCtrlRig,
  stopCtrlRig,
  toWl,
  wire,
} from '../helpers/ctrl-rig.js';

beforeAll(() => startCtrlRig('fsafe'));
afterAll(stopCtrlRig);

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

describe("finding 8: the agent's dp client matches each reply to its request", () => {
  it('a late reply of a timed-out request never becomes the answer to the next one', async () => {
    const dp = startLateDp('slowdp');
    const c = new DpClient(dp.path, 'late');
    c.open();
    try {
      dp.stallFor(400);
      await expect(c.request({ ctrl_add_mac: {} }, 150)).rejects.toMatchObject({ code: 'EDPTIMEOUT' });
      // The next request is sent while the first one's replies are still on their way.
      const r = await c.request({ ctrl_stats_device: {} }, 3000);
      expect(r).toEqual([{ dp_ok: { ctrl: 'ctrl_stats_device' } }]);
      expect(c.staleReplies).toBeGreaterThan(0);
    } finally {
      c.close();
      dp.close();
    }
  });
});

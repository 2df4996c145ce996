import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRate } from '../../agent/vm/rate.js';
import { connectVm, disconnectVm, getVmRateLimit, setVmRateLimit, type ConnectedVm } from '../../agent/vm/index.js';
import { TollgateError } from '../../shared/errors.js';
import { runIn } from '../../shared/exec.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import {
  buildVmLab,
  destroyVmLab,
  GUEST_IP,
  iperf,
  PEER_IP,
  randomPort,
  startVmm,
  type VmLab,
} from '../helpers/vm-lab.js';

/**
 * Functional check of the limiter (agent/vm/README.md "Rate limits"): iperf3 through the connection
 * lands within ±15% of a 50 Mbit/s limit in each direction, and removing the limit
 * restores far more than that. Not a performance assertion.
 */
const LIMIT = 50_000_000;

async function links(ns: string): Promise<string[]> {
  const { stdout } = await runIn(ns, ['ip', '-json', 'link', 'show']);
  return (JSON.parse(stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
}
async function rootKinds(ns: string, dev: string): Promise<string[]> {
  const { stdout } = await runIn(ns, ['tc', '-json', 'qdisc', 'show', 'dev', dev]);
  return (JSON.parse(stdout || '[]') as Array<{ kind: string; root?: boolean }>)
    .filter((q) => q.root)
    .map((q) => q.kind);
}

describe.skipIf(!isRoot)('agent vm limit (HTB on the tap, HTB on an IFB for tx)', () => {
  let lab: VmLab | undefined;
  let vm: ConnectedVm;
  const L = (): VmLab => lab!;
  const target = () => ({ netns: L().vm, tap: vm.tap, stateDir: L().stateDir });

  beforeAll(async () => {
    lab = await buildVmLab(testPrefix());
    vm = await connectVm({ netns: lab.vm, tap: 'tap0_tg', stateDir: lab.stateDir });
    await startVmm(lab, vm.tap, vm.mtu);
  });
  afterAll(async () => {
    if (lab) await disconnectVm({ ...target(), missingOk: true }).catch(() => {});
    await destroyVmLab(lab);
  });

  it('limits peer→guest (rx) and guest→peer (tx) to 50 Mbit/s within ±15%', async () => {
    expect(await setVmRateLimit({ ...target(), rx: '50mbit', tx: '50M' })).toEqual({ rxBps: LIMIT, txBps: LIMIT });
    expect(await rootKinds(L().vm, vm.tap)).toEqual(['htb']);
    expect(await links(L().vm)).toContain(`tgifb${vm.tapIfindex}`);

    const rx = await iperf(L(), L().cni, L().guest, GUEST_IP, randomPort(), 3);
    const tx = await iperf(L(), L().guest, L().cni, PEER_IP, randomPort(), 3);
    console.info(`[vm-ratelimit] 50mbit limit: rx ${(rx / 1e6).toFixed(1)} Mbit/s, tx ${(tx / 1e6).toFixed(1)} Mbit/s`);
    expect(rx).toBeGreaterThan(LIMIT * 0.85);
    expect(rx).toBeLessThan(LIMIT * 1.15);
    expect(tx).toBeGreaterThan(LIMIT * 0.85);
    expect(tx).toBeLessThan(LIMIT * 1.15);
  });

  it('changes a limit at run time', async () => {
    expect(await setVmRateLimit({ ...target(), tx: 20_000_000 })).toEqual({ rxBps: LIMIT, txBps: 20_000_000 });
    const tx = await iperf(L(), L().guest, L().cni, PEER_IP, randomPort(), 3);
    expect(tx).toBeGreaterThan(20_000_000 * 0.85);
    expect(tx).toBeLessThan(20_000_000 * 1.15);
  });

  it('removing the limits restores full speed and removes the HTB qdiscs and the IFB', async () => {
    expect(await setVmRateLimit({ ...target(), rx: null, tx: 'none' })).toEqual({ rxBps: null, txBps: null });
    expect(await rootKinds(L().vm, vm.tap)).not.toContain('htb');
    expect(await rootKinds(L().vm, 'eth0')).not.toContain('htb');
    expect((await links(L().vm)).filter((n) => n.startsWith('tgifb'))).toEqual([]);
    const rx = await iperf(L(), L().cni, L().guest, GUEST_IP, randomPort(), 3);
    const tx = await iperf(L(), L().guest, L().cni, PEER_IP, randomPort(), 3);
    console.info(`[vm-ratelimit] unlimited: rx ${(rx / 1e6).toFixed(1)} Mbit/s, tx ${(tx / 1e6).toFixed(1)} Mbit/s`);
    expect(rx).toBeGreaterThan(LIMIT * 2);
    expect(tx).toBeGreaterThan(LIMIT * 2);
  });

  it('rejects nonsense rates naming the field, and keeps the applied limits', async () => {
    await setVmRateLimit({ ...target(), rx: '10mbit' });
    const bad: Array<[unknown, string]> = [
      [0, 'rx'],
      [-5, 'tx'],
      [Number.NaN, 'rx'],
      ['fast', 'tx'],
      ['200gbit', 'rx'],
      [Infinity, 'tx'],
      ['50mbps', 'rx'],
      ['', 'tx'],
      [{}, 'rx'],
    ];
    for (const [value, field] of bad) {
      const e = await setVmRateLimit({ ...target(), [field]: value as never }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e, `${String(value)} on ${field}`).toBeInstanceOf(TollgateError);
      expect((e as TollgateError).code).toBe('ERATE');
      expect((e as TollgateError).field).toBe(field);
    }
    // a bad tx does not half-apply a good rx given in the same call
    await expect(setVmRateLimit({ ...target(), rx: '30mbit', tx: 'fast' })).rejects.toThrow(/tx/);
    expect(await getVmRateLimit(target())).toEqual({ rxBps: 10_000_000, txBps: null });
    await expect(setVmRateLimit({ ...target(), tap: 'nosuch' })).rejects.toMatchObject({ code: 'EVMUNKNOWN' });
  });

  it('disconnect removes the limiters along with the connection', async () => {
    await setVmRateLimit({ ...target(), tx: '40mbit' });
    expect(await disconnectVm(target())).toBe(true);
    expect((await links(L().vm)).filter((n) => n.startsWith('tgifb') || n === 'tap0_tg')).toEqual([]);
    expect(await rootKinds(L().vm, 'eth0')).not.toContain('htb');
  });
});

describe('parseRate (bits/s)', () => {
  it('reads numbers and bit units the way tc does, SI multipliers', () => {
    expect(parseRate('50mbit', 'rx')).toBe(50_000_000);
    expect(parseRate('50M', 'rx')).toBe(50_000_000);
    expect(parseRate(' 1.5gbit ', 'rx')).toBe(1_500_000_000);
    expect(parseRate('800k', 'rx')).toBe(800_000);
    expect(parseRate('2000', 'rx')).toBe(2000);
    expect(parseRate(50_000_000, 'tx')).toBe(50_000_000);
    expect(parseRate('100gbit', 'tx')).toBe(100_000_000_000);
  });

  it('any value outside [1 kbit, 100 Gbit] or not a rate throws ERATE naming the field, never anything else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.string(), fc.integer({ min: -1e12, max: 1e12 })), (v) => {
        try {
          const bps = parseRate(v, 'tx');
          return Number.isInteger(bps) && bps >= 1_000 && bps <= 100_000_000_000;
        } catch (e) {
          return e instanceof TollgateError && e.code === 'ERATE' && e.field === 'tx';
        }
      }),
    );
    for (const v of [0, -1, Number.NaN, 'fast', '101gbit', '50mbps', '10 kbps', '5x', '', '1e6', null]) {
      expect(() => parseRate(v, 'rx'), String(v)).toThrow(/^rx: /);
    }
  });
});

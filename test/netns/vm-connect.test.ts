import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { registerVmCommands } from '../../agent/cli/vm.js';
import { connectVm, disconnectVm } from '../../agent/vm/index.js';
import { TollgateError } from '../../shared/errors.js';
import { runIn } from '../../shared/exec.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import {
  buildVmLab,
  destroyVmLab,
  GUEST_IP,
  PEER_IP,
  ping,
  randomPort,
  startVmm,
  stopChild,
  tcpTransfer,
  type VmLab,
} from '../helpers/vm-lab.js';

async function json<T>(ns: string, argv: string[]): Promise<T> {
  const res = await runIn(ns, argv, { allowFail: true });
  if (res.code !== 0) return [] as T;
  return JSON.parse(res.stdout.trim() || '[]') as T;
}
const linkExists = async (ns: string, dev: string) =>
  (await runIn(ns, ['ip', 'link', 'show', 'dev', dev], { allowFail: true })).code === 0;
const qdiscKinds = async (ns: string, dev: string) =>
  (await json<Array<{ kind: string }>>(ns, ['tc', '-json', 'qdisc', 'show', 'dev', dev])).map((q) => q.kind);
const ingressFilters = (ns: string, dev: string) =>
  json<unknown[]>(ns, ['tc', '-json', 'filter', 'show', 'dev', dev, 'ingress']);

async function expectError(p: Promise<unknown>, code: string, field?: string): Promise<TollgateError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(TollgateError);
  const te = e as TollgateError;
  expect(te.code).toBe(code);
  if (field) expect(te.field).toBe(field);
  return te;
}

describe.skipIf(!isRoot)('agent vm connect/disconnect (Kata-style veth↔tap)', () => {
  let lab: VmLab | undefined;
  const L = (): VmLab => lab!;

  beforeAll(async () => {
    lab = await buildVmLab(testPrefix());
  });
  afterAll(async () => {
    await destroyVmLab(lab);
  });

  it('joins eth0 and a tap so the guest and the peer exchange ARP, ping and TCP both ways', async () => {
    const vm = await connectVm({ netns: L().vm, tap: 'tap0_tg', stateDir: L().stateDir });
    expect(vm).toMatchObject({ tap: 'tap0_tg', veth: 'eth0', mtu: 1500, mac: L().mac, queues: 1 });
    const tapLink = (
      await json<Array<{ mtu: number; ifindex: number; flags: string[] }>>(L().vm, [
        'ip',
        '-json',
        'link',
        'show',
        'dev',
        'tap0_tg',
      ])
    )[0];
    expect(tapLink?.mtu).toBe(1500);
    expect(tapLink?.ifindex).toBe(vm.tapIfindex);
    expect(await qdiscKinds(L().vm, 'eth0')).toContain('ingress');
    expect(await qdiscKinds(L().vm, 'tap0_tg')).toContain('ingress');
    expect(JSON.stringify(await ingressFilters(L().vm, 'eth0'))).toContain('mirred');

    const vmm = await startVmm(L(), vm.tap, vm.mtu);
    // peer → guest: the peer must ARP for the guest and learn eth0's MAC (the guest uses it)
    expect(await ping(L().cni, GUEST_IP, 3)).toBe(3);
    const neigh = await json<Array<{ dst: string; lladdr?: string }>>(L().cni, [
      'ip',
      '-json',
      'neigh',
      'show',
      'dev',
      'br0',
    ]);
    expect(neigh.find((n) => n.dst === GUEST_IP)?.lladdr).toBe(L().mac);
    // guest → peer: the guest's kernel ARPs for the peer through the tap
    expect(await ping(L().guest, PEER_IP, 3)).toBe(3);
    const gneigh = await json<Array<{ dst: string; lladdr?: string }>>(L().guest, [
      'ip',
      '-json',
      'neigh',
      'show',
      'dev',
      'gst0',
    ]);
    expect(gneigh.find((n) => n.dst === PEER_IP)?.lladdr).toMatch(/^[0-9a-f:]{17}$/);

    const size = 4 * 1024 * 1024 + 123;
    const down = await tcpTransfer(L(), L().cni, L().guest, GUEST_IP, randomPort(), size);
    expect(down.received.bytes).toBe(size);
    expect(down.received.sha256).toBe(down.sent.sha256);
    const up = await tcpTransfer(L(), L().guest, L().cni, PEER_IP, randomPort(), size);
    expect(up.received.bytes).toBe(size);
    expect(up.received.sha256).toBe(up.sent.sha256);

    // The namespace's own stack never saw those frames: the redirects took them all.
    const rx = await json<Array<{ stats64?: { rx: { packets: number } } }>>(L().vm, [
      'ip',
      '-json',
      '-s',
      'link',
      'show',
      'dev',
      'tap0_tg',
    ]);
    expect(rx[0]?.stats64?.rx.packets ?? 0).toBeGreaterThan(size / 1500);

    await stopChild(vmm);
    expect(await disconnectVm({ netns: L().vm, tap: 'tap0_tg', stateDir: L().stateDir })).toBe(true);
    expect(await linkExists(L().vm, 'tap0_tg')).toBe(false);
    expect(await qdiscKinds(L().vm, 'eth0')).not.toContain('ingress');
    expect(await ingressFilters(L().vm, 'eth0')).toEqual([]);
    // eth0 is back as the CNI left it: its own stack (which keeps the address) answers again
    expect(await ping(L().cni, GUEST_IP, 1)).toBe(1);
  });

  it('an unknown VM is a clear error; missingOk turns it into false', async () => {
    await expectError(disconnectVm({ netns: L().vm, tap: 'tap0_tg', stateDir: L().stateDir }), 'EVMUNKNOWN', 'tap');
    expect(await disconnectVm({ netns: L().vm, tap: 'tap0_tg', stateDir: L().stateDir, missingOk: true })).toBe(false);
  });

  it('multi-queue tap with a generated name is opened with IFF_MULTI_QUEUE and carries traffic', async () => {
    const vm = await connectVm({ netns: L().vm, queues: 4, stateDir: L().stateDir });
    expect(vm.tap).toMatch(/^tg-tap\d+$/);
    const info = await json<Array<{ linkinfo?: { info_data?: { multi_queue?: boolean; type?: string } } }>>(L().vm, [
      'ip',
      '-json',
      '-details',
      'link',
      'show',
      'dev',
      vm.tap,
    ]);
    expect(info[0]?.linkinfo?.info_data).toMatchObject({ type: 'tap', multi_queue: true });
    const vmm = await startVmm(L(), vm.tap, vm.mtu, true);
    expect(await ping(L().guest, PEER_IP, 2)).toBe(2);
    await stopChild(vmm);
    // disconnect also works with the VMM still holding nothing; the tap is removed
    expect(await disconnectVm({ netns: L().vm, tap: vm.tap, stateDir: L().stateDir })).toBe(true);
    expect(await linkExists(L().vm, vm.tap)).toBe(false);
  });

  it('disconnect tolerates a tap someone already deleted', async () => {
    const vm = await connectVm({ netns: L().vm, tap: 'tapgone', stateDir: L().stateDir });
    await runIn(L().vm, ['ip', 'link', 'del', 'dev', vm.tap]);
    expect(await disconnectVm({ netns: L().vm, tap: 'tapgone', stateDir: L().stateDir })).toBe(true);
    expect(await qdiscKinds(L().vm, 'eth0')).not.toContain('ingress');
  });

  it('rejects bad input with clear errors and leaves nothing half-built', async () => {
    const sd = L().stateDir;
    await expectError(connectVm({ netns: `${L().vm}-nope`, stateDir: sd }), 'ENONS', 'netns');
    await expectError(connectVm({ netns: '', stateDir: sd }), 'ENONS', 'netns');
    await expectError(connectVm({ netns: L().vm, veth: 'eth9', stateDir: sd }), 'EVMVETH', 'veth');
    await expectError(connectVm({ netns: L().vm, tap: 'lo', stateDir: sd }), 'EVMTAPEXISTS', 'tap');
    await expectError(connectVm({ netns: L().vm, tap: 'a-very-long-tap-name', stateDir: sd }), 'EIFNAME', 'tap');
    await expectError(connectVm({ netns: L().vm, tap: 'bad/name', stateDir: sd }), 'EIFNAME', 'tap');
    await expectError(connectVm({ netns: L().vm, queues: 0, stateDir: sd }), 'EVMQUEUES', 'queues');
    await expectError(connectVm({ netns: L().vm, queues: 1.5, stateDir: sd }), 'EVMQUEUES', 'queues');
    await expectError(connectVm({ netns: L().vm, owner: -1, stateDir: sd }), 'EVMOWNER', 'owner');
    await expectError(disconnectVm({ netns: L().vm, tap: 'nosuchtap', stateDir: sd }), 'EVMUNKNOWN', 'tap');
    expect(await qdiscKinds(L().vm, 'eth0')).not.toContain('ingress');

    // A failure after the tap exists rolls everything back: lo's MTU (65536) is above a
    // tap's maximum, so setting it fails once the tap was created.
    await expectError(connectVm({ netns: L().vm, veth: 'lo', tap: 'tgroll0', stateDir: sd }), 'EVMTAP', 'tap');
    expect(await linkExists(L().vm, 'tgroll0')).toBe(false);
    expect(await qdiscKinds(L().vm, 'lo')).not.toContain('ingress');

    // The veth is busy once connected: a second VM on it is refused, and its tap not made.
    const first = await connectVm({ netns: L().vm, tap: 'tapone', stateDir: sd });
    await expectError(connectVm({ netns: L().vm, tap: 'taptwo', stateDir: sd }), 'EVMBUSY', 'veth');
    expect(await linkExists(L().vm, 'taptwo')).toBe(false);
    // the first connection is untouched by the refused one
    expect(JSON.stringify(await ingressFilters(L().vm, 'eth0'))).toContain('tapone');
    await disconnectVm({ netns: L().vm, tap: first.tap, stateDir: sd });
    expect(await linkExists(L().vm, 'tapone')).toBe(false);
  });

  it('the `agent vm` CLI connects, limits, lists and disconnects, and reports errors without throwing', async () => {
    const prevDir = process.env.TOLLGATE_VM_STATE_DIR;
    process.env.TOLLGATE_VM_STATE_DIR = L().stateDir;
    const cli = async (...args: string[]): Promise<{ out: string; err: string; exitCode: number }> => {
      const program = new Command().exitOverride();
      registerVmCommands(program);
      let out = '';
      let err = '';
      const w1 = process.stdout.write.bind(process.stdout);
      const w2 = process.stderr.write.bind(process.stderr);
      process.stdout.write = ((s: string) => {
        out += s;
        return true;
      }) as typeof process.stdout.write;
      process.stderr.write = ((s: string) => {
        err += s;
        return true;
      }) as typeof process.stderr.write;
      process.exitCode = 0;
      try {
        await program.parseAsync(['vm', ...args], { from: 'user' });
      } finally {
        process.stdout.write = w1;
        process.stderr.write = w2;
      }
      const exitCode = Number(process.exitCode ?? 0);
      process.exitCode = 0;
      return { out, err, exitCode };
    };
    try {
      const c = await cli('connect', '--netns', L().vm, '--tap', 'tapcli', '--queues', '2');
      expect(c.exitCode).toBe(0);
      expect(JSON.parse(c.out)).toMatchObject({ tap: 'tapcli', veth: 'eth0', queues: 2, mtu: 1500 });
      const l = await cli('limit', '--netns', L().vm, '--tap', 'tapcli', '--rx', '50mbit', '--tx', '25M');
      expect(JSON.parse(l.out)).toEqual({ rxBps: 50_000_000, txBps: 25_000_000 });
      const bad = await cli('limit', '--netns', L().vm, '--tap', 'tapcli', '--rx', 'fast');
      expect(bad.exitCode).toBe(1);
      expect(bad.err).toMatch(/^error ERATE rx: /);
      const list = JSON.parse((await cli('list')).out) as Array<{ tap: string; rateLimit: unknown }>;
      expect(list.find((v) => v.tap === 'tapcli')?.rateLimit).toMatchObject({
        rx: { bps: 50_000_000 },
        tx: { bps: 25_000_000 },
      });
      expect(JSON.parse((await cli('disconnect', '--netns', L().vm, '--tap', 'tapcli')).out)).toEqual({
        disconnected: true,
      });
      const again = await cli('disconnect', '--netns', L().vm, '--tap', 'tapcli');
      expect(again.exitCode).toBe(1);
      expect(again.err).toMatch(/EVMUNKNOWN/);
      expect(await linkExists(L().vm, 'tapcli')).toBe(false);
    } finally {
      if (prevDir === undefined) delete process.env.TOLLGATE_VM_STATE_DIR;
      else process.env.TOLLGATE_VM_STATE_DIR = prevDir;
    }
  });
});

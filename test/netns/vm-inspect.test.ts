import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectVm, disconnectVm, inspectVm, uninspectVm, type ConnectedVm } from '../../agent/vm/index.js';
import { probeSteering, selectSteering, type ServicePair, type SteeringBackend } from '../../agent/steering/index.js';
import { run, runIn } from '../../shared/exec.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { startCapture } from '../helpers/steering-lab.js';
import {
  buildVmLab,
  destroyVmLab,
  GUEST_IP,
  PEER_IP,
  ping,
  randomPort,
  startVmm,
  tcpTransfer,
  type VmLab,
} from '../helpers/vm-lab.js';

/**
 * Deliverable 3 (learn part): a tap-connected VM steered like a veth workload, with the
 * VM's veth as vex and its tap as vin. The dp side (vth) must see ucmac-rewritten copies
 * of the guest's traffic while the guest keeps talking to its peer directly.
 */
const probe = isRoot ? await probeSteering() : { bpf: false, u32: false, detail: {} };

describe.skipIf(!probe.bpf)('VM workload under steering (learn: tap mode)', () => {
  let lab: VmLab | undefined;
  let vm: ConnectedVm;
  let be: SteeringBackend;
  let pair: ServicePair;
  let pinDir = '';
  const L = (): VmLab => lab!;

  beforeAll(async () => {
    lab = await buildVmLab(testPrefix());
    // vbr/vth in the VM's namespace: steering redirects stay within one namespace.
    await run(['ip', '-n', lab.vm, 'link', 'add', 'vbr', 'type', 'veth', 'peer', 'name', 'vth']);
    for (const d of ['vbr', 'vth']) await runIn(lab.vm, ['ip', 'link', 'set', 'dev', d, 'up']);
    const { stdout } = await runIn(lab.vm, ['ip', '-json', 'link', 'show', 'dev', 'vbr']);
    pair = {
      agentNs: lab.vm,
      vbr: 'vbr',
      vth: 'vth',
      vbrIfindex: (JSON.parse(stdout) as Array<{ ifindex: number }>)[0]!.ifindex,
    };
    pinDir = `/sys/fs/bpf/tollgate-${lab.vm}`;
    be = await selectSteering('bpf', { pinDir });
    await be.applyPlan(lab.vm, await be.planService(pair));
    vm = await connectVm({ netns: lab.vm, tap: 'tap0_tg', stateDir: lab.stateDir });
    await startVmm(lab, vm.tap, vm.mtu);
  });

  afterAll(async () => {
    if (lab) {
      const t = { netns: lab.vm, tap: 'tap0_tg', stateDir: lab.stateDir };
      await uninspectVm({ ...t, backend: be, pair }).catch(() => {});
      await disconnectVm({ ...t, missingOk: true }).catch(() => {});
      await be?.applyPlan(lab.vm, await be.planRemoveService(pair)).catch(() => {});
    }
    await destroyVmLab(lab);
    if (pinDir) await run(['rm', '-rf', pinDir], { allowFail: true });
  });

  it('the guest keeps talking to its peer and vth sees ucmac-rewritten copies of its frames', async () => {
    const port = await inspectVm({
      netns: L().vm,
      tap: vm.tap,
      backend: be,
      pair,
      mode: 'tap',
      stateDir: L().stateDir,
    });
    expect(port).toMatchObject({ vex: 'eth0', vin: 'tap0_tg', wlMac: L().mac, vinIfindex: vm.tapIfindex });
    const ucmac = ucmacForIfindex(vm.vethIfindex);

    const cap = await startCapture(L().vm, 'vth', ['icmp']);
    expect(await ping(L().cni, GUEST_IP, 3)).toBe(3);
    expect(await ping(L().guest, PEER_IP, 2)).toBe(2);
    const lines = await cap.stop();
    // tcpdump -e prints "SA > DA, ethertype ...": toward the VM the DA is the ucmac,
    // from the VM the SA is; the guest's own MAC never reaches the dp side.
    expect(lines.filter((l) => l.includes(`> ${ucmac},`) && l.includes('echo request')).length).toBeGreaterThanOrEqual(
      3,
    );
    expect(lines.filter((l) => l.includes(` ${ucmac} > `) && l.includes('echo reply')).length).toBeGreaterThanOrEqual(
      3,
    );
    expect(lines.filter((l) => l.includes(` ${ucmac} > `) && l.includes('echo request')).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(lines.some((l) => l.includes(L().mac))).toBe(false);

    const size = 1024 * 1024;
    const t = await tcpTransfer(L(), L().cni, L().guest, GUEST_IP, randomPort(), size);
    expect(t.received).toEqual(t.sent);
    expect(t.received.bytes).toBe(size);
  });

  it('a VM under inspection must be uninspected before disconnect; uninspect restores the plain redirects', async () => {
    await expect(disconnectVm({ netns: L().vm, tap: vm.tap, stateDir: L().stateDir })).rejects.toMatchObject({
      code: 'EVMBUSY',
    });
    await uninspectVm({ netns: L().vm, tap: vm.tap, backend: be, pair, stateDir: L().stateDir });
    const cap = await startCapture(L().vm, 'vth', ['icmp']);
    expect(await ping(L().cni, GUEST_IP, 2)).toBe(2);
    expect((await cap.stop()).filter((l) => l.includes('echo'))).toEqual([]);
    const { stdout } = await runIn(L().vm, ['tc', '-json', 'filter', 'show', 'dev', 'eth0', 'ingress']);
    expect(stdout).toContain('mirred');
    expect(await disconnectVm({ netns: L().vm, tap: vm.tap, stateDir: L().stateDir })).toBe(true);
  });

  it('a service pair outside the VM namespace is refused before anything changes', async () => {
    const v2 = await connectVm({ netns: L().vm, veth: 'eth0', tap: 'tap1_tg', stateDir: L().stateDir });
    await expect(
      inspectVm({
        netns: L().vm,
        tap: v2.tap,
        backend: be,
        pair: { ...pair, agentNs: L().cni },
        mode: 'tap',
        stateDir: L().stateDir,
      }),
    ).rejects.toMatchObject({ code: 'EVMINSPECT', field: 'pair.agentNs' });
    expect(await ping(L().cni, GUEST_IP, 1)).toBe(0); // frames go to tap1_tg (no VMM on it): the redirects are still in place
    const { stdout } = await runIn(L().vm, ['tc', '-json', 'filter', 'show', 'dev', 'eth0', 'ingress']);
    expect(stdout).toContain('tap1_tg');
    await disconnectVm({ netns: L().vm, tap: v2.tap, stateDir: L().stateDir });
  });
});

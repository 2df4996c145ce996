import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIn } from '../../shared/exec.js';
import { isRoot, testPrefix } from './netns.js';
import { HELPERS_DIR, startIn, startReflector, stopAllStarted, type NsProcess } from './reflector.js';
import {
  HOST_IP,
  WL_IP,
  WL_MAC,
  sendFrames,
  taggedFrameHex,
  buildSteeringLab,
  linkLocal,
  ping,
  startCapture,
  type SteeringLab,
} from './steering-lab.js';
import {
  dumpIngressFilters,
  probeSteering,
  readSteeringCounters,
  selectSteering,
  type SteeringBackend,
  type SteeringCounters,
  type SteeringKind,
  type SteeringMode,
  type SteeringProbe,
} from '../../agent/steering/index.js';
import { readIngress } from '../../agent/steering/tc-state.js';

const TCP_PORT = 5201;

/** Polls `cond` until it holds (no timing assertion: the test timeout is the only bound). */
async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 100));
}

/**
 * Whether the live suites of `kind` run here: the probe's answer. Where the backend is
 * unusable they skip with the reason printed, unless TG_STEERING names this backend (the
 * kernel lane sets TG_STEERING=u32): then an unusable backend fails the file instead of
 * letting it pass by skipping.
 */
export async function steeringGate(kind: SteeringKind): Promise<SteeringProbe> {
  const probe: SteeringProbe = isRoot
    ? await probeSteering()
    : { u32: false, bpf: false, detail: { root: 'not root' } };
  if (probe[kind]) console.info(`[steering-${kind}] live: probe ${JSON.stringify(probe)}`);
  else if (process.env.TG_STEERING === kind)
    throw new Error(`TG_STEERING=${kind}, but ${kind} steering is unusable here: ${JSON.stringify(probe.detail)}`);
  else console.warn(`[steering-${kind}] skipped: ${kind} steering unusable here: ${JSON.stringify(probe.detail)}`);
  return probe;
}

/**
 * The live steering behaviour every backend must show, run against a fresh lab. Skipped,
 * with the probe's reason printed, where the backend cannot run on this kernel.
 */
export async function steeringSuite(kind: SteeringKind): Promise<void> {
  const probe = await steeringGate(kind);
  const isBpf = kind === 'bpf';
  const counters = async (lab: SteeringLab): Promise<SteeringCounters | null> =>
    isBpf ? readSteeringCounters(lab.pinDir) : null;

  describe.skipIf(!probe[kind])(`${kind} steering, live`, () => {
    let lab: SteeringLab;
    let be: SteeringBackend;
    let server: NsProcess | undefined;
    let ucmac: string;

    const setMode = async (mode: SteeringMode) => {
      await be.applyPlan(lab.agent, await be.planPort(lab.port(mode), lab.pair));
    };
    const tcpTransfer = async (bytes: number) => {
      const r = await runIn(
        lab.host,
        ['python3', `${HELPERS_DIR}tcp-echo.py`, 'send', WL_IP, String(TCP_PORT), String(bytes)],
        {
          allowFail: true,
          timeoutMs: 40_000,
        },
      );
      return r.stdout.trim()
        ? (JSON.parse(r.stdout.trim()) as { sent: number; received: number; equal: boolean })
        : null;
    };
    const dumps = async () => Promise.all(['vex', 'vin', 'vbr'].map((d) => dumpIngressFilters(lab.agent, d)));

    beforeAll(async () => {
      lab = await buildSteeringLab(testPrefix());
      be = await selectSteering(kind, { pinDir: lab.pinDir });
      expect(be.kind).toBe(kind);
      await be.applyPlan(lab.agent, await be.planService(lab.pair));
      ucmac = lab.port('tap').ucMac;
      server = await startIn(
        lab.wl,
        ['python3', '-u', `${HELPERS_DIR}tcp-echo.py`, 'server', String(TCP_PORT)],
        'ready',
      );
    });

    afterAll(async () => {
      await server?.stop();
      await stopAllStarted();
      await lab?.destroy();
    });

    it('the probe: auto picks u32 where act_pedit works, else bpf', async () => {
      const auto = await selectSteering('auto', { pinDir: lab.pinDir });
      expect(auto.kind).toBe(probe.u32 ? 'u32' : 'bpf');
    });

    it('learn: ping and TCP pass, vth sees copies with the ucmac as DA (to the workload) and SA (from it)', async () => {
      await setMode('tap');
      const cap = await startCapture(lab.agent, 'vth', ['icmp']);
      expect(await ping(lab.host, WL_IP)).toBe(true);
      const lines = await cap.stop();
      // tcpdump -e prints "SA > DA, ethertype ..."
      expect(lines.some((l) => l.includes(`> ${ucmac},`) && l.includes('echo request'))).toBe(true);
      expect(lines.some((l) => l.includes(` ${ucmac} > `) && l.includes('echo reply'))).toBe(true);
      expect(lines.some((l) => l.includes(WL_MAC))).toBe(false);
      const t = await tcpTransfer(300_000);
      expect(t).toEqual({ sent: 300_000, received: 300_000, equal: true });
    });

    it('learn: frames the dp sends back are dropped at vbr, the workload still gets exactly one copy', async () => {
      const refl = await startReflector(lab.agent, 'vth');
      const before = await counters(lab);
      const cap = await startCapture(lab.wl, 'eth0', ['icmp']);
      expect(await ping(lab.host, WL_IP, 3)).toBe(true);
      const lines = await cap.stop();
      const reflected = await refl.stop();
      const after = await counters(lab);
      expect(reflected).toBeGreaterThanOrEqual(6);
      if (before && after) {
        expect(after.from_dp_tap_drop - before.from_dp_tap_drop).toBeGreaterThanOrEqual(6);
        expect(after.tap_copy - before.tap_copy).toBeGreaterThanOrEqual(6);
        expect(after.from_dp_to_vin + after.from_dp_to_vex).toBe(before.from_dp_to_vin + before.from_dp_to_vex);
      }
      expect(lines.filter((l) => l.includes('echo request'))).toHaveLength(3);
    });

    it('idempotence: re-planning an applied port or service changes nothing', async () => {
      const before = await dumps();
      const again = await be.planPort(lab.port('tap'), lab.pair);
      expect(again.tc).toEqual([]);
      await be.applyPlan(lab.agent, again);
      expect(again.commands).toEqual([]);
      const svc = await be.planService(lab.pair);
      expect(svc).toEqual({ prepare: [], tc: [], commands: [] });
      await be.applyPlan(lab.agent, svc);
      expect(await dumps()).toEqual(before);
    });

    it('protect without a dp: unicast IP (v4 and v6) is black-holed, ARP still resolves', async () => {
      if (isBpf) {
        // A mode switch is map updates only: the filters (and their program ids) stay.
        const sw = await be.planPort(lab.port('inline'), lab.pair);
        expect(sw.tc).toEqual([]);
        expect(sw.prepare.every((c) => c.slice(0, 3).join(' ') === 'bpftool map update')).toBe(true);
      }
      await setMode('inline');
      expect((await be.planPort(lab.port('inline'), lab.pair)).tc).toEqual([]);
      await runIn(lab.host, ['ip', 'neigh', 'flush', 'dev', 'br0']);
      expect(await ping(lab.host, WL_IP, 2)).toBe(false);
      const { stdout } = await runIn(lab.host, ['ip', '-json', 'neigh', 'show', 'dev', 'br0', 'to', WL_IP]);
      const [n] = JSON.parse(stdout) as Array<{ lladdr?: string; state?: string[] }>;
      expect(n?.lladdr).toBe(WL_MAC);
      expect(n?.state).not.toContain('FAILED');
      const wl6 = await linkLocal(lab.wl, 'eth0');
      expect(await ping(lab.host, `${wl6}%br0`, 2, ['-6'])).toBe(false);
    });

    it('protect: 802.1Q-tagged IP is steered to vth with the ucmac; tagged ARP crosses directly', async () => {
      const hostMac = '02:00:00:00:00:01';
      const onVth = await startCapture(lab.agent, 'vth', ['-c', '1', 'vlan']);
      const onWl = await startCapture(lab.wl, 'eth0', ['vlan']);
      await sendFrames(lab.host, 'hveth', [
        taggedFrameHex(WL_MAC, hostMac, 'ipv4'),
        taggedFrameHex('ff:ff:ff:ff:ff:ff', hostMac, 'arp'),
      ]);
      await onVth.proc.exited; // -c 1: exits after the steered frame
      const vth = await onVth.stop();
      const wl = await onWl.stop();
      expect(vth.some((l) => l.includes(`> ${ucmac},`) && l.includes('vlan 100') && l.includes('198.18.1.1'))).toBe(
        true,
      );
      expect(wl.some((l) => l.includes('ARP') && l.includes('vlan 100'))).toBe(true);
      expect(wl.some((l) => l.includes('198.18.1.1.40000'))).toBe(false); // the IP frame went only to the dp
    });

    it('protect with a reflector on vth: ping (v4, v6) and TCP pass; the workload sees only original MACs', async () => {
      const refl = await startReflector(lab.agent, 'vth');
      try {
        const cap = await startCapture(lab.wl, 'eth0');
        expect(await ping(lab.host, WL_IP)).toBe(true);
        const t = await tcpTransfer(300_000);
        expect(t).toEqual({ sent: 300_000, received: 300_000, equal: true });
        const wl6 = await linkLocal(lab.wl, 'eth0');
        expect(await ping(lab.host, `${wl6}%br0`, 3, ['-6'])).toBe(true);
        const lines = await cap.stop();
        expect(lines.length).toBeGreaterThan(10);
        expect(lines.some((l) => l.includes('4e:65:75:56'))).toBe(false);
        expect(lines.some((l) => l.includes(`> ${WL_MAC},`) && l.includes('echo request'))).toBe(true);
      } finally {
        expect(await refl.stop()).toBeGreaterThan(0);
      }
    });

    it('a TCP stream open across learn → protect → learn loses no connection and no byte', async () => {
      await setMode('tap');
      const refl = await startReflector(lab.agent, 'vth');
      try {
        const client = await startIn(
          lab.host,
          ['python3', '-u', `${HELPERS_DIR}tcp-echo.py`, 'stream', WL_IP, String(TCP_PORT)],
          'connected',
        );
        // Keep the stream running in each mode until the path it should take has carried
        // frames of it (bpf: by the program's counters; u32: by the reflector's count).
        const c0 = await counters(lab);
        await new Promise((r) => setTimeout(r, 300));
        await setMode('inline');
        if (c0) {
          await waitFor(async () => {
            const c = (await counters(lab))!;
            return c.from_dp_to_vin - c0.from_dp_to_vin > 10 && c.from_dp_to_vex - c0.from_dp_to_vex > 10;
          });
        } else {
          await new Promise((r) => setTimeout(r, 500));
        }
        const c1 = await counters(lab);
        await setMode('tap');
        if (c1) await waitFor(async () => (await counters(lab))!.tap_copy - c1.tap_copy > 10);
        else await new Promise((r) => setTimeout(r, 500));
        client.child.stdin!.end();
        expect(await client.exited).toBe(0);
        const res = JSON.parse(client.stdout().trim().split('\n').pop()!) as {
          counters: number;
          sent: number;
          received: number;
          equal: boolean;
        };
        expect(res.counters).toBeGreaterThan(20);
        expect(res.received).toBe(res.sent);
        expect(res.equal).toBe(true);
        expect(await refl.stop()).toBeGreaterThan(10); // the protect phase really went through vth
      } finally {
        await refl.proc.stop();
      }
    });

    it('bad input is rejected before anything changes', async () => {
      const before = await dumps();
      await expect(be.planPort({ ...lab.port('inline'), wlMac: 'nope' }, lab.pair)).rejects.toMatchObject({
        code: 'ESTEERINPUT',
      });
      await expect(selectSteering('bpf', { pinDir: '/tmp/x' })).rejects.toMatchObject({ field: 'pinDir' });
      expect(await dumps()).toEqual(before);
    });

    it('removal: no qdisc or filter left on the port, and no pin directory after the service goes', async () => {
      await be.applyPlan(lab.agent, await be.planRemovePort(lab.port('tap'), lab.pair));
      for (const d of ['vex', 'vin']) {
        const st = await readIngress(lab.agent, d);
        expect(st.qdisc).toBeNull();
        expect(st.filters.size).toBe(0);
      }
      // A second removal is a no-op plan.
      expect(await be.planRemovePort(lab.port('tap'), lab.pair)).toEqual({ prepare: [], tc: [], commands: [] });
      await be.applyPlan(lab.agent, await be.planRemoveService(lab.pair));
      expect((await readIngress(lab.agent, 'vbr')).qdisc).toBeNull();
      if (isBpf) expect(existsSync(lab.pinDir)).toBe(false);
      expect(await ping(lab.host, HOST_IP, 1)).toBe(true); // sanity: the host itself is fine
    });
  });
}

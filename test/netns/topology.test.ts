import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJson } from '../../shared/exec.js';
import { isRoot, namespacesWith } from '../helpers/netns.js';
import { labUp, type Lab } from '../helpers/lab.js';
import { ping } from '../helpers/ping.js';
import { applyLab, planLab } from '../../agent/topology/reconcile.js';
import { openSteering } from '../../agent/topology/steering-bridge.js';
import { readOffloads } from '../../agent/topology/offload.js';
import type { LabSpec } from '../../agent/topology/spec.js';

interface Link {
  ifindex: number;
  ifname: string;
  address: string;
  master?: string;
  link_index?: number;
  flags: string[];
  mtu: number;
}

/** Drops the bridge's running timers (gc_timer, forward_delay_timer, ...), which tick on their own. */
function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !k.endsWith('_timer'))
        .map(([k, x]) => [k, stable(x)]),
    );
  return v;
}

/** Every namespace's `ip -json link` and `ip -json addr`, to prove a re-apply changes nothing. */
async function dumps(namespaces: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const ns of namespaces) {
    out[`${ns} link`] = stable(await runJson(ns, ['ip', '-json', '-details', 'link', 'show']));
    out[`${ns} addr`] = await runJson(ns, ['ip', '-json', 'addr', 'show']);
    out[`${ns} route`] = await runJson(ns, ['ip', '-json', 'route', 'show', 'table', 'all']);
  }
  return out;
}

describe.skipIf(!isRoot)('lab topology', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await labUp();
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('builds host, agent and workload namespaces with the NeuVector-style links', async () => {
    expect(namespacesWith(lab.prefix).sort()).toEqual([lab.agentNs, lab.hostNs, lab.ns('db'), lab.ns('web')].sort());
    const agent = await runJson<Link[]>(lab.agentNs, ['ip', '-json', 'link', 'show']);
    const host = await runJson<Link[]>(lab.hostNs, ['ip', '-json', 'link', 'show']);
    const names = agent.map((l) => l.ifname).sort();
    expect(names).toEqual(['lo', 'vbr', 'vex-db', 'vex-web', 'vin-db', 'vin-web', 'vth']);
    expect(agent.find((l) => l.ifname === 'vbr')?.mtu).toBe(2048);
    for (const w of lab.workloads) {
      const vex = agent.find((l) => l.ifname === w.vex)!;
      const vin = agent.find((l) => l.ifname === w.vin)!;
      const peer = host.find((l) => l.ifname === w.hostPeer)!;
      expect(peer.master).toBe('br0');
      expect(vex.link_index).toBe(peer.ifindex);
      expect(vex.flags).toContain('UP');
      const [eth0] = await runJson<Array<Link & { addr_info: Array<{ family: string; local: string }> }>>(w.ns, [
        'ip',
        '-json',
        'addr',
        'show',
        'dev',
        'eth0',
      ]);
      expect(eth0!.address).toBe(w.mac);
      expect(eth0!.link_index).toBe(vin.ifindex);
      expect(eth0!.addr_info.filter((a) => a.family === 'inet').map((a) => a.local)).toEqual([w.ip]);
      expect(w.ucMac).toBe(
        `4e:65:75:56:${((w.vexIfindex >> 8) & 0xff).toString(16).padStart(2, '0')}:${(w.vexIfindex & 0xff).toString(16).padStart(2, '0')}`,
      );
    }
  });

  it('turns offloads off on vbr and vth (the dp reads them) and leaves them on for eth0, host peer, vex and vin', async () => {
    for (const dev of ['vbr', 'vth']) expect((await readOffloads(lab.agentNs, dev)).on, dev).toEqual([]);
    for (const w of lab.workloads) {
      for (const [ns, dev] of [
        [w.ns, 'eth0'],
        [lab.hostNs, w.hostPeer],
        [lab.agentNs, w.vex],
        [lab.agentNs, w.vin],
      ] as const) {
        expect((await readOffloads(ns, dev)).on, `${dev} in ${ns}`).toEqual(
          expect.arrayContaining(['tx', 'tso', 'gso']),
        );
      }
    }
  });

  it('host side reaches each workload and back (learn mode steering)', async () => {
    expect(lab.steering).not.toBe('none');
    for (const w of lab.workloads) {
      expect(await ping(lab.hostNs, w.ip), `host -> ${w.name}`).toBe(true);
      expect(await ping(w.ns, lab.hostIp), `${w.name} -> host`).toBe(true);
    }
    expect(await ping(lab.ns('web'), lab.workload('db').ip)).toBe(true);
  });

  it('re-applying the same spec runs nothing and changes no ip -json dump', async () => {
    const steering = await openSteering(lab.spec.steering, lab.pinDir);
    const plan = await planLab(lab.spec, steering);
    expect(plan.topology).toEqual([]);
    expect(plan.changes).toEqual([]);
    const nss = namespacesWith(lab.prefix);
    const before = await dumps(nss);
    await applyLab(lab.spec, steering);
    expect(await dumps(nss)).toEqual(before);
  });

  it('removing a workload from the spec removes only its links and namespace', async () => {
    const steering = await openSteering(lab.spec.steering, lab.pinDir);
    const webOnly: LabSpec = { ...lab.spec, workloads: lab.spec.workloads.filter((w) => w.name === 'web') };
    const webBefore = await dumps([lab.ns('web')]);
    const agentBefore = (await runJson<Link[]>(lab.agentNs, ['ip', '-json', 'link', 'show'])).filter(
      (l) => !l.ifname.endsWith('-db'),
    );
    await applyLab(webOnly, steering);
    expect(namespacesWith(lab.prefix)).not.toContain(lab.ns('db'));
    const agentAfter = await runJson<Link[]>(lab.agentNs, ['ip', '-json', 'link', 'show']);
    expect(agentAfter.map((l) => l.ifname).sort()).toEqual(['lo', 'vbr', 'vex-web', 'vin-web', 'vth']);
    expect(agentAfter).toEqual(agentBefore);
    const host = await runJson<Link[]>(lab.hostNs, ['ip', '-json', 'link', 'show']);
    expect(host.map((l) => l.ifname).sort()).toEqual(['br0', 'lo', 'vh-web']);
    expect(await dumps([lab.ns('web')])).toEqual(webBefore);
    expect(await ping(lab.hostNs, lab.workload('web').ip)).toBe(true);
    // and back: db is rebuilt, web untouched
    await applyLab(lab.spec, steering);
    expect(await dumps([lab.ns('web')])).toEqual(webBefore);
    expect(await ping(lab.hostNs, lab.workload('db').ip)).toBe(true);
  });

  it('down removes every namespace of the lab and its pin directory', async () => {
    await lab.down();
    expect(namespacesWith(lab.prefix)).toEqual([]);
    expect(existsSync(lab.pinDir)).toBe(false);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runIn, runJson } from '../../shared/exec.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { ping } from '../helpers/ping.js';
import { pullContainerPort } from '../../agent/daemon/container-port.js';
import { readLinks } from '../../agent/topology/ip-state.js';
import { decodeMarker } from '../../agent/topology/port-marker.js';
import { VIN_IFINDEX_BASE, vexName } from '../../agent/topology/names.js';

/**
 * Enrolment of containers pulled at the same time: a pull that fails part-way gives the
 * container its interface back as it was (so a retry starts clean), and a pull working
 * from an older read of the enforcer's links never picks an ifindex another pull took.
 */
const P = testPrefix();
const NET = `${P}net`;
const AGENT = `${P}agent`;
const CTRS = [`${P}c1`, `${P}c2`];

interface EthDump {
  ifname: string;
  address: string;
  ifalias?: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

async function eth0(ns: string): Promise<{ link: EthDump; routes: unknown; neigh: unknown }> {
  const [l] = await runJson<EthDump[]>(ns, ['ip', '-json', '-details', 'addr', 'show', 'dev', 'eth0']);
  if (!l) throw new Error(`no eth0 in ${ns}`);
  return {
    link: {
      ifname: l.ifname,
      address: l.address,
      ...(l.ifalias ? { ifalias: l.ifalias } : {}),
      addr_info: l.addr_info
        .filter((a) => a.family === 'inet')
        .map(({ family, local, prefixlen }) => ({ family, local, prefixlen })),
    },
    routes: await runJson(ns, ['ip', '-json', '-4', 'route', 'show', 'table', 'all']),
    neigh: await runJson(ns, ['ip', '-json', 'neigh', 'show', 'nud', 'permanent']),
  };
}

const target = (i: number, reserved: Set<number>, agentLinks?: []) => ({
  agentNs: AGENT,
  nsPath: `/run/netns/${CTRS[i]}`,
  ifname: 'eth0',
  label: `${P.slice(-6)}r${i}`,
  mode: 'learn' as const,
  steering: 'none',
  containerId: `${i}`.repeat(12),
  group: 'g',
  reserved,
  ...(agentLinks ? { agentLinks } : {}),
});

describe.skipIf(!isRoot)('enrolment pulls: rollback and concurrent ifindex choice', () => {
  beforeAll(async () => {
    for (const ns of [NET, AGENT, ...CTRS]) await run(['ip', 'netns', 'add', ns]);
    const net = (...a: string[]) => runIn(NET, ['ip', ...a]);
    await net('link', 'add', 'br0', 'type', 'bridge');
    await net('addr', 'add', '198.18.6.1/24', 'dev', 'br0');
    await net('link', 'set', 'br0', 'up');
    for (const [i, ns] of CTRS.entries()) {
      const ctr = (...a: string[]) => runIn(ns, ['ip', ...a]);
      await ctr('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `vc${i}`, 'netns', NET);
      await net('link', 'set', `vc${i}`, 'master', 'br0');
      await net('link', 'set', `vc${i}`, 'up');
      await ctr('addr', 'add', `198.18.6.${10 + i}/24`, 'dev', 'eth0');
      await ctr('link', 'set', 'eth0', 'alias', 'uplink');
      await ctr('link', 'set', 'eth0', 'up');
      await ctr('route', 'add', 'default', 'via', '198.18.6.1');
      await ctr('neigh', 'add', '198.18.6.99', 'lladdr', '02:00:00:00:00:99', 'nud', 'permanent', 'dev', 'eth0');
    }
  });

  afterAll(async () => {
    for (const ns of [...CTRS, NET, AGENT]) await run(['ip', 'netns', 'del', ns], { allowFail: true });
  });

  it('a pull that fails part-way leaves the container exactly as it was, and reachable', async () => {
    const before = await eth0(CTRS[0]!);
    // Another link holds the ifindex the pull will pick from its (stale) view of the enforcer.
    await runIn(AGENT, [
      'ip',
      'link',
      'add',
      'squat',
      'index',
      String(VIN_IFINDEX_BASE),
      'type',
      'veth',
      'peer',
      'name',
      'squat2',
    ]);
    await expect(pullContainerPort(target(0, new Set(), []))).rejects.toThrow(/File exists/);
    expect(await eth0(CTRS[0]!)).toEqual(before);
    expect((await readLinks(AGENT)).map((l) => l.ifname).sort()).toEqual(['lo', 'squat', 'squat2']);
    expect(await ping(NET, '198.18.6.10')).toBe(true);
    await runIn(AGENT, ['ip', 'link', 'del', 'squat']);
  });

  // One set for the pulls below, as the daemon's enroller keeps one.
  const reserved = new Set<number>();

  it('the retry pulls cleanly: the marker saves the original alias, not a marker', async () => {
    const p = await pullContainerPort(target(0, reserved));
    const vex = (await readLinks(AGENT)).find((l) => l.ifname === vexName(p.label));
    expect(decodeMarker(vex?.ifalias)?.alias).toBe('uplink');
    expect((await eth0(CTRS[0]!)).link.ifalias).toBe('uplink');
    expect(reserved.has(p.vin.ifindex)).toBe(true);
  });

  it("a pull working from a read older than another pull never picks that pull's ifindex", async () => {
    // The empty read predates the pull above, as happens when resync pulls run side by side.
    const p = await pullContainerPort(target(1, reserved, []));
    const vins = (await readLinks(AGENT)).filter((l) => l.ifname.startsWith('vin-')).map((l) => l.ifindex);
    expect(new Set(vins).size).toBe(2);
    expect(vins).toContain(p.vin.ifindex);
    expect(await ping(NET, '198.18.6.11')).toBe(false); // pulled and unsteered: cut off, never open
  });
});

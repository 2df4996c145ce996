import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIn, runJson, run } from '../../shared/exec.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { ping } from '../helpers/ping.js';
import { pullPort } from '../../agent/topology/pull.js';
import { restorePort } from '../../agent/topology/restore.js';
import { readOffloads } from '../../agent/topology/offload.js';

/**
 * Pull/restore of a CNI-like bridged namespace that our topology code did not build:
 * a bridge in one namespace, a container namespace whose eth0 is plugged into it.
 */
const P = testPrefix();
const NET = `${P}net`;
const CTR = `${P}ctr`;
const AGENT = `${P}agent`;
const MAC = '02:54:47:04:00:0a';
const steeringAvailable = existsSync(new URL('../../agent/steering/index.ts', import.meta.url));

interface LinkJson {
  ifindex: number;
  ifname: string;
  address: string;
  mtu: number;
  txqlen: number;
  link_index?: number;
  flags: string[];
  ifalias?: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number; broadcast?: string; scope?: string }>;
}

async function eth0Dump(): Promise<{
  link: Omit<LinkJson, 'addr_info'>;
  v4: unknown;
  routes: unknown;
  neigh: unknown;
}> {
  const [l] = await runJson<LinkJson[]>(CTR, ['ip', '-json', 'addr', 'show', 'dev', 'eth0']);
  const [withAlias] = await runJson<LinkJson[]>(CTR, ['ip', '-json', 'link', 'show', 'dev', 'eth0']);
  if (!l || !withAlias) throw new Error('no eth0');
  l.ifalias = withAlias.ifalias;
  const { addr_info, ...rest } = l;
  const link = {
    ifindex: rest.ifindex,
    ifname: rest.ifname,
    address: rest.address,
    mtu: rest.mtu,
    txqlen: rest.txqlen,
    link_index: rest.link_index,
    flags: rest.flags.filter((f) => f !== 'M-DOWN'),
    ifalias: rest.ifalias,
  };
  return {
    link,
    v4: addr_info.filter((a) => a.family === 'inet'),
    routes: await runJson(CTR, ['ip', '-json', '-4', 'route', 'show', 'table', 'all']),
    neigh: await runJson(CTR, ['ip', '-json', 'neigh', 'show', 'nud', 'permanent']),
  };
}

/** Test-only plain forwarding between vex and vin, for when no steering backend exists yet. */
async function plainRedirect(vex: string, vin: string): Promise<void> {
  for (const [a, b] of [
    [vex, vin],
    [vin, vex],
  ] as const) {
    await runIn(AGENT, ['tc', 'qdisc', 'add', 'dev', a, 'ingress']);
    await runIn(AGENT, [
      'tc',
      'filter',
      'add',
      'dev',
      a,
      'parent',
      'ffff:',
      'protocol',
      'all',
      'u32',
      'match',
      'u8',
      '0',
      '0',
      'action',
      'mirred',
      'egress',
      'redirect',
      'dev',
      b,
    ]);
  }
}

describe.skipIf(!isRoot)('pull and restore a bridged namespace', () => {
  beforeAll(async () => {
    await run(['ip', 'netns', 'add', NET]);
    await run(['ip', 'netns', 'add', CTR]);
    const net = (...a: string[]) => runIn(NET, ['ip', ...a]);
    const ctr = (...a: string[]) => runIn(CTR, ['ip', ...a]);
    await net('link', 'add', 'br0', 'type', 'bridge');
    await net('addr', 'add', '198.18.4.1/24', 'dev', 'br0');
    await net('link', 'set', 'br0', 'up');
    await ctr(
      'link',
      'add',
      'eth0',
      'address',
      MAC,
      'mtu',
      '1400',
      'type',
      'veth',
      'peer',
      'name',
      'vc1',
      'netns',
      NET,
    );
    await net('link', 'set', 'vc1', 'master', 'br0');
    await net('link', 'set', 'vc1', 'up');
    await ctr('link', 'set', 'lo', 'up');
    await ctr('addr', 'add', '198.18.4.10/24', 'dev', 'eth0');
    await ctr('addr', 'add', '198.18.4.20/24', 'dev', 'eth0');
    await ctr('link', 'set', 'eth0', 'alias', 'container uplink');
    await ctr('link', 'set', 'eth0', 'up');
    await ctr('route', 'add', 'default', 'via', '198.18.4.1');
    await ctr('route', 'add', '198.19.1.0/24', 'via', '198.18.4.1', 'metric', '7', 'proto', 'static');
    await ctr('neigh', 'add', '198.18.4.99', 'lladdr', '02:00:00:00:00:99', 'nud', 'permanent', 'dev', 'eth0');
  });

  afterAll(async () => {
    for (const ns of [CTR, NET, AGENT]) await run(['ip', 'netns', 'del', ns], { allowFail: true });
    await run(['rm', '-rf', `/sys/fs/bpf/tollgate-${AGENT}`], { allowFail: true });
  });

  let before: Awaited<ReturnType<typeof eth0Dump>>;
  let vcIndex = 0;

  it('pings before pull', async () => {
    expect(await ping(NET, '198.18.4.10')).toBe(true);
    before = await eth0Dump();
    const [vc] = await runJson<LinkJson[]>(NET, ['ip', '-json', 'link', 'show', 'dev', 'vc1']);
    vcIndex = vc!.ifindex;
  });

  it('pull keeps MAC, MTU, addresses, routes and neighbours on a new eth0', async () => {
    const res = await pullPort({
      ns: `/run/netns/${CTR}`,
      agentNs: AGENT,
      label: 'ctr',
      steering: steeringAvailable ? 'auto' : 'none',
    });
    expect(res.vex).toBe('vex-ctr');
    const after = await eth0Dump();
    expect(after.link.address).toBe(MAC);
    expect(after.link.mtu).toBe(1400);
    expect(after.link.ifalias).toBe('container uplink');
    expect(after.link.ifindex).not.toBe(before.link.ifindex);
    expect(after.v4).toEqual(before.v4);
    expect(after.routes).toEqual(before.routes);
    expect(after.neigh).toEqual(before.neigh);
    const agentLinks = await runJson<LinkJson[]>(AGENT, ['ip', '-json', 'link', 'show']);
    const vex = agentLinks.find((l) => l.ifname === 'vex-ctr');
    const vin = agentLinks.find((l) => l.ifname === 'vin-ctr');
    expect(vex?.link_index).toBe(vcIndex); // the original link still plugs into the bridge
    expect(vex?.address).toBe(MAC);
    expect(vin?.link_index).toBe(after.link.ifindex);
    // Off on the dp's pair; the container's links keep theirs (docs/FASTPATH.md, "Offloads").
    for (const dev of ['vbr', 'vth']) expect((await readOffloads(AGENT, dev)).on, `${dev} offloads`).toEqual([]);
    for (const [ns, dev] of [
      [CTR, 'eth0'],
      [AGENT, 'vex-ctr'],
      [AGENT, 'vin-ctr'],
    ] as const) {
      expect((await readOffloads(ns, dev)).on, `${dev} offloads`).toEqual(expect.arrayContaining(['tx', 'tso', 'gso']));
    }
    if (!steeringAvailable) await plainRedirect('vex-ctr', 'vin-ctr');
  });

  it('pings while pulled', async () => {
    expect(await ping(NET, '198.18.4.10')).toBe(true);
    expect(await ping(CTR, '198.18.4.1')).toBe(true);
  });

  it('refuses to pull twice', async () => {
    await expect(pullPort({ ns: CTR, agentNs: AGENT, label: 'ctr', steering: 'none' })).rejects.toThrow(
      /already pulled/,
    );
  });

  it('restore gives back exactly the original interface', async () => {
    const res = await restorePort({ ns: CTR, agentNs: AGENT });
    expect(res.label).toBe('ctr');
    const after = await eth0Dump();
    expect(after).toEqual(before);
    const agentLinks = await runJson<LinkJson[]>(AGENT, ['ip', '-json', 'link', 'show']);
    expect(agentLinks.map((l) => l.ifname).filter((n) => n.endsWith('-ctr'))).toEqual([]);
    expect((await readOffloads(CTR, 'eth0')).on).toEqual(expect.arrayContaining(['tx', 'tso', 'gso']));
    expect(await ping(NET, '198.18.4.10')).toBe(true);
  });

  it('restore of a port that is not pulled is a clear error', async () => {
    await expect(restorePort({ ns: CTR, agentNs: AGENT })).rejects.toThrow(/not pulled/);
  });
});

/**
 * NeuVector's u32 + pedit + mirred steering driven by the agent: `up` of a lab with u32
 * steering (twice: the second changes nothing), the daemon with the real dp in place of a
 * reflector (learned flows pass in protect, new ones are dropped), a TCP stream across
 * learn → protect → learn, pull and restore of a namespace the agent did not build, and
 * `down`.
 *
 * Runs where the probe finds act_pedit and act_gact: in the kernel lane
 * (scripts/kernel-lane/lane.sh, Debian's stock kernel under QEMU), not on this machine
 * type's kernel, where it skips with the probe's reason (and fails instead when
 * TG_STEERING=u32 says u32 must run). Kept short, and `up`, `mode` and `down` run
 * in-process (the code behind the CLI commands; the CLI itself is tested on the host with
 * bpf steering): under emulation each Node process start costs seconds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { steeringGate } from '../helpers/steering-suite.js';
import { namespacesWith, testPrefix } from '../helpers/netns.js';
import { AgentProcess, waitFor, writeSpec } from '../helpers/agent-proc.js';
import { TcpSession, startEchoServer, tcpWorks } from '../helpers/tcp-session.js';
import { ping } from '../helpers/ping.js';
import { run, runIn, runJson } from '../../shared/exec.js';
import { downLab } from '../../agent/topology/down.js';
import { labNamespaces, parseLabSpec } from '../../agent/topology/spec.js';
import { applyLab } from '../../agent/topology/reconcile.js';
import { openSteering } from '../../agent/topology/steering-bridge.js';
import { pinDirFor } from '../../agent/topology/names.js';
import { pullPort } from '../../agent/topology/pull.js';
import { restorePort } from '../../agent/topology/restore.js';
import type { AllowRule } from '../../agent/learn/rule.js';

const probe = await steeringGate('u32');

const HOST = '198.18.0.1';
const WEB = { name: 'web', ip: '198.18.0.10', mac: '02:74:67:13:00:0a' };

interface TcFilter {
  pref?: number;
  protocol?: string;
  kind?: string;
  options?: { actions?: Array<{ kind?: string }> };
}

/** The installed filters of `dev`, one line per filter: pref, protocol, kind, action kinds. */
async function filterSummary(ns: string, dev: string): Promise<string[]> {
  const fs = await runJson<TcFilter[]>(ns, ['tc', '-json', 'filter', 'show', 'dev', dev, 'ingress']);
  return fs
    .filter((f) => f.options?.actions)
    .map((f) => `${f.pref} ${f.protocol} ${f.kind} ${f.options!.actions!.map((a) => a.kind).join('+')}`);
}

describe.skipIf(!probe.u32)('u32 steering with the agent and the dp, live', () => {
  const prefix = testPrefix();
  const { path: specPath, dir } = writeSpec({
    prefix,
    steering: 'u32',
    workloads: [{ name: WEB.name, ip: `${WEB.ip}/24`, mac: WEB.mac }],
  });
  const rulesPath = join(dir, 'rules.yaml');
  const ns = (n: string) => `${prefix}${n}`;
  let agent: AgentProcess | undefined;
  const servers: ChildProcess[] = [];
  const tcDump = async () => {
    const out: Record<string, string> = {};
    for (const dev of ['vex-web', 'vin-web', 'vbr'])
      out[dev] = (await runIn(ns('agent'), ['tc', '-json', 'filter', 'show', 'dev', dev, 'ingress'])).stdout;
    return out;
  };

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await agent?.stop();
    await downLab(parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8'))));
  });

  it('the daemon builds the lab with u32 steering (the tap rule set); a second up changes nothing (tc -json read-back)', async () => {
    // Emulation is slow, and slower still on a busy host: give the dp minutes to start and
    // seconds to answer a keep-alive, so the supervisor does not restart a healthy dp.
    agent = new AgentProcess(specPath, rulesPath, prefix, {
      readyMs: 400_000,
      callMs: 120_000,
      runArgs: ['--dp-start-timeout', '240', '--keepalive-timeout', '30'],
    });
    await agent.start();
    expect((await agent.status()).steering).toBe('u32');
    // learn = tap: mirror to the peer first, then rewrite and mirror to vbr; vbr drops.
    expect(await filterSummary(ns('agent'), 'vex-web')).toEqual([
      '9998 802.1Q u32 mirred+pedit+mirred',
      '9999 802.1Q u32 mirred+pedit+mirred',
      '10000 ipv6 u32 mirred+pedit+mirred',
      '10001 ip u32 mirred+pedit+mirred',
      '10002 all u32 mirred',
    ]);
    expect(await filterSummary(ns('agent'), 'vbr')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\d+ all u32 gact$/)]),
    );
    // `agent up` of the same spec (the code behind the CLI command, in this process).
    const before = await tcDump();
    const spec = parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8')));
    const again = await applyLab(spec, await openSteering(spec.steering, pinDirFor(labNamespaces(spec).agent)));
    expect(again.changes).toEqual([]);
    expect(await tcDump()).toEqual(before);
  }, 600_000);

  it('learn with the dp on vth: ping and TCP pass and are learned', async () => {
    for (const port of [8080, 9090]) servers.push(await startEchoServer(ns('web'), port));
    expect(await ping(ns('host'), WEB.ip, 2)).toBe(true);
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
    const learned = await waitFor(
      async () => {
        const rs = (await agent!.call('rules')) as AllowRule[];
        const has = (port: number, proto: string) =>
          rs.some((r) => r.from === `${HOST}/32` && r.to === 'web' && r.port === port && r.proto === proto);
        return has(8080, 'tcp') && has(0, 'icmp');
      },
      120_000,
      500,
    );
    expect(learned).toBe(true);
  });

  it('a TCP stream stays open across learn → protect → learn; in protect the dp passes learned flows and drops new ones', async () => {
    const stream = new TcpSession(ns('host'), WEB.ip, 8080);
    expect(await stream.opened()).toBe(true);
    expect(await agent!.call('mode', { workload: 'web', mode: 'protect' })).toMatchObject({
      from: 'learn',
      to: 'protect',
    });
    expect(await filterSummary(ns('agent'), 'vex-web')).toEqual([
      '9998 802.1Q u32 pedit+mirred',
      '9999 802.1Q u32 pedit+mirred',
      '10000 ipv6 u32 pedit+mirred',
      '10001 ip u32 pedit+mirred',
      '10002 all u32 mirred',
    ]);
    const mid = await stream.check();
    expect(mid).toMatchObject({ equal: true, error: null });
    // Learned flows pass through the dp; an unlearned port is dropped and reported.
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
    expect(await ping(ns('host'), WEB.ip, 2)).toBe(true);
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
    const v = await waitFor(
      async () => (await agent!.status()).recentViolations.find((x) => x.serverPort === 9090),
      30_000,
      500,
    );
    expect(v).toMatchObject({ ep: WEB.mac, client: HOST, server: WEB.ip, serverPort: 9090, ruleId: 0, dropped: true });
    const counters = await agent!.status();
    expect(counters.workloads.find((w) => w.name === 'web')).toMatchObject({ mode: 'protect', steeringMode: 'inline' });
    await agent!.call('mode', { workload: 'web', mode: 'learn' });
    expect((await filterSummary(ns('agent'), 'vex-web'))[3]).toBe('10001 ip u32 mirred+pedit+mirred');
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(true);
    const fin = await stream.close();
    expect(fin).toMatchObject({ equal: true, error: null });
    expect(fin.received).toBe(fin.sent);
    expect(fin.sent).toBeGreaterThan(0);
  });

  it('down removes the lab: no namespace, process or filter of it is left', async () => {
    await agent!.stop();
    agent = undefined;
    for (const s of servers.splice(0)) s.kill('SIGKILL');
    const res = await downLab(parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8'))));
    expect(res.namespaces.sort()).toEqual(['agent', 'host', 'web'].map(ns).sort());
    expect(namespacesWith(prefix)).toEqual([]);
  });
});

describe.skipIf(!probe.u32)('pull and restore with u32 steering, live', () => {
  const P = testPrefix();
  const NET = `${P}net`;
  const CTR = `${P}ctr`;
  const AGENT = `${P}agent`;
  const MAC = '02:54:47:13:00:0a';
  const eth0 = async () =>
    (
      await runJson<Array<{ ifindex: number; address: string; mtu: number }>>(CTR, [
        'ip',
        '-json',
        'link',
        'show',
        'dev',
        'eth0',
      ])
    )[0]!;

  beforeAll(async () => {
    await run(['ip', 'netns', 'add', NET]);
    await run(['ip', 'netns', 'add', CTR]);
    await runIn(NET, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await runIn(NET, ['ip', 'addr', 'add', '198.18.4.1/24', 'dev', 'br0']);
    await runIn(NET, ['ip', 'link', 'set', 'br0', 'up']);
    await runIn(CTR, [
      'ip',
      'link',
      'add',
      'eth0',
      'address',
      MAC,
      'type',
      'veth',
      'peer',
      'name',
      'vc1',
      'netns',
      NET,
    ]);
    await runIn(NET, ['ip', 'link', 'set', 'vc1', 'master', 'br0']);
    await runIn(NET, ['ip', 'link', 'set', 'vc1', 'up']);
    await runIn(CTR, ['ip', 'addr', 'add', '198.18.4.10/24', 'dev', 'eth0']);
    await runIn(CTR, ['ip', 'link', 'set', 'eth0', 'up']);
  });

  afterAll(async () => {
    for (const n of [CTR, NET, AGENT]) await run(['ip', 'netns', 'del', n], { allowFail: true });
  });

  it('pull steers the port with u32 (learn: tap rules, traffic passes); restore gives eth0 back and leaves no filter', async () => {
    expect(await ping(NET, '198.18.4.10', 1)).toBe(true);
    const before = await eth0();
    await pullPort({ ns: CTR, agentNs: AGENT, label: 'ctr', steering: 'u32' });
    expect((await filterSummary(AGENT, 'vex-ctr'))[3]).toBe('10001 ip u32 mirred+pedit+mirred');
    expect(await ping(NET, '198.18.4.10')).toBe(true);
    const res = await restorePort({ ns: CTR, agentNs: AGENT });
    expect(res.label).toBe('ctr');
    const after = await eth0();
    expect(after.address).toBe(before.address);
    expect(after.mtu).toBe(before.mtu);
    const links = await runJson<Array<{ ifname: string }>>(AGENT, ['ip', '-json', 'link', 'show']);
    expect(links.map((l) => l.ifname).filter((n) => n.endsWith('-ctr'))).toEqual([]);
    // The vbr rules of the port went with it (pref = ifindex % 65536 of its vex and vin).
    expect(await filterSummary(AGENT, 'vbr')).toEqual([]);
    expect(await ping(NET, '198.18.4.10')).toBe(true);
  });
});

/**
 * Learn → protect end to end with the real agent daemon (`agent run`) and the real dp:
 * learning from live traffic, mode switches that keep learned flows, violations for new
 * flows, monitor mode, rule removal cutting a session with resets, dp crash recovery,
 * agent restart, a paused event consumer, and bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { isRoot, namespacesWith, testPrefix } from '../helpers/netns.js';
import { AgentProcess, waitFor, writeSpec } from '../helpers/agent-proc.js';
import { TcpSession, startEchoServer, tcpWorks } from '../helpers/tcp-session.js';
import { ping } from '../helpers/ping.js';
import { run, runIn } from '../../shared/exec.js';
import { downLab } from '../../agent/topology/down.js';
import { parseLabSpec } from '../../agent/topology/spec.js';
import type { AllowRule } from '../../agent/learn/rule.js';

const HOST = '198.18.0.1';
const WEB = { name: 'web', ip: '198.18.0.10', mac: '02:74:67:10:00:0a' };
const DB = { name: 'db', ip: '198.18.0.11', mac: '02:74:67:10:00:0b' };

describe.skipIf(!isRoot)('learn → protect with the agent daemon and the dp', () => {
  const prefix = testPrefix();
  const { path: specPath, dir } = writeSpec({
    prefix,
    workloads: [
      { name: WEB.name, ip: `${WEB.ip}/24`, mac: WEB.mac },
      { name: DB.name, ip: `${DB.ip}/24`, mac: DB.mac },
    ],
  });
  const rulesPath = join(dir, 'rules.yaml');
  let agent: AgentProcess;
  const servers: ChildProcess[] = [];
  const ns = (n: string) => `${prefix}${n}`;

  const rules = async () => (await agent.call('rules')) as AllowRule[];
  const ruleFor = async (to: string, port: number, proto: string) =>
    (await rules()).find((r) => r.from === `${HOST}/32` && r.to === to && r.port === port && r.proto === proto);
  const tcDump = async () => {
    const out: Record<string, unknown> = {};
    for (const dev of ['vex-web', 'vin-web', 'vex-db', 'vin-db', 'vbr']) {
      out[dev] = JSON.parse(
        (await runIn(ns('agent'), ['tc', '-json', 'filter', 'show', 'dev', dev, 'ingress'])).stdout || '[]',
      );
    }
    return out;
  };

  beforeAll(async () => {
    agent = new AgentProcess(specPath, rulesPath, prefix);
    await agent.start();
    for (const port of [8080, 9090]) servers.push(await startEchoServer(ns('web'), port));
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await agent?.stop();
    await downLab(parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8'))));
  });

  it('learns the flows it sees in learn mode', async () => {
    expect(await ping(ns('host'), WEB.ip, 2)).toBe(true);
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
    const learned = await waitFor(
      async () => (await ruleFor('web', 8080, 'tcp')) && (await ruleFor('web', 0, 'icmp')),
      10_000,
    );
    expect(learned).toBeTruthy();
    // The rules file is written (right after the rules are learned) and readable by a person.
    const text = await waitFor(async () => {
      const t = existsSync(rulesPath) ? readFileSync(rulesPath, 'utf8') : '';
      return t.includes('port: 8080') ? t : '';
    }, 5000);
    expect(text).toContain('to: web');
    expect(text).toContain('port: 8080');
  });

  it('an established learned TCP connection survives learn → protect; new flows are dropped and reported', async () => {
    const stream = new TcpSession(ns('host'), WEB.ip, 8080);
    expect(await stream.opened()).toBe(true);
    const cli = await agent.cli(['mode', 'web', 'protect', '--config', specPath]);
    expect(cli.stdout).toContain('web: learn → protect');
    await new Promise((r) => setTimeout(r, 500));
    const mid = await stream.check();
    expect(mid).toMatchObject({ equal: true, error: null });
    expect(mid.received).toBe(mid.sent);
    // Learned flows still pass: a new TCP connection and ping.
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
    expect(await ping(ns('host'), WEB.ip, 2)).toBe(true);
    // A new flow (another port) is dropped and reported with rule 0 (the default action).
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
    const v = await waitFor(
      async () => (await agent.status()).recentViolations.find((x) => x.serverPort === 9090),
      5000,
    );
    expect(v).toMatchObject({
      ep: WEB.mac,
      client: HOST,
      server: WEB.ip,
      serverPort: 9090,
      proto: 6,
      ruleId: 0,
      action: 7,
      dropped: true,
    });
    const fin = await stream.close();
    expect(fin).toMatchObject({ equal: true, error: null });
    expect(fin.received).toBe(fin.sent);
    const st = await agent.status();
    expect(st.workloads.find((w) => w.name === 'web')).toMatchObject({ mode: 'protect', steeringMode: 'inline' });
  });

  it('monitor mode reports the same flow and lets it pass', async () => {
    await agent.call('mode', { workload: 'web', mode: 'monitor' });
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(true);
    const v = await waitFor(
      async () => (await agent.status()).recentViolations.find((x) => x.serverPort === 9090 && x.action === 6),
      5000,
    );
    expect(v).toMatchObject({ ep: WEB.mac, client: HOST, ruleId: 0, action: 6, dropped: false });
    await agent.call('mode', { workload: 'web', mode: 'protect' });
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
  });

  it('kill -9 of the dp: restarted, state replayed, allowed flows pass again within 5 s', async () => {
    const before = await agent.status();
    expect(before.dp.pid).toBeTypeOf('number');
    process.kill(before.dp.pid!, 'SIGKILL');
    const t0 = Date.now();
    const back = await waitFor(async () => (await tcpWorks(ns('host'), WEB.ip, 8080)) && Date.now() - t0, 5000, 100);
    expect(back).toBeTruthy();
    const after = await agent.status();
    expect(after.dp.restarts).toBe(before.dp.restarts + 1);
    expect(after.dp.pid).not.toBe(before.dp.pid);
    // Endpoints, modes and rules were replayed: protect still blocks the unlearned port.
    expect(after.workloads.find((w) => w.name === 'web')?.mode).toBe('protect');
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
    expect(await ping(ns('host'), WEB.ip, 2)).toBe(true);
  });

  it('a paused event consumer never stalls forwarding; the dp counts what it had to drop', async () => {
    await agent.call('pause-events');
    try {
      // Thousands of distinct denied flows → thousands of violation records with nobody reading.
      await runIn(ns('host'), [
        'python3',
        '-c',
        [
          'import socket',
          's=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)',
          'for p in range(20000,32000): s.sendto(b"x",("198.18.0.10",p))',
        ].join('\n'),
      ]);
      // Allowed traffic keeps flowing while the agent reads nothing.
      const s = new TcpSession(ns('host'), WEB.ip, 8080);
      expect(await s.opened()).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      const r = await s.close();
      expect(r).toMatchObject({ equal: true, error: null });
    } finally {
      await agent.call('resume-events');
    }
    const dropped = await waitFor(async () => (await agent.status()).events.eventsDroppedByDp, 10_000);
    expect(dropped).toBeGreaterThan(0);
  });

  it('agent restart: rules and modes survive, steering is not duplicated, nothing leaks', async () => {
    const rulesBefore = await rules();
    const dumpBefore = await tcDump();
    const nsBefore = namespacesWith(prefix).sort();
    await agent.stop();
    expect(existsSync(agent.apiPath)).toBe(false);
    agent = new AgentProcess(specPath, rulesPath, prefix);
    await agent.start();
    // Hit counts may still grow from reports of connections made before the restart.
    const identity = (rs: AllowRule[]) => rs.map(({ hits: _h, lastUsed: _l, ...rest }) => rest);
    expect(identity(await rules())).toEqual(identity(rulesBefore));
    expect((await agent.status()).workloads.find((w) => w.name === 'web')?.mode).toBe('protect');
    expect(await tcDump()).toEqual(dumpBefore);
    expect(namespacesWith(prefix).sort()).toEqual(nsBefore);
    // Exactly one dp runs in the enforcer namespace.
    const pids = (await run(['ip', 'netns', 'pids', ns('agent')])).stdout.split('\n').filter(Boolean);
    expect(pids).toHaveLength(1);
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
  });

  it('removing a rule cuts the sessions it allowed with resets both ways', async () => {
    const stream = new TcpSession(ns('host'), WEB.ip, 8080);
    expect(await stream.opened()).toBe(true);
    expect(await stream.check()).toMatchObject({ equal: true, error: null });
    const rule = (await ruleFor('web', 8080, 'tcp'))!;
    const cli = await agent.cli(['rules', '--delete', String(rule.id), '--config', specPath]);
    expect(cli.stdout).toContain(`rule ${rule.id} removed`);
    // The client's next segment is dropped and answered with a reset.
    expect(await stream.errorWithin(5000)).toBe('ECONNRESET');
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(false);
  });

  it('bad input: unknown workload, invalid mode, unknown rule → clear errors', async () => {
    const a = await agent.cli(['mode', 'nope', 'protect', '--config', specPath]);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/error: .*nope/);
    const b = await agent.cli(['mode', 'web', 'enforce', '--config', specPath]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/error: .*invalid mode "enforce"/);
    const c = await agent.cli(['rules', '--delete', '999999', '--config', specPath]);
    expect(c.stderr).toMatch(/error: .*no rule with id 999999/);
    // The daemon is still fine.
    expect((await agent.status()).dp.healthy).toBe(true);
  });

  it('an empty, a cut-short and an invalid rules file: the last good rules and modes are enforced on the wire, the file kept aside (finding 12, 13)', async () => {
    const good = readFileSync(rulesPath, 'utf8');
    const rulesBefore = (await rules()).map((r) => r.id).sort();
    const cases: [string, string][] = [
      ['empty', ''],
      ['cut short', good.slice(0, Math.floor(good.length / 2))],
      ['invalid', good.replace(/id: \d+/, 'id: twelve')],
    ];
    for (const [what, text] of cases) {
      await agent.stop();
      writeFileSync(rulesPath, text);
      agent = new AgentProcess(specPath, rulesPath, prefix);
      await agent.start();
      expect(agent.log, what).toContain('the rules file was unusable');
      expect((await rules()).map((r) => r.id).sort(), what).toEqual(rulesBefore);
      expect((await agent.status()).workloads.find((w) => w.name === 'web')?.mode, what).toBe('protect');
      expect(await tcpWorks(ns('host'), WEB.ip, 9090), `${what}: a denied flow`).toBe(false);
      expect(await ping(ns('host'), WEB.ip, 2), `${what}: a learned flow (ping)`).toBe(true);
      const kept = readdirSync(dir)
        .filter((f) => f.startsWith('rules.yaml.bad-'))
        .map((f) => readFileSync(join(dir, f), 'utf8'));
      expect(kept, what).toContain(text);
    }
  }, 120_000);
});

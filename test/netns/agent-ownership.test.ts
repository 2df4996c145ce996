/**
 * Never destroy what the agent does not own: a container pulled into a lab's enforcer
 * survives `agent run` with a spec that does not list it, and `agent down` restores it
 * (its own eth0, MAC and address back, its process untouched) instead of deleting it; a
 * lab namespace running a process the agent did not start makes `agent down` refuse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { AgentProcess, writeSpec } from '../helpers/agent-proc.js';
import { PodmanLab, runtimeUnavailable } from '../../scripts/fixtures/runtime-lab.js';
import { run } from '../../shared/exec.js';
import { downLab } from '../../agent/topology/down.js';
import { loadLabSpec } from '../../agent/topology/spec.js';

const skip = !isRoot ? 'needs root (namespaces, a container runtime)' : runtimeUnavailable('podman');
if (skip) console.warn(`\n*** SKIPPING the ownership tests: ${skip} ***\n`);

const PAGE = 'tollgate test page';

describe.skipIf(skip)('the agent never destroys what it does not own', () => {
  const prefix = testPrefix();
  const { path: specPath, dir } = writeSpec({
    prefix,
    workloads: [{ name: 'web', ip: '198.18.0.10/24', mac: '02:74:67:20:00:0a' }],
  });
  const agentNs = `${prefix}agent`;
  let lab: PodmanLab;
  let agent: AgentProcess;
  let squatter: ChildProcess | undefined;
  const c = (n: string) => `${prefix}${n}`;
  const links = async (ns: string) =>
    JSON.parse((await run(['nsenter', `--net=${ns}`, 'ip', '-json', 'addr'])).stdout) as {
      ifname: string;
      address: string;
      addr_info: { local: string }[];
    }[];

  beforeAll(async () => {
    lab = await PodmanLab.create(`${prefix}rt`, randomInt(100, 250));
    await lab.runContainer({
      name: c('srv'),
      ip: lab.ip(10),
      cmd: ['sh', '-c', 'httpd -p 8080 -h /www; exec sleep 100000'],
    });
    await lab.runContainer({ name: c('cli'), ip: lab.ip(20), cmd: ['sleep', '100000'] });
    agent = new AgentProcess(specPath, join(dir, 'rules.yaml'), prefix);
    await agent.start();
  }, 180_000);

  afterAll(async () => {
    squatter?.kill('SIGKILL');
    await agent?.stop();
    await downLab(await loadLabSpec(specPath)).catch(() => undefined);
    await lab?.stop();
  }, 120_000);

  it('a pulled container survives an agent restart with a spec that does not list it', async () => {
    const pid = await lab.pid(c('srv'));
    const before = (await links(`/proc/${pid}/ns/net`)).find((l) => l.ifname === 'eth0')!;
    const pulled = await agent.cli([
      'pull',
      '--netns',
      `/proc/${pid}/ns/net`,
      '--agent-ns',
      agentNs,
      '--label',
      'srv',
      '--group',
      'srv',
    ]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    await agent.stop();
    agent = new AgentProcess(specPath, join(dir, 'rules.yaml'), prefix);
    await agent.start();
    const ws = (await agent.status()).workloads;
    expect(ws.find((w) => w.port === 'srv')).toMatchObject({
      group: 'srv',
      source: 'pull',
      reason: 'adopted',
      ip: lab.ip(10),
      mac: before.address,
    });
    expect((await links(`/run/netns/${agentNs}`)).some((l) => l.ifname === 'vex-srv')).toBe(true);
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
  }, 120_000);

  it('agent down refuses while a lab namespace runs a process it did not start, and changes nothing', async () => {
    squatter = spawn('nsenter', [`--net=/run/netns/${prefix}web`, 'sleep', '1000'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    const r = await agent.cli(['down', specPath]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`refusing to remove namespaces.*${prefix}web: pid ${squatter.pid}`));
    expect(squatter.exitCode).toBeNull();
    expect((await links(`/run/netns/${agentNs}`)).some((l) => l.ifname === 'vex-srv')).toBe(true);
    squatter.kill('SIGKILL');
    await new Promise((res) => squatter!.once('exit', res));
  }, 60_000);

  it('agent down restores the pulled container instead of deleting it; its process keeps running', async () => {
    const pid = await lab.pid(c('srv'));
    const r = await agent.cli(['down', specPath]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored 1 pulled ports \(srv\)/);
    expect(await lab.pid(c('srv'))).toBe(pid);
    const eth0 = (await links(`/proc/${pid}/ns/net`)).find((l) => l.ifname === 'eth0')!;
    expect(eth0.addr_info.map((a) => a.local)).toContain(lab.ip(10));
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(agentNs);
  }, 60_000);
});

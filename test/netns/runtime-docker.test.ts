/**
 * The same runtime adapter against dockerd (Debian's docker.io): discovery, enrolment,
 * restart and removal, and the unprotected window of a restart measured. dockerd runs in
 * a namespace of this run with its own data, exec root and sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { waitFor } from '../helpers/agent-proc.js';
import { RuntimeAgent } from '../helpers/runtime-agent.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { DockerLab, runtimeUnavailable } from '../../scripts/fixtures/runtime-lab.js';
import type { AllowRule } from '../../agent/learn/rule.js';

const skip = !isRoot ? 'needs root (namespaces, a container runtime)' : runtimeUnavailable('docker');
if (skip) console.warn(`\n*** SKIPPING the dockerd runtime tests: ${skip} ***\n`);

const PAGE = 'tollgate test page';

describe.skipIf(skip)('dockerd containers under the agent', () => {
  const prefix = testPrefix();
  let lab: DockerLab;
  const ra = new RuntimeAgent(prefix, () => [
    '--runtime',
    'docker',
    '--runtime-socket',
    lab.socket,
    '--select',
    `tollgate.test=${runLabel}`,
    '--oci-wrapper',
    lab.wrapperPath,
  ]);
  const name = ra.name;
  const c = (n: string) => `${prefix}${n}`;
  // A Kubernetes label value (the export test selects by it) cannot end in the prefix's '-'.
  const runLabel = prefix.replace(/-$/, '');
  const labels = (group: string) => ({ 'tollgate.group': group, 'tollgate.test': runLabel });
  const workloads = () => ra.workloads();
  const vexLinks = () => ra.vexLinks();

  beforeAll(async () => {
    lab = await DockerLab.create(`${prefix}rt`, randomInt(100, 250));
    await ra.start();
  }, 180_000);

  afterAll(() => ra.teardown(lab), 120_000);

  it('enrols containers before their first packet through the wrapper runtime, by group', async () => {
    await lab.runContainer({
      name: c('web'),
      labels: labels('web'),
      ip: lab.ip(10),
      cmd: ['sh', '-c', 'httpd -p 8080 -h /www; httpd -p 9090 -h /www; exec sleep 100000'],
    });
    await lab.runContainer({ name: c('cli'), labels: labels('client'), ip: lab.ip(20), cmd: ['sleep', '100000'] });
    await lab.runContainer({
      name: c('probe'),
      labels: labels('prober'),
      ip: lab.ip(30),
      cmd: ['sleep', '100000'],
      extra: ['--cap-add', 'NET_ADMIN'],
    });
    // `docker run -d` returns after runc create ran the hook: enrolled now, not eventually.
    const ws = await workloads();
    expect(ws.map((w) => [w.name, w.group, w.mode, w.ip, w.reason]).sort()).toEqual([
      [c('cli'), 'client', 'learn', lab.ip(20), 'hook'],
      [c('probe'), 'prober', 'learn', lab.ip(30), 'hook'],
      [c('web'), 'web', 'learn', lab.ip(10), 'hook'],
    ]);
    expect((await vexLinks()).length).toBe(3);
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    await waitFor(
      async () =>
        ((await ra.agent.call('rules')) as AllowRule[]).some(
          (r) => r.from === 'client' && r.to === 'web' && r.port === 8080,
        ),
      10_000,
    );
    for (const g of ['web', 'client'])
      expect((await ra.agent.cli(['mode', g, 'protect', '--name', name])).code).toBe(0);
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
  }, 180_000);

  it('docker restart: re-enrolled by the hook before the process runs; the protected port never opens', async () => {
    const before = (await workloads()).find((w) => w.name === c('web'))!;
    const probe = lab.exec(c('probe'), [
      'sh',
      '-c',
      `for i in $(seq 1 10); do ip neigh flush all; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 ${lab.ip(10)} 9090; echo "#$i"; done`,
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    await lab.restart(c('web'));
    const out = (await probe).stdout;
    expect(out).toContain('#10');
    expect(out).not.toContain(PAGE);
    const after = (await workloads()).find((w) => w.name === c('web'))!;
    expect(after.since).not.toBe(before.since);
    expect(after).toMatchObject({ group: 'web', mode: 'protect', ip: lab.ip(10), reason: 'hook' });
    expect((await vexLinks()).length).toBe(3);
    expect(await waitFor(async () => (await lab.tcp(c('cli'), lab.ip(10), 8080)).includes(PAGE), 60_000)).toBe(true);
  }, 180_000);

  it('without the wrapper (runc directly) enrolment is event-driven: the window is measured', async () => {
    await lab.runContainer({
      name: c('plain'),
      labels: labels('plain'),
      ip: lab.ip(40),
      cmd: ['sleep', '100000'],
      extra: ['--runtime', 'runc'],
    });
    const w = await waitFor(async () => (await workloads()).find((x) => x.name === c('plain')), 10_000);
    expect(w).toMatchObject({ group: 'plain' });
    expect(['start', 'connect']).toContain(w!.reason);
    const startedAt = Date.parse((await lab.cli(['inspect', '-f', '{{.State.StartedAt}}', c('plain')])).stdout.trim());
    console.log(
      `dockerd without the wrapper: enrolled ${Date.parse(w!.since) - startedAt} ms after the container's process started`,
    );
  }, 120_000);

  it('docker rm -f: exactly its ports go', async () => {
    await lab.cli(['rm', '-f', c('plain')]);
    await waitFor(async () => !(await workloads()).some((w) => w.name === c('plain')), 10_000);
    expect((await vexLinks()).length).toBe(3);
    expect((await workloads()).map((w) => w.name).sort()).toEqual([c('cli'), c('probe'), c('web')]);
  }, 120_000);
});

/**
 * Real podman containers under a real agent: discovery and enrolment before the first
 * packet (OCI hook), learn → protect by group, a restart that never opens the protected
 * port, removal, agent kill -9 + adoption, a runtime API outage, and bad input. podman
 * and its service run in a namespace of this run (test/helpers/runtime-lab.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import YAML from 'yaml';
import { waitFor } from '../helpers/agent-proc.js';
import { RuntimeAgent } from '../helpers/runtime-agent.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { PodmanLab, runtimeUnavailable } from '../../scripts/fixtures/runtime-lab.js';

const skip = !isRoot ? 'needs root (namespaces, a container runtime)' : runtimeUnavailable('podman');
if (skip) console.warn(`\n*** SKIPPING the podman runtime tests: ${skip} ***\n`);

const PAGE = 'tollgate test page';

describe.skipIf(skip)('podman containers under the agent', () => {
  const prefix = testPrefix();
  let lab: PodmanLab;
  const ra = new RuntimeAgent(prefix, () => [
    '--runtime',
    'podman',
    '--runtime-socket',
    lab.socket,
    '--select',
    `tollgate.test=${runLabel}`,
    '--hooks-dir',
    lab.hooksDir,
  ]);
  const name = ra.name;
  const c = (n: string) => `${prefix}${n}`;
  // A Kubernetes label value (the export test selects by it) cannot end in the prefix's '-'.
  const runLabel = prefix.replace(/-$/, '');
  const labels = (group: string) => ({ 'tollgate.group': group, 'tollgate.test': runLabel });
  const workloads = () => ra.workloads();
  const rules = () => ra.rules();
  const vexLinks = () => ra.vexLinks();

  beforeAll(async () => {
    lab = await PodmanLab.create(`${prefix}rt`, randomInt(100, 250));
    await ra.start();
  }, 120_000);

  afterAll(() => ra.teardown(lab), 120_000);

  it('enrols containers in learn mode before their first packet (the hook), by group', async () => {
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
    // `podman run` returns after the hook: the workloads are enrolled now, not eventually.
    const ws = await workloads();
    expect(ws.map((w) => [w.name, w.group, w.mode, w.ip]).sort()).toEqual([
      [c('cli'), 'client', 'learn', lab.ip(20)],
      [c('probe'), 'prober', 'learn', lab.ip(30)],
      [c('web'), 'web', 'learn', lab.ip(10)],
    ]);
    expect(ws.every((w) => w.reason === 'hook')).toBe(true);
    expect((await vexLinks()).length).toBe(3);
    const cli = await ra.agent.cli(['workloads', '--name', name]);
    expect(cli.stdout).toContain(c('web'));
  }, 120_000);

  it('learns group rules; in protect the learned flow passes, a new port is dropped and reported', async () => {
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    const rule = await waitFor(
      async () => (await rules()).find((r) => r.from === 'client' && r.to === 'web' && r.port === 8080),
      10_000,
    );
    expect(rule).toMatchObject({ proto: 'tcp', side: 'both', origin: 'learned' });
    for (const g of ['web', 'client']) {
      const r = await ra.agent.cli(['mode', g, 'protect', '--name', name]);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(
      (await workloads())
        .filter((w) => w.group !== 'prober')
        .every((w) => w.mode === 'protect' && w.steeringMode === 'inline'),
    ).toBe(true);
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    expect(await lab.tcp(c('cli'), lab.ip(10), 9090)).toBe('');
    const v = await waitFor(
      async () => (await ra.agent.status()).recentViolations.find((x) => x.serverPort === 9090 && x.dropped),
      10_000,
    );
    expect(v).toBeDefined();
  }, 120_000);

  it('the learned group rules export as Kubernetes NetworkPolicy objects selecting the groups by their labels', async () => {
    const r = await ra.agent.cli(['rules', '--export', 'networkpolicy', '--name', name]);
    expect(r.code, r.stderr).toBe(0);
    const sel = (group: string) => ({
      podSelector: { matchLabels: { 'tollgate.group': group, 'tollgate.test': runLabel } },
    });
    const np = (group: string, ingress: unknown[], egress: unknown[]) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `tollgate-${group}`, labels: { 'app.kubernetes.io/managed-by': 'tollgate' } },
      spec: { ...sel(group), policyTypes: ['Ingress', 'Egress'], ingress, egress },
    });
    expect(YAML.parseAllDocuments(r.stdout).map((d) => d.toJS())).toEqual([
      np('client', [], [{ to: [sel('web')], ports: [{ protocol: 'TCP', port: 8080 }] }]),
      np('prober', [], []),
      np('web', [{ from: [sel('client')], ports: [{ protocol: 'TCP', port: 8080 }] }], []),
    ]);
  }, 60_000);

  it('a learning client never opens a protected server: its rule applies at its own egress only', async () => {
    // prober (learn) → web:9090 (protect): learned for prober's egress, never web's ingress.
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
    const r = await waitFor(
      async () => (await rules()).find((x) => x.from === 'prober' && x.to === 'web' && x.port === 9090),
      10_000,
    );
    expect(r?.side).toBe('egress');
    // After the learned rule was pushed, web still drops it.
    await waitFor(
      async () =>
        (await ra.agent.status()).recentViolations.filter((x) => x.serverPort === 9090 && x.client === lab.ip(30))
          .length > 0,
      10_000,
    );
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
  }, 120_000);

  it('podman restart: re-enrolled in the new netns; the protected port never opens, the learned flow comes back', async () => {
    const before = (await workloads()).find((w) => w.name === c('web'))!;
    // A probe through the whole restart: every attempt at the unlearned port must fail. The
    // prober forgets web's MAC before each attempt, so attempts after the restart reach the new one.
    const probe = lab.exec(c('probe'), [
      'sh',
      '-c',
      `for i in $(seq 1 12); do ip neigh flush all; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1 ${lab.ip(10)} 9090; echo "#$i"; done`,
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    await lab.restart(c('web'));
    const out = (await probe).stdout;
    expect(out).toContain('#12');
    expect(out).not.toContain(PAGE);
    const after = (await workloads()).find((w) => w.name === c('web'))!;
    expect(after).toMatchObject({ group: 'web', mode: 'protect', ip: lab.ip(10), reason: 'hook' });
    expect(after.mac).not.toBe(before.mac);
    expect((await vexLinks()).length).toBe(3);
    // The restarted web has a new MAC: the client reaches it once its ARP entry for web is re-resolved.
    const t0 = Date.now();
    const back = await waitFor(async () => (await lab.tcp(c('cli'), lab.ip(10), 8080)).includes(PAGE), 40_000);
    console.log(`learned flow back ${Date.now() - t0} ms after the restart returned`);
    expect(back).toBe(true);
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
  }, 120_000);

  it('podman rm -f: exactly its ports and dp entry go', async () => {
    await lab.runContainer({ name: c('tmp'), labels: labels('tmp'), ip: lab.ip(40), cmd: ['sleep', '100000'] });
    expect((await vexLinks()).length).toBe(4);
    await lab.cli(['rm', '-f', c('tmp')]);
    await waitFor(async () => !(await workloads()).some((w) => w.name === c('tmp')), 10_000);
    expect((await vexLinks()).length).toBe(3);
    expect((await workloads()).map((w) => w.name).sort()).toEqual([c('cli'), c('probe'), c('web')]);
  }, 120_000);

  it('kill -9 of the agent: the dp keeps enforcing; the restarted agent adopts every port, no duplicate filters', async () => {
    const n = await ra.filterCount();
    await ra.agent.stop('SIGKILL');
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
    await ra.start();
    const ws = await workloads();
    expect(ws.map((w) => [w.group, w.mode]).sort()).toEqual([
      ['client', 'protect'],
      ['prober', 'learn'],
      ['web', 'protect'],
    ]);
    expect(ws.every((w) => w.reason === 'adopted')).toBe(true);
    expect(await ra.filterCount()).toBe(n);
    expect((await vexLinks()).length).toBe(3);
    expect(await waitFor(async () => (await lab.tcp(c('cli'), lab.ip(10), 8080)).includes(PAGE), 10_000)).toBe(true);
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
  }, 180_000);

  it('runtime API outage: enforcement never lapses; a container started meanwhile is enrolled on resync', async () => {
    await lab.stopService();
    await waitFor(async () => (await ra.agent.status()).runtime?.connected === false, 10_000);
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
    await lab.runContainer({ name: c('late'), labels: labels('late'), ip: lab.ip(50), cmd: ['sleep', '100000'] });
    expect((await workloads()).some((w) => w.name === c('late'))).toBe(false);
    await lab.startService();
    const late = await waitFor(async () => (await workloads()).find((w) => w.name === c('late')), 30_000);
    expect(late).toMatchObject({ group: 'late', mode: 'learn', reason: 'resync' });
    expect((await ra.agent.status()).runtime?.connected).toBe(true);
  }, 120_000);

  it('bad input: unknown group, a socket that is not one, a container without a network: clear errors, nothing enforced changes', async () => {
    const before = (await workloads()).map((w) => [w.name, w.mode]).sort();
    const bad = await ra.agent.cli(['mode', 'nosuchgroup', 'protect', '--name', name]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown group or container "nosuchgroup"/);
    const notSock = await ra.agent.cli([
      'run',
      '--name',
      `${prefix}x`,
      '--runtime',
      'podman',
      '--runtime-socket',
      '/etc/hostname',
    ]);
    expect(notSock.code).toBe(1);
    expect(notSock.stderr).toMatch(/\/etc\/hostname is not a unix socket/);
    await lab
      .runContainer({
        name: c('nonet'),
        labels: labels('nonet'),
        cmd: ['sleep', '100000'],
        extra: ['--network', 'none'],
      })
      .catch(() => '');
    expect((await workloads()).map((w) => [w.name, w.mode]).sort()).toEqual(before);
    expect(await lab.tcp(c('cli'), lab.ip(10), 8080)).toContain(PAGE);
    expect(await lab.tcp(c('probe'), lab.ip(10), 9090)).toBe('');
  }, 120_000);
});

/**
 * The kernel fast path under the real agent daemon: `agent run` hands the dp the lab's
 * tg_flows map, mode switches take offloaded flows back before they take effect (allowed
 * flows live on, denied ones are dropped), and `agent run --no-fast-path`
 * gives a dp that offloads nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { AgentProcess, waitFor, writeSpec } from '../helpers/agent-proc.js';
import { TcpSession, startEchoServer, tcpWorks } from '../helpers/tcp-session.js';
import { run } from '../../shared/exec.js';
import { startCapture } from '../helpers/steering-lab.js';
import { downLab } from '../../agent/topology/down.js';
import { parseLabSpec } from '../../agent/topology/spec.js';
import { labNamespaces } from '../../agent/topology/spec.js';
import { pinDirFor } from '../../agent/topology/names.js';
import { MAP_FLOWS, mapPath } from '../../agent/steering/bpf-maps.js';
import type { AllowRule } from '../../agent/learn/rule.js';

const WEB = { name: 'web', ip: '198.18.0.10', mac: '02:74:67:12:01:0a' };

describe.skipIf(!isRoot)('kernel fast path with the agent daemon', () => {
  const prefix = testPrefix();
  const { path: specPath, dir } = writeSpec({
    prefix,
    workloads: [{ name: WEB.name, ip: `${WEB.ip}/24`, mac: WEB.mac }],
  });
  const rulesPath = join(dir, 'rules.yaml');
  const flows = mapPath(
    pinDirFor(labNamespaces(parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8')))).agent),
    MAP_FLOWS,
  );
  let agent: AgentProcess;
  const servers: ChildProcess[] = [];
  const host = `${prefix}host`;

  const device = async () => (await agent.status()).counters?.device ?? {};
  /** The kernel's entries (bpftool), not the dp's idea of them. */
  const entries = async () =>
    (JSON.parse((await run(['bpftool', '-j', 'map', 'dump', 'pinned', flows])).stdout) as unknown[]).length;
  /** At least n flows in the kernel, by the dp's gauge and by the map itself. */
  const offloadedAtLeast = async (n: number) =>
    waitFor(async () => ((await device()).fastPathActive ?? 0) >= n && (await entries()) >= n, 10_000);

  beforeAll(async () => {
    agent = new AgentProcess(specPath, rulesPath, prefix);
    await agent.start();
    for (const port of [8080, 9090]) servers.push(await startEchoServer(`${prefix}web`, port));
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await agent?.stop();
    await downLab(parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8'))));
  });

  it('the agent hands the dp the lab map; learn mode offloads a reported flow (no more copies)', async () => {
    expect(await waitFor(async () => (await device()).fastPathLimit, 10_000)).toBe(65536);
    const s = new TcpSession(host, WEB.ip, 8080);
    try {
      expect(await s.opened()).toBe(true);
      expect(await offloadedAtLeast(1)).toBe(true);
      const rule = await waitFor(
        async () => ((await agent.call('rules')) as AllowRule[]).find((r) => r.to === 'web' && r.port === 8080),
        10_000,
      );
      expect(rule).toBeTruthy();
      expect(await s.close()).toMatchObject({ equal: true, error: null });
    } finally {
      s.kill();
    }
  });

  it('mode switches with offloaded flows: the allowed flow lives on, nothing of the denied one reaches the workload', async () => {
    await agent.call('mode', { workload: 'web', mode: 'monitor' });
    const allowed = new TcpSession(host, WEB.ip, 8080);
    const denied = new TcpSession(host, WEB.ip, 9090);
    try {
      expect(await allowed.opened()).toBe(true);
      expect(await denied.opened()).toBe(true);
      // Both are offloaded in monitor mode (the 9090 one is reported as a violation).
      expect(await offloadedAtLeast(2)).toBe(true);
      expect(await denied.check()).toMatchObject({ equal: true, error: null });
      const removed = (await device()).fastPathRemoved ?? 0;
      const cap = await startCapture(`${prefix}web`, 'eth0', ['-tt', 'tcp', 'port', '9090']);
      await agent.call('mode', { workload: 'web', mode: 'protect' });
      const ackedAt = Date.now() / 1000;
      expect(await allowed.check()).toMatchObject({ equal: true, error: null });
      // The client keeps sending on 9090; none of it reaches the workload any more.
      const d = await denied.check();
      expect(d.received).toBeLessThan(d.sent!);
      const toWeb = (await cap.stop())
        .filter((l) => l.includes(`> ${WEB.ip}.9090:`))
        .map((l) => ({ ts: Number(l.split(' ')[0]), l }));
      expect(toWeb.some((x) => x.ts < ackedAt)).toBe(true);
      for (const x of toWeb.filter((y) => y.ts > ackedAt)) expect(x.l).toMatch(/Flags \[R/);
      expect(await waitFor(async () => ((await device()).fastPathRemoved ?? 0) > removed, 5000)).toBe(true);
      // The allowed flow is offloaded again, inline now, and keeps working.
      expect(await offloadedAtLeast(1)).toBe(true);
      expect(await allowed.check()).toMatchObject({ equal: true, error: null });
      // protect → learn: the offloaded allowed flow survives going back to tap.
      await agent.call('mode', { workload: 'web', mode: 'learn' });
      expect(await allowed.check()).toMatchObject({ equal: true, error: null });
      expect(await allowed.close()).toMatchObject({ equal: true, error: null });
    } finally {
      allowed.kill();
      denied.kill();
    }
  }, 60_000);

  it('agent run --no-fast-path: the dp offloads nothing and the map stays empty', async () => {
    await agent.stop();
    agent = new AgentProcess(specPath, rulesPath, prefix, '0.5', ['--no-fast-path']);
    await agent.start();
    expect(await tcpWorks(host, WEB.ip, 8080)).toBe(true);
    const s = new TcpSession(host, WEB.ip, 8080);
    try {
      expect(await s.opened()).toBe(true);
      await new Promise((r) => setTimeout(r, 1000));
      expect(await s.check()).toMatchObject({ equal: true, error: null });
      expect(await entries()).toBe(0);
      const d = await waitFor(async () => (await agent.status()).counters?.device, 5000);
      expect(d?.fastPathLimit).toBeUndefined();
    } finally {
      s.kill();
    }
  }, 60_000);
});

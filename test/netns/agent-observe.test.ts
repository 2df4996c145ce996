/**
 * Metrics and the connection graph page on a real `agent run` with the real dp:
 *  - /metrics scraped during learn → protect and parsed by a Prometheus text-format
 *    parser: violation and learned-rule counts match `agent status`;
 *  - the page in headless Chromium: groups and rule edges, a violation edge appearing
 *    after a blocked connection, a mode switch by click that changes what passes on the
 *    wire, a rule deleted by click after a confirmation, and state-changing requests
 *    without the token refused;
 *  - `agent rules --export/--import` through the running daemon, the import enforced at once.
 * TOLLGATE_UI_SCREENSHOT=FILE keeps a screenshot of the page (docs/ui-graph.png is one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'puppeteer-core';
import { families, freePort, launchChromium, sum } from '../helpers/observe-tools.js';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { AgentProcess, waitFor, writeSpec } from '../helpers/agent-proc.js';
import { startEchoServer, tcpWorks } from '../helpers/tcp-session.js';
import { ping } from '../helpers/ping.js';
import { downLab } from '../../agent/topology/down.js';
import { parseLabSpec } from '../../agent/topology/spec.js';
import type { AllowRule } from '../../agent/learn/rule.js';
import { API_DIR } from '../../agent/daemon/api.js';
import { writeFileSync } from 'node:fs';
import YAML from 'yaml';

const HOST = '198.18.0.1';
/** Bound of every wait for the page: generous (tc and node are slow on a loaded 2-core machine); reaching it fails the test. */
const WAIT_MS = 60_000;
const WEB = { name: 'web', ip: '198.18.0.10', mac: '02:74:67:14:00:0a' };
const DB = { name: 'db', ip: '198.18.0.11', mac: '02:74:67:14:00:0b' };

describe.skipIf(!isRoot)('metrics and the connection graph on a live agent', { timeout: 240_000 }, () => {
  const prefix = testPrefix();
  const { path: specPath, dir } = writeSpec({
    prefix,
    workloads: [
      { name: WEB.name, ip: `${WEB.ip}/24`, mac: WEB.mac },
      { name: DB.name, ip: `${DB.ip}/24`, mac: DB.mac },
    ],
  });
  const rulesPath = join(dir, 'rules.yaml');
  const ns = (n: string) => `${prefix}${n}`;
  const servers: ChildProcess[] = [];
  let agent: AgentProcess;
  let metricsUrl = '';
  let uiBase = '';
  let browser: Browser | undefined;
  let page: Page;
  const profile = mkdtempSync(join(tmpdir(), 'tg-chromium-'));

  const scrape = async () => families(await (await fetch(metricsUrl)).text());
  const rules = async () => (await agent.call('rules')) as AllowRule[];
  const token = () => readFileSync(`${API_DIR}/${prefix}agent.ui-token`, 'utf8').trim();

  beforeAll(async () => {
    const [mp, up] = [await freePort(), await freePort()];
    metricsUrl = `http://127.0.0.1:${mp}/metrics`;
    uiBase = `http://127.0.0.1:${up}`;
    agent = new AgentProcess(specPath, rulesPath, prefix, '0.5', ['--metrics', `127.0.0.1:${mp}`, '--ui', String(up)]);
    await agent.start();
    for (const port of [8080, 9090, 7070]) servers.push(await startEchoServer(ns('web'), port));
    servers.push(await startEchoServer(ns('db'), 5432));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
    for (const s of servers) s.kill('SIGKILL');
    await agent?.stop();
    await downLab(parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8'))));
  });

  it('agent run prints both endpoints, the page URL carrying the token from a root-only file', () => {
    expect(agent.log).toContain(`metrics: ${metricsUrl}`);
    expect(agent.log).toContain(`connection graph: ${uiBase}/#token=${token()}`);
    expect(statSync(`${API_DIR}/${prefix}agent.ui-token`).mode & 0o777).toBe(0o600);
    expect(statSync(API_DIR).mode & 0o777).toBe(0o700);
  });

  it('/metrics during learn → protect: violation and learned-rule counts match agent status', async () => {
    expect(await ping(ns('host'), WEB.ip, 2)).toBe(true);
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
    expect(await tcpWorks(ns('web'), DB.ip, 5432)).toBe(true);
    const learned = await waitFor(async () => (await rules()).length >= 3, 10_000);
    expect(learned).toBe(true);
    await agent.call('mode', { workload: 'web', mode: 'protect' }, WAIT_MS);
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
    expect(await waitFor(async () => (await agent.status()).events.violations > 0, 10_000)).toBe(true);

    // Status and scrape agree once no record arrives in between (status, scrape, status).
    const agreed = await waitFor(async () => {
      const a = await agent.status();
      const m = await scrape();
      const b = await agent.status();
      if (a.events.violations !== b.events.violations || a.rules !== b.rules) return null;
      return { st: b, m };
    }, 10_000);
    expect(agreed).toBeTruthy();
    const { st, m } = agreed!;
    expect(sum(m.get('tollgate_violations_total'))).toBe(st.events.violations);
    expect(sum(m.get('tollgate_rules'))).toBe(st.rules);
    expect(sum(m.get('tollgate_rules'), { origin: 'learned' })).toBe(st.rules);
    expect(sum(m.get('tollgate_rules_learned_total'))).toBe(st.rules);
    // The violation by group, peer group, port, protocol and action.
    expect(
      sum(m.get('tollgate_violations_total'), {
        group: 'web',
        peer_group: `${HOST}/32`,
        port: '9090',
        proto: 'tcp',
        action: 'deny',
      }),
    ).toBeGreaterThan(0);
    expect(m.get('tollgate_violations_total')!.type).toBe('COUNTER');
    // dp health, modes, counters from the one counter table, per workload and group, keep-alives.
    expect(sum(m.get('tollgate_dp_up'))).toBe(1);
    expect(sum(m.get('tollgate_group_mode'), { group: 'web', mode: 'protect' })).toBe(1);
    expect(sum(m.get('tollgate_group_mode'), { group: 'db', mode: 'learn' })).toBe(1);
    expect(sum(m.get('tollgate_dp_rx_packets_total'))).toBeGreaterThan(0);
    expect(sum(m.get('tollgate_dp_rx_bytes_total'))).toBeGreaterThan(0);
    expect(sum(m.get('tollgate_dp_total_sessions_total'))).toBeGreaterThan(0);
    expect(m.get('tollgate_dp_events_dropped_total')).toBeDefined();
    expect(sum(m.get('tollgate_workload_rx_packets_total'), { workload: 'web', group: 'web' })).toBeGreaterThan(0);
    expect(sum(m.get('tollgate_group_rx_bytes_total'), { group: 'db' })).toBeGreaterThan(0);
    expect(sum(m.get('tollgate_dp_restarts_total'))).toBe(st.dp.restarts);
    const ka = await waitFor(
      async () => Number((await scrape()).get('tollgate_dp_keepalive_seconds')?.metrics[0]?.count ?? 0),
      10_000,
    );
    expect(ka).toBeGreaterThan(0);
  });

  it('the page in headless Chromium: groups, rule edges, and a violation edge that appears live', async () => {
    browser = await launchChromium(profile);
    page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 760 });
    const offsite: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(uiBase) && !r.url().startsWith('data:')) offsite.push(r.url());
    });
    await page.goto(`${uiBase}/#token=${token()}`);
    await page.waitForFunction(
      () => (globalThis as unknown as { tollgate?: { ready: boolean } }).tollgate?.ready === true,
      { timeout: WAIT_MS },
    );
    const drawn = await page.evaluate(() => {
      const cy = (globalThis as unknown as { cy: import('cytoscape').Core }).cy;
      return {
        nodes: cy
          .nodes()
          .map((n) => `${n.id()}|${n.data('mode')}`)
          .sort(),
        edges: cy
          .edges()
          .map((e) => `${e.id()}|${e.data('label')}`)
          .sort(),
      };
    });
    expect(drawn.nodes).toEqual([`c:${HOST}/32|`, 'g:db|learn', 'g:web|protect']);
    for (const r of await rules()) {
      const l4 = r.proto + (r.port ? `/${r.port}` : '');
      expect(drawn.edges).toContain(`r:${r.id}|${l4} · ${r.hits} hits`);
    }
    // The blocked connection of the previous test is there already; a new one must appear live.
    expect(drawn.edges.some((e) => e.startsWith(`v:${HOST}/32>web:9090/tcp|`))).toBe(true);
    const id = `v:${HOST}/32>web:7070/tcp`;
    expect(drawn.edges.some((e) => e.startsWith(id))).toBe(false);
    const sentAt = Date.now();
    expect(await tcpWorks(ns('host'), WEB.ip, 7070)).toBe(false);
    await page.waitForFunction(
      (i: string) => (globalThis as unknown as { cy: import('cytoscape').Core }).cy.getElementById(i).length > 0,
      { timeout: WAIT_MS },
      id,
    );
    // A figure, not an assertion: first SYN → red edge drawn (dp report interval 0.5 s here).
    const drawnAt = await page.evaluate(
      (i: string) =>
        (globalThis as unknown as { tollgate: { firstSeen: Record<string, number> } }).tollgate.firstSeen[i],
      id,
    );
    console.log(`violation edge drawn ${(drawnAt ?? NaN) - sentAt} ms after the first SYN`);
    const edge = await page.evaluate((i: string) => {
      const e = (globalThis as unknown as { cy: import('cytoscape').Core }).cy.getElementById(i);
      return { kind: e.data('kind'), colour: e.style('line-color'), label: e.data('label') };
    }, id);
    expect(edge.kind).toBe('violation');
    expect(edge.colour).toBe('rgb(214,40,40)');
    expect(edge.label).toMatch(/deny/);
    expect(offsite).toEqual([]);
    if (process.env.TOLLGATE_UI_SCREENSHOT)
      await page.screenshot({ path: process.env.TOLLGATE_UI_SCREENSHOT as `${string}.png` });
  });

  /** Clicks an element of the graph where it is drawn on the canvas. */
  async function clickGraph(id: string): Promise<void> {
    const at = await page.evaluate((i: string) => {
      const cy = (globalThis as unknown as { cy: import('cytoscape').Core }).cy;
      const el = cy.getElementById(i);
      const p = el.isNode()
        ? el.renderedPosition()
        : (el as unknown as import('cytoscape').EdgeSingular).renderedMidpoint();
      const box = (
        cy.container() as unknown as { getBoundingClientRect(): { left: number; top: number } }
      ).getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y };
    }, id);
    await page.mouse.click(at.x, at.y);
  }

  it('a state-changing request without the token is refused and changes nothing', async () => {
    const before = (await agent.status()).workloads.find((w) => w.name === 'web')!.mode;
    const bare = await fetch(`${uiBase}/api/groups/web/mode`, {
      method: 'POST',
      body: JSON.stringify({ mode: 'learn' }),
    });
    expect(bare.status).toBe(401);
    const wrong = await fetch(`${uiBase}/api/groups/web/mode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${'0'.repeat(64)}` },
      body: JSON.stringify({ mode: 'learn' }),
    });
    expect(wrong.status).toBe(401);
    const del = await fetch(`${uiBase}/api/rules/10000`, { method: 'DELETE' });
    expect(del.status).toBe(401);
    expect((await agent.status()).workloads.find((w) => w.name === 'web')!.mode).toBe(before);
    expect((await rules()).some((r) => r.id === 10000)).toBe(true);
    // A page on another DNS name that re-resolves to 127.0.0.1 (DNS rebinding) reads nothing.
    const status = (host: string) =>
      new Promise<number>((resolve, reject) =>
        get(`${uiBase}/api/graph`, { headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject),
      );
    expect(await status(`rebind.example:${new URL(uiBase).port}`)).toBe(403);
    expect(await status(new URL(uiBase).host)).toBe(200);
  });

  it('a mode switch by click takes effect on the wire', async () => {
    // web is in protect: 9090 was never learned and is dropped.
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
    await clickGraph('g:web');
    await page.waitForSelector('#mode-monitor:not([disabled])', { timeout: WAIT_MS });
    await page.click('#mode-monitor');
    await page.waitForFunction(
      () => (globalThis as unknown as { tollgate: { lastMode?: { to: string } } }).tollgate.lastMode?.to === 'monitor',
      { timeout: WAIT_MS },
    );
    expect((await agent.status()).workloads.find((w) => w.name === 'web')).toMatchObject({
      mode: 'monitor',
      steeringMode: 'tap',
    });
    // Monitor reports and lets it pass.
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(true);
    await page.waitForFunction(
      () =>
        (globalThis as unknown as { cy: import('cytoscape').Core }).cy.getElementById('g:web').data('mode') ===
        'monitor',
      { timeout: WAIT_MS },
    );
  });

  it('a rule deleted by click after a confirmation (and kept when the dialog is dismissed)', async () => {
    const target = (await rules()).find((r) => r.from === 'web' && r.to === 'db' && r.port === 5432)!;
    expect(target).toBeDefined();
    let answer = false;
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void (answer ? d.accept() : d.dismiss());
    });
    await clickGraph(`r:${target.id}`);
    expect(await waitFor(async () => dialogs.length === 1, 5000, 50)).toBe(true);
    expect(dialogs[0]).toContain(`Delete rule ${target.id}: web → db tcp/5432`);
    expect((await rules()).some((r) => r.id === target.id)).toBe(true);
    answer = true;
    await clickGraph(`r:${target.id}`);
    await page.waitForFunction(
      (i: number) => (globalThis as unknown as { tollgate: { lastDeleted?: number } }).tollgate.lastDeleted === i,
      { timeout: WAIT_MS },
      target.id,
    );
    expect((await rules()).some((r) => r.id === target.id)).toBe(false);
    await page.waitForFunction(
      (i: string) => (globalThis as unknown as { cy: import('cytoscape').Core }).cy.getElementById(i).length === 0,
      { timeout: WAIT_MS },
      `r:${target.id}`,
    );
  });

  it('rules export and import through the running daemon: an imported rule is enforced at once', async () => {
    await agent.call('mode', { workload: 'web', mode: 'protect' }, WAIT_MS);
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(false);
    const exported = await agent.cli(['rules', '--export', 'yaml', '--config', specPath]);
    expect(exported.stderr).toBe('');
    const doc = YAML.parse(exported.stdout);
    expect(doc.modes).toEqual({ web: 'protect', db: 'learn' });
    expect(doc.rules.map((r: AllowRule) => r.id)).toEqual((await rules()).map((r) => r.id));
    // Import a user rule for the port protect mode drops.
    const file = join(dir, 'import.yaml');
    writeFileSync(
      file,
      YAML.stringify({
        version: 1,
        modes: {},
        rules: [
          {
            id: 20000,
            from: `${HOST}/32`,
            to: 'web',
            port: 9090,
            proto: 'tcp',
            origin: 'user',
            createdAt: '2026-11-29T12:00:00.000Z',
            hits: 0,
            lastUsed: null,
          },
        ],
      }),
    );
    const imp = await agent.cli(['rules', '--import', file, '--config', specPath]);
    expect(imp.stdout).toContain('imported into the running agent: 1 rule(s) added, 0 replaced, 0 mode(s) set');
    expect(await tcpWorks(ns('host'), WEB.ip, 9090)).toBe(true);
    expect(await tcpWorks(ns('host'), WEB.ip, 7070)).toBe(false);
    // The Kubernetes form carries it: web's ingress allows 9090/tcp from the host.
    const np = await agent.cli(['rules', '--export', 'networkpolicy', '--group', 'web', '--config', specPath]);
    const web = YAML.parseAllDocuments(np.stdout).map((d) => d.toJS())[0];
    expect(web.spec.ingress).toContainEqual({
      from: [{ ipBlock: { cidr: `${HOST}/32` } }],
      ports: [{ protocol: 'TCP', port: 9090 }],
    });
    // A bad file is refused by the CLI with the field, and the daemon keeps its rules.
    writeFileSync(
      file,
      YAML.stringify({ version: 1, rules: [{ id: 20001, from: 'web', to: 'db', port: 5432, proto: 'sctp' }] }),
    );
    const bad = await agent.cli(['rules', '--import', file, '--config', specPath]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/rules\.0\.proto/);
    expect((await rules()).some((r) => r.id === 20000)).toBe(true);
  });
});

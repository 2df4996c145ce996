/**
 * Policy export: learned rules → NetworkPolicy / CiliumNetworkPolicy objects written out
 * by hand here, NetworkPolicy objects valid against the Kubernetes OpenAPI schema
 * (kubernetes-models), the Tollgate YAML form round-tripping byte for byte through
 * import, and bad input refused with the field named — in code and through the CLI.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { exportPolicy } from '../../agent/export/export.js';
import { parseTollgateYaml, toTollgateYaml } from '../../agent/export/tollgate-yaml.js';
import { fileTarget, importPolicy } from '../../agent/export/import.js';
import type { PolicySource } from '../../agent/export/source.js';
import { RuleStore } from '../../agent/learn/rule-store.js';
import type { AllowRule } from '../../agent/learn/rule.js';
import { run } from '../../shared/exec.js';
import { testPrefix } from '../helpers/netns.js';

const agentBin = fileURLToPath(new URL('../../bin/agent.js', import.meta.url));

const rule = (
  id: number,
  from: string,
  to: string,
  port: number,
  proto: AllowRule['proto'],
  origin: AllowRule['origin'] = 'learned',
): AllowRule => ({
  id,
  from,
  to,
  side: 'both',
  port,
  proto,
  origin,
  createdAt: `2026-11-29T10:00:${String(id % 60).padStart(2, '0')}.000Z`,
  hits: id - 9990,
  lastUsed: id % 2 ? null : '2026-11-29T11:00:00.000Z',
});

/** What the learn → protect lab test and the demo learn: host pings and calls web, web calls db. */
const LEARNED: AllowRule[] = [
  rule(10000, '198.18.0.1/32', 'web', 0, 'icmp'),
  rule(10001, '198.18.0.1/32', 'web', 8080, 'tcp'),
  rule(10002, 'web', 'db', 5432, 'tcp'),
  rule(10003, 'web', '198.18.0.53/32', 53, 'udp', 'user'),
];
const SRC: PolicySource = {
  rules: LEARNED,
  modes: { web: 'protect', db: 'learn' },
  labels: { db: { app: 'postgres', tier: 'data' } },
};

const docs = (text: string) => YAML.parseAllDocuments(text).map((d) => d.toJS());

describe('NetworkPolicy export', () => {
  const out = exportPolicy('networkpolicy', SRC);
  const objs = docs(out);

  it('exports the learned rule set to these objects', () => {
    expect(objs).toEqual([
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'tollgate-db', labels: { 'app.kubernetes.io/managed-by': 'tollgate' } },
        spec: {
          podSelector: { matchLabels: { app: 'postgres', tier: 'data' } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [
            {
              from: [{ podSelector: { matchLabels: { 'tollgate.group': 'web' } } }],
              ports: [{ protocol: 'TCP', port: 5432 }],
            },
          ],
          egress: [],
        },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'tollgate-web', labels: { 'app.kubernetes.io/managed-by': 'tollgate' } },
        spec: {
          podSelector: { matchLabels: { 'tollgate.group': 'web' } },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.1/32' } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
          egress: [
            {
              to: [{ podSelector: { matchLabels: { app: 'postgres', tier: 'data' } } }],
              ports: [{ protocol: 'TCP', port: 5432 }],
            },
            { to: [{ ipBlock: { cidr: '198.18.0.53/32' } }], ports: [{ protocol: 'UDP', port: 53 }] },
          ],
        },
      },
    ]);
    // ICMP has no NetworkPolicy form: said so on top, not silently dropped.
    expect(out).toContain('# rule 10000 not exported: icmp has no NetworkPolicy form');
  });

  it('every object is valid against the Kubernetes OpenAPI schema', () => {
    for (const o of objs) expect(() => new NetworkPolicy(o).validate()).not.toThrow();
    // The validator is not a yes-machine: a broken peer is refused.
    const broken = structuredClone(objs[1]);
    broken.spec.ingress[0].from[0].ipBlock = {};
    expect(() => new NetworkPolicy(broken).validate()).toThrow(/ipBlock must have required property 'cidr'|cidr/);
  });

  it("a rule exports only where it applies: learned at the client's egress, it opens no ingress of the server group", () => {
    const src = {
      rules: [{ ...rule(10000, 'client', 'db', 5432, 'tcp'), side: 'egress' as const }],
      modes: { client: 'protect' as const, db: 'protect' as const },
      labels: {},
    };
    const [client, db] = docs(exportPolicy('networkpolicy', src));
    expect(client.metadata.name).toBe('tollgate-client');
    expect(client.spec.egress).toHaveLength(1);
    expect(db.metadata.name).toBe('tollgate-db');
    expect(db.spec.ingress ?? []).toEqual([]);
  });

  it('--group cuts to one group; unknown groups and bad labels are errors naming them', () => {
    expect(docs(exportPolicy('networkpolicy', SRC, 'db')).map((o) => o.metadata.name)).toEqual(['tollgate-db']);
    expect(() => exportPolicy('networkpolicy', SRC, 'nope')).toThrow(/group: no group "nope"/);
    expect(() => exportPolicy('k8s', SRC)).toThrow(/unknown export format "k8s"/);
    expect(() => exportPolicy('networkpolicy', { ...SRC, labels: { db: { app: 'has space' } } })).toThrow(
      /labels\.db: group "db": label app="has space"/,
    );
  });
});

describe('CiliumNetworkPolicy export', () => {
  it('exports the learned rule set to these objects, ICMP included', () => {
    expect(docs(exportPolicy('ciliumnetworkpolicy', SRC))).toEqual([
      {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'tollgate-db', labels: { 'app.kubernetes.io/managed-by': 'tollgate' } },
        spec: {
          endpointSelector: { matchLabels: { app: 'postgres', tier: 'data' } },
          enableDefaultDeny: { ingress: true, egress: true },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { 'tollgate.group': 'web' } }],
              toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }],
            },
          ],
          egress: [],
        },
      },
      {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: { name: 'tollgate-web', labels: { 'app.kubernetes.io/managed-by': 'tollgate' } },
        spec: {
          endpointSelector: { matchLabels: { 'tollgate.group': 'web' } },
          enableDefaultDeny: { ingress: true, egress: true },
          ingress: [
            { fromCIDR: ['198.18.0.1/32'], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] },
            { fromCIDR: ['198.18.0.1/32'], icmps: [{ fields: [{ type: 8, family: 'IPv4' }] }] },
          ],
          egress: [
            {
              toEndpoints: [{ matchLabels: { app: 'postgres', tier: 'data' } }],
              toPorts: [{ ports: [{ port: '5432', protocol: 'TCP' }] }],
            },
            { toCIDR: ['198.18.0.53/32'], toPorts: [{ ports: [{ port: '53', protocol: 'UDP' }] }] },
          ],
        },
      },
    ]);
  });
});

describe('Tollgate YAML form', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-export-'));

  it('round trip is exact: export → import into an empty store → export gives the same bytes', async () => {
    const text = toTollgateYaml(SRC);
    const store = new RuleStore(join(dir, 'empty.yaml'));
    const r = await importPolicy(fileTarget(store), parseTollgateYaml(text, 'x.yaml'), 'x.yaml');
    expect(r).toEqual({ added: 4, replaced: 0, modes: 2 });
    expect(store.list()).toEqual(LEARNED);
    expect(toTollgateYaml({ rules: store.list(), modes: store.modes, labels: {} })).toBe(text);
    // The saved rules file loads back to the same rules, and importing again changes nothing.
    const again = new RuleStore(store.path);
    await again.load();
    expect(again.list()).toEqual(LEARNED);
    expect(await importPolicy(fileTarget(again), parseTollgateYaml(text, 'x.yaml'), 'x.yaml')).toEqual({
      added: 0,
      replaced: 4,
      modes: 2,
    });
    expect(toTollgateYaml({ rules: again.list(), modes: again.modes, labels: {} })).toBe(text);
  });

  it('one group: its rules and mode only', () => {
    const doc = YAML.parse(toTollgateYaml(SRC, 'db'));
    expect(doc.modes).toEqual({ db: 'learn' });
    expect(doc.rules.map((r: AllowRule) => r.id)).toEqual([10002]);
  });

  it('bad input names the field', async () => {
    const good = YAML.parse(toTollgateYaml(SRC));
    const bad = (mut: (d: typeof good) => void) => {
      const d = structuredClone(good);
      mut(d);
      return () => parseTollgateYaml(YAML.stringify(d), 'bad.yaml');
    };
    expect(bad((d) => (d.rules[2].port = 70000))).toThrow(/bad\.yaml: rules\.2\.port: /);
    expect(bad((d) => (d.rules[0].proto = 'sctp'))).toThrow(/bad\.yaml: rules\.0\.proto: /);
    expect(bad((d) => (d.modes.web = 'enforce'))).toThrow(/bad\.yaml: modes\.web: /);
    expect(bad((d) => (d.version = 2))).toThrow(/bad\.yaml: version: /);
    expect(bad((d) => (d.rules[1].id = d.rules[0].id))).toThrow(/rules\.1\.id: id 10000 is also rules\.0\.id/);
    expect(() => parseTollgateYaml('rules: [\n', 'broken.yaml')).toThrow(/broken\.yaml: not valid YAML/);
    // An id that names a different rule in the store is refused before anything changes.
    const store = new RuleStore(join(dir, 'other.yaml'));
    store.put(rule(10001, 'db', 'web', 22, 'tcp', 'user'));
    await store.save();
    const before = readFileSync(store.path, 'utf8');
    await expect(
      importPolicy(fileTarget(store), parseTollgateYaml(toTollgateYaml(SRC), 'in.yaml'), 'in.yaml'),
    ).rejects.toThrow(/in\.yaml: rules\.1\.id: id 10001 is already rule db>web:22\/tcp/);
    expect(readFileSync(store.path, 'utf8')).toBe(before);
    // A mode for a group the target does not have is refused before any rule changes.
    const fresh = new RuleStore(join(dir, 'known.yaml'));
    const known = { ...fileTarget(fresh), knownGroups: () => ['db'] };
    await expect(importPolicy(known, parseTollgateYaml(toTollgateYaml(SRC), 'in.yaml'), 'in.yaml')).rejects.toThrow(
      /in\.yaml: modes\.web: no group "web" here \(db\)/,
    );
    expect(fresh.list()).toEqual([]);
    expect(() => exportPolicy('networkpolicy', SRC, 'toString')).toThrow(/no group "toString"/);
  });

  it('the CLI works offline on a rules file (no daemon): export, import, errors', async () => {
    // A lab spec of our own, so the CLI never talks to some other lab's daemon.
    const spec = join(dir, 'lab.json');
    writeFileSync(spec, JSON.stringify({ prefix: testPrefix(), workloads: [] }));
    const src = join(dir, 'src.yaml');
    writeFileSync(src, toTollgateYaml(SRC));
    const target = join(dir, 'cli-rules.yaml');
    const imp = await run(['node', agentBin, 'rules', '--import', src, '--rules', target, '--config', spec], {
      allowFail: true,
    });
    expect(imp.stderr).toBe('');
    expect(imp.stdout).toContain(`imported into ${target}: 4 rule(s) added, 0 replaced, 2 mode(s) set`);
    expect(existsSync(target)).toBe(true);
    const y = await run(['node', agentBin, 'rules', '--export', 'yaml', '--rules', target, '--config', spec]);
    expect(y.stdout).toBe(toTollgateYaml(SRC));
    const np = await run([
      'node',
      agentBin,
      'rules',
      '--export',
      'networkpolicy',
      '--group',
      'web',
      '--rules',
      target,
      '--config',
      spec,
    ]);
    expect(docs(np.stdout).map((o) => o.metadata.name)).toEqual(['tollgate-web']);
    writeFileSync(src, toTollgateYaml(SRC).replace('port: 5432', 'port: -1'));
    const bad = await run(['node', agentBin, 'rules', '--import', src, '--rules', target, '--config', spec], {
      allowFail: true,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error: .*src\.yaml: rules\.2\.port: /);
  });
});

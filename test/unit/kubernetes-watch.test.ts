/**
 * The TollgateGroup / TollgateRule watch against an in-process API server speaking the
 * real list + watch protocol (test/helpers/fake-kube-api.ts): Debian ships no
 * kube-apiserver (only kubectl), so a real one cannot run here. The watch applies to the
 * same offline rules-file target as `agent rules --import`: modes, user rules added,
 * changed and removed, a dropped watch resumed from its resourceVersion, a 410 Gone
 * re-listed, bad objects refused without stopping anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { waitFor } from '../helpers/agent-proc.js';
import { PolicyWatch } from '../../agent/kubernetes/watch.js';
import { API_GROUP, API_VERSION, RESOURCES } from '../../agent/kubernetes/resources.js';
import { fileTarget } from '../../agent/export/import.js';
import { RuleStore } from '../../agent/learn/rule-store.js';
import { createLogger } from '../../shared/log.js';

const G = RESOURCES.group.plural;
const R = RESOURCES.rule.plural;
const apiVersion = `${API_GROUP}/${API_VERSION}`;
const group = (name: string, mode: string) => ({
  apiVersion,
  kind: RESOURCES.group.kind,
  metadata: { name },
  spec: { mode },
});
const rule = (name: string, spec: Record<string, unknown>) => ({
  apiVersion,
  kind: RESOURCES.rule.kind,
  metadata: { name },
  spec,
});

describe('CRD watch against an in-process API server', () => {
  const api = new FakeKubeApi(`/apis/${API_GROUP}/${API_VERSION}`);
  const store = new RuleStore(join(mkdtempSync(join(tmpdir(), 'tg-kube-')), 'rules.yaml'));
  let watch: PolicyWatch;
  const ruleSet = () =>
    store
      .list()
      .map((r) => `${r.from}>${r.to}:${r.port}/${r.proto}:${r.origin}`)
      .sort();
  const until = async (f: () => boolean) => {
    const ok = await waitFor(
      async () => {
        await watch.idle();
        return f();
      },
      10_000,
      50,
    );
    expect(ok).toBe(true);
  };

  beforeAll(async () => {
    await api.start();
    // Present before the agent starts: must arrive through the initial list.
    api.put(G, group('web', 'protect'));
    api.put(R, rule('host-to-web', { from: '198.18.0.1/32', to: 'web', port: 8080, proto: 'tcp' }));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: `http://127.0.0.1:${api.port}`, skipTLSVerify: true }],
      users: [{ name: 'agent', token: 'service-account-token' }],
      contexts: [{ name: 'test', cluster: 'test', user: 'agent' }],
      currentContext: 'test',
    });
    watch = new PolicyWatch(kc, fileTarget(store), createLogger('test-kube'));
    await watch.start();
  });

  afterAll(async () => {
    await watch?.stop();
    await api.stop();
  });

  it('lists, then watches from the list resourceVersion, with the service-account token', async () => {
    await until(() => store.modes.web === 'protect' && ruleSet().length === 1);
    expect(ruleSet()).toEqual(['198.18.0.1/32>web:8080/tcp:user']);
    const lists = api.requests.filter((r) => r.path.endsWith(`/${G}`) && r.query.watch !== 'true');
    const watches = api.requests.filter((r) => r.path.endsWith(`/${G}`) && r.query.watch === 'true');
    expect(lists.length).toBeGreaterThanOrEqual(1);
    expect(watches[0]!.query.resourceVersion).toBe('102');
    expect(new Set(api.requests.map((r) => r.auth))).toEqual(new Set(['Bearer service-account-token']));
  });

  it('applies watch events: mode changes, rules added, changed and deleted', async () => {
    api.put(G, group('web', 'learn'));
    api.put(G, group('db', 'monitor'));
    api.put(R, rule('web-to-db', { from: 'web', to: 'db', port: 5432, proto: 'tcp' }));
    await until(() => store.modes.web === 'learn' && store.modes.db === 'monitor' && ruleSet().length === 2);
    api.put(R, rule('web-to-db', { from: 'web', to: 'db', port: 5433, proto: 'tcp' }));
    await until(() => ruleSet().includes('web>db:5433/tcp:user'));
    expect(ruleSet()).toEqual(['198.18.0.1/32>web:8080/tcp:user', 'web>db:5433/tcp:user']);
    api.delete(R, 'host-to-web');
    await until(() => ruleSet().length === 1);
    expect(ruleSet()).toEqual(['web>db:5433/tcp:user']);
    // What the watch applied is in the rules file, as the next agent start reads it.
    const reread = new RuleStore(store.path);
    await reread.load();
    expect(reread.list().map((r) => r.port)).toEqual([5433]);
    expect(reread.modes).toEqual({ web: 'learn', db: 'monitor' });
  });

  it('a closed watch resumes from its last resourceVersion; a 410 Gone re-lists', async () => {
    const before = api.requests.filter((r) => r.path.endsWith(`/${G}`) && r.query.watch === 'true').length;
    api.closeWatches();
    api.put(G, group('web', 'protect'));
    await until(() => store.modes.web === 'protect');
    const resumed = api.requests.filter((r) => r.path.endsWith(`/${G}`) && r.query.watch === 'true').slice(before);
    expect(resumed.length).toBeGreaterThanOrEqual(1);
    expect(Number(resumed[0]!.query.resourceVersion)).toBeGreaterThan(102);

    const mark = api.requests.length;
    api.compact();
    api.closeWatches();
    // The watch from the old resourceVersion gets an ERROR 410 event; the client lists
    // again and watches from the new list's resourceVersion.
    await until(() => {
      const after = api.requests.slice(mark).filter((r) => r.path.endsWith(`/${G}`));
      return (
        api.goneAnswers > 0 &&
        after.some((r) => r.query.watch !== 'true') &&
        after.some((r) => r.query.watch === 'true' && Number(r.query.resourceVersion) >= api.compactedBefore) &&
        api.openWatches(G) > 0
      );
    });
    api.put(G, group('db', 'protect'));
    await until(() => store.modes.db === 'protect');
  });

  it('bad objects are refused with their field and counted; the watch goes on', async () => {
    const rejected = watch.counters.rejected;
    api.put(G, group('web', 'enforce'));
    api.put(R, rule('bad-port', { from: 'web', to: 'db', port: 70000, proto: 'tcp' }));
    api.put(G, group('db', 'learn'));
    await until(() => store.modes.db === 'learn');
    expect(watch.counters.rejected).toBe(rejected + 2);
    expect(store.modes.web).toBe('protect');
    expect(ruleSet()).toEqual(['web>db:5433/tcp:user']);
  });
});

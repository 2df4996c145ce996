import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuleStore } from '../../agent/learn/rule-store.js';
import { learnFrom } from '../../agent/learn/learner.js';
import { policyMessages, type WorkloadView } from '../../agent/policy/compile.js';
import type { ConnectionRecord } from '../../shared/events/schema.js';

const wls: WorkloadView[] = [
  { name: 'web', group: 'web', ip: '198.18.0.10', mac: '02:00:00:00:00:0a', mode: 'learn' },
  { name: 'db', group: 'db', ip: '198.18.0.11', mac: '02:00:00:00:00:0b', mode: 'protect' },
];
const conn = (o: Partial<ConnectionRecord>): ConnectionRecord => ({
  type: 'connection',
  v: 1,
  ep: '',
  client: '198.18.0.1',
  server: '198.18.0.10',
  serverPort: 80,
  proto: 6,
  ingress: true,
  external: false,
  ruleId: 0,
  action: 1,
  bytes: 10,
  sessions: 1,
  violates: 0,
  firstSeen: 1,
  lastSeen: 2,
  ...o,
});

describe('learning and the rules file', () => {
  it('learns deduplicated rules, counts hits, and round-trips through the file atomically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-rules-'));
    const store = new RuleStore(join(dir, 'rules.yaml'));
    await store.load();
    const r1 = learnFrom(
      [
        conn({}),
        conn({ sessions: 3 }),
        conn({ client: '198.18.0.10', server: '198.18.0.11', serverPort: 5432, ingress: false }),
      ],
      store,
      wls,
    );
    expect(r1.added.map((r) => `${r.from}>${r.to}:${r.port}/${r.proto}`)).toEqual([
      '198.18.0.1/32>web:80/tcp',
      'web>db:5432/tcp',
    ]);
    learnFrom([conn({ action: 2, ruleId: r1.added[0]!.id, sessions: 4, lastSeen: 1700000000 })], store, wls);
    expect(store.byId(r1.added[0]!.id)?.hits).toBe(4);
    store.modes = { web: 'protect' };
    await store.save();
    const again = new RuleStore(join(dir, 'rules.yaml'));
    await again.load();
    expect(again.list()).toEqual(store.list());
    expect(again.modes).toEqual({ web: 'protect' });
    expect(readFileSync(join(dir, 'rules.yaml'), 'utf8')).toContain('from: web');
  });

  it('refuses a corrupt rules file with a clear error and leaves it untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-rules-'));
    const p = join(dir, 'rules.yaml');
    writeFileSync(p, 'version: 1\nrules:\n  - id: nope\n');
    const store = new RuleStore(p);
    await expect(store.load()).rejects.toThrow(/rules\.0\.id/);
    writeFileSync(p, '{{{ not yaml');
    await expect(store.load()).rejects.toThrow(/not valid YAML/);
    expect(readFileSync(p, 'utf8')).toBe('{{{ not yaml');
  });

  it('compiles per-workload policy with ingress and egress rules, chunked under 8120 bytes', async () => {
    const store = new RuleStore('/nonexistent/never-written.yaml');
    store.add({ from: '198.18.0.1/32', to: 'web', port: 80, proto: 'tcp', side: 'both', origin: 'learned' });
    store.add({ from: 'web', to: 'db', port: 5432, proto: 'tcp', side: 'both', origin: 'learned' });
    const [webMsg] = policyMessages(wls[0]!, wls, store.list()) as {
      ctrl_cfg_policy: { flag: number; defact: number; rules: { ingress: boolean; sip: string; dip: string }[] };
    }[];
    expect(webMsg!.ctrl_cfg_policy.flag).toBe(3);
    expect(webMsg!.ctrl_cfg_policy.defact).toBe(1);
    expect(webMsg!.ctrl_cfg_policy.rules.map((r) => [r.ingress, r.sip, r.dip])).toEqual([
      [true, '198.18.0.1', '198.18.0.10'],
      [false, '198.18.0.10', '198.18.0.11'],
    ]);
    for (let i = 0; i < 500; i++)
      store.add({
        from: `198.19.${i >> 8}.${i & 255}/32`,
        to: 'db',
        port: 1000 + i,
        proto: 'udp',
        side: 'both',
        origin: 'user',
      });
    const msgs = policyMessages(wls[1]!, wls, store.list()) as {
      ctrl_cfg_policy: { flag: number; defact: number; rules: unknown[] };
    }[];
    expect(msgs.length).toBeGreaterThan(1);
    expect(msgs[0]!.ctrl_cfg_policy.flag).toBe(1);
    expect(msgs.at(-1)!.ctrl_cfg_policy.flag).toBe(2);
    expect(msgs.reduce((n, m) => n + m.ctrl_cfg_policy.rules.length, 0)).toBe(501);
    for (const m of msgs) expect(JSON.stringify(m).length).toBeLessThanOrEqual(8120);
    expect(msgs[0]!.ctrl_cfg_policy.defact).toBe(7);
  });
});

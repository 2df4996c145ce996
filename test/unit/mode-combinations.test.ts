/**
 * The mode-combination table of docs/POLICY.md: for a new connection from a client
 * workload to a server workload, which end learns what. A rule is learned only for the
 * end that is in learn mode, so a peer never widens the policy of a group that is not
 * learning. The records are what the dp sends: a LEARN connection report from each end
 * whose default action is LEARN (learn mode), a violation from monitor and protect ends.
 */
import { describe, expect, it } from 'vitest';
import { RuleStore } from '../../agent/learn/rule-store.js';
import { learnFrom } from '../../agent/learn/learner.js';
import { rulesFor, type WorkloadView } from '../../agent/policy/compile.js';
import type { ConnectionRecord } from '../../shared/events/schema.js';
import { MODES, type WorkloadMode } from '../../shared/policy-actions.js';

const modes: WorkloadMode[] = ['learn', 'monitor', 'protect'];

function connection(ep: WorkloadView, ingress: boolean): ConnectionRecord {
  return {
    type: 'connection',
    v: 1,
    ep: ep.mac,
    client: '198.18.0.20',
    server: '198.18.0.10',
    serverPort: 8080,
    proto: 6,
    ingress,
    external: false,
    ruleId: 0,
    action: MODES[ep.mode].defaultAction,
    bytes: 100,
    sessions: 1,
    violates: 0,
    firstSeen: 1,
    lastSeen: 2,
  };
}

describe('mode combinations: a learning peer never widens a policy', () => {
  for (const cm of modes) {
    for (const sm of modes) {
      it(`client ${cm} → server ${sm}`, () => {
        const client: WorkloadView = {
          name: 'c1',
          group: 'client',
          ip: '198.18.0.20',
          mac: '02:00:00:00:00:20',
          mode: cm,
        };
        const server: WorkloadView = {
          name: 's1',
          group: 'server',
          ip: '198.18.0.10',
          mac: '02:00:00:00:00:10',
          mode: sm,
        };
        const all = [client, server];
        const store = new RuleStore('/nonexistent/never-written.yaml');
        // The dp reports from each end the packet reached: a protect client drops it at its own egress.
        const records = [connection(client, false)];
        if (cm !== 'protect') records.push(connection(server, true));
        learnFrom(records, store, all);
        const egress = rulesFor(client, all, store.list()).filter((r) => !r.ingress && r.port === 8080);
        const ingress = rulesFor(server, all, store.list()).filter((r) => r.ingress && r.port === 8080);
        expect(egress.length, 'client egress rule').toBe(cm === 'learn' ? 1 : 0);
        expect(ingress.length, 'server ingress rule').toBe(sm === 'learn' && cm !== 'protect' ? 1 : 0);
        // Never: an ingress rule at a server that is not learning.
        if (sm !== 'learn') expect(ingress).toEqual([]);
      });
    }
  }

  it('a rule learned at both ends applies at both; one learned at one end stays there when the other end learns later', () => {
    const client: WorkloadView = {
      name: 'c1',
      group: 'client',
      ip: '198.18.0.20',
      mac: '02:00:00:00:00:20',
      mode: 'learn',
    };
    const server: WorkloadView = {
      name: 's1',
      group: 'server',
      ip: '198.18.0.10',
      mac: '02:00:00:00:00:10',
      mode: 'protect',
    };
    const store = new RuleStore('/nonexistent/never-written.yaml');
    learnFrom([connection(client, false)], store, [client, server]);
    expect(store.list().map((r) => r.side)).toEqual(['egress']);
    const learning = { ...server, mode: 'learn' as const };
    learnFrom([connection(learning, true)], store, [client, learning]);
    expect(store.list().map((r) => r.side)).toEqual(['both']);
  });
});

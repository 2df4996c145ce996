/**
 * The metrics registry on its own, fed real record shapes through the ObserveHub: names
 * derived from the counter tables (and documented in docs/METRICS.md), counters that stay
 * monotonic across a dp restart, per-worker records added up, malformed reasons as a label,
 * violations by group / peer group / port, and the scrape-time view. Parsed with a
 * Prometheus text-format parser.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import parseProm, { type PromFamily } from 'parse-prometheus-text-format';
import { ObserveHub } from '../../agent/observe/hub.js';
import type { DaemonView } from '../../agent/observe/view.js';
import { TollgateMetrics } from '../../agent/metrics/registry.js';
import { deviceMetric, ENDPOINT_COUNTERS, groupMetric, workloadMetric } from '../../agent/metrics/names.js';
import { newDeviceCounters } from '../../dp/stats/counters.js';
import { newPipelineCounters } from '../../dp/pipeline.js';
import type { CountersRecord, ViolationRecord } from '../../shared/events/schema.js';
import type { AllowRule } from '../../agent/learn/rule.js';

const WEB_MAC = '02:74:67:00:00:0a';
const view = (restarts = 0, fastPath?: Record<string, number>): DaemonView => ({
  groups: () => [
    { name: 'web', mode: 'protect', workloads: [{ name: 'web-1', ip: '198.18.0.10', mac: WEB_MAC }], labels: {} },
    {
      name: 'db',
      mode: 'learn',
      workloads: [{ name: 'db-1', ip: '198.18.0.11', mac: '02:74:67:00:00:0b' }],
      labels: {},
    },
  ],
  rules: () => [{ origin: 'learned' }, { origin: 'learned' }, { origin: 'user' }] as AllowRule[],
  dp: () => ({ healthy: true, restarts }),
  eventsReceived: () => 42,
  ...(fastPath ? { fastPath: () => fastPath } : {}),
});

const counters = (
  rx: number,
  extra: Partial<CountersRecord> = {},
  device: Record<string, number> = {},
): CountersRecord => ({
  type: 'counters',
  v: 1,
  at: 1,
  device: { rxPackets: rx, rxBytes: rx * 100, ...device },
  eventsDropped: 0,
  endpoints: [
    { mac: WEB_MAC, tap: false, rxPackets: rx, rxBytes: rx * 100, dropPackets: 1, sessions: 2, curSessions: 1 },
  ],
  ...extra,
});

const violation = (port: number, count: number, client = '198.18.0.1'): ViolationRecord => ({
  type: 'violation',
  v: 1,
  ep: WEB_MAC,
  client,
  server: '198.18.0.10',
  serverPort: port,
  proto: 6,
  ingress: true,
  ruleId: 0,
  action: 7,
  dropped: true,
  count,
  reportedAt: 1,
  packet: new Uint8Array(),
  pktLen: 60,
});

const scrape = async (m: TollgateMetrics) =>
  new Map<string, PromFamily>(parseProm(await m.text()).map((f) => [f.name, f]));
const value = (f: PromFamily | undefined, labels: Record<string, string> = {}) =>
  (f?.metrics ?? [])
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v))
    .reduce((a, s) => a + Number(s.value), 0);

describe('metrics registry', () => {
  it('device and endpoint counters: monotonic across a dp restart, workers added up, reasons as a label', async () => {
    const hub = new ObserveHub();
    const m = new TollgateMetrics(view(), hub);
    hub.record(counters(10));
    hub.record(counters(25));
    // The dp restarted: its counters start again from 0; the exported ones keep going up.
    hub.record(counters(4, {}, { 'malformed.decoder.tcp.pkt_too_small': 3 }));
    // A second worker's record adds to the same metrics.
    hub.record(counters(7, { worker: 1 }));
    const f = await scrape(m);
    expect(f.get('tollgate_dp_rx_packets_total')!.type).toBe('COUNTER');
    expect(value(f.get('tollgate_dp_rx_packets_total'))).toBe(25 + 4 + 7);
    expect(value(f.get('tollgate_dp_rx_bytes_total'))).toBe((25 + 4 + 7) * 100);
    expect(value(f.get('tollgate_dp_malformed_total'), { reason: 'decoder.tcp.pkt_too_small' })).toBe(3);
    expect(value(f.get('tollgate_workload_rx_packets_total'), { workload: 'web-1', group: 'web' })).toBe(36);
    expect(value(f.get('tollgate_group_rx_bytes_total'), { group: 'web' })).toBe(3600);
    expect(value(f.get('tollgate_workload_sessions_active'), { workload: 'web-1' })).toBe(2);
    expect(value(f.get('tollgate_sessions_active'))).toBe(2);
    expect(value(f.get('tollgate_event_records_total'), { type: 'counters' })).toBe(4);
    m.close();
  });

  it('violations by group, peer group, port, protocol and action; rules, modes, dp, fast path from the view', async () => {
    const hub = new ObserveHub();
    const m = new TollgateMetrics(view(3, { hits: 9 }), hub);
    hub.record(violation(9090, 5));
    hub.record(violation(9090, 2));
    hub.record(violation(5432, 1, '198.18.0.11'));
    hub.learned([{} as AllowRule, {} as AllowRule]);
    hub.keepAlive(0.002);
    const f = await scrape(m);
    expect(value(f.get('tollgate_violations_total'))).toBe(3);
    expect(
      value(f.get('tollgate_violations_total'), {
        group: 'web',
        peer_group: '198.18.0.1/32',
        port: '9090',
        proto: 'tcp',
        action: 'deny',
      }),
    ).toBe(2);
    expect(value(f.get('tollgate_violations_total'), { group: 'web', peer_group: 'db', port: '5432' })).toBe(1);
    expect(value(f.get('tollgate_violation_packets_total'), { port: '9090' })).toBe(7);
    expect(value(f.get('tollgate_rules_learned_total'))).toBe(2);
    expect(value(f.get('tollgate_rules'), { origin: 'learned' })).toBe(2);
    expect(value(f.get('tollgate_rules'), { origin: 'user' })).toBe(1);
    expect(value(f.get('tollgate_group_mode'), { group: 'web', mode: 'protect' })).toBe(1);
    expect(value(f.get('tollgate_group_mode'), { group: 'web', mode: 'learn' })).toBe(0);
    expect(value(f.get('tollgate_dp_restarts_total'))).toBe(3);
    expect(value(f.get('tollgate_dp_up'))).toBe(1);
    expect(value(f.get('tollgate_events_received_total'))).toBe(42);
    expect(value(f.get('tollgate_fastpath_hits_total'))).toBe(9);
    expect(f.get('tollgate_dp_keepalive_seconds')!.metrics[0]!.count).toBe('1');
    // Scraping twice does not double what the view reports.
    expect(value((await scrape(m)).get('tollgate_dp_restarts_total'))).toBe(3);
    m.close();
  });

  it('every metric name is documented in docs/METRICS.md, derived from the counter tables', () => {
    const doc = readFileSync(new URL('../../docs/METRICS.md', import.meta.url), 'utf8');
    const deviceKeys = [
      ...Object.keys(newPipelineCounters()),
      ...Object.entries(newDeviceCounters()).map(([k, v]) =>
        typeof v === 'object' ? `${k}.x` : k === 'rx' || k === 'tx' ? `engine.${k}` : k,
      ),
      'rx',
      'tx',
      'rxDrop',
      'eventsDropped',
    ];
    const names = new Set([
      ...deviceKeys.map((k) => deviceMetric(k).name),
      ...ENDPOINT_COUNTERS.flatMap((k) => [workloadMetric(k), groupMetric(k)]),
      'tollgate_dp_up',
      'tollgate_dp_restarts_total',
      'tollgate_dp_keepalive_seconds',
      'tollgate_events_received_total',
      'tollgate_event_records_total',
      'tollgate_group_mode',
      'tollgate_rules',
      'tollgate_rules_learned_total',
      'tollgate_violations_total',
      'tollgate_violation_packets_total',
      'tollgate_workload_sessions_active',
      'tollgate_sessions_active',
    ]);
    const missing = [...names].filter((n) => !doc.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });
});

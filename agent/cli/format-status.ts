import { POLICY_ACTION_NAMES } from '../../shared/policy-actions.js';
import type { DaemonStatus, WorkloadStatus } from '../daemon/daemon.js';
import type { AllowRule } from '../learn/rule.js';

/** The daemon's answers as the tables `agent workloads`, `agent rules` and `agent status` print. */
export function formatWorkloads(ws: readonly WorkloadStatus[]): string[] {
  if (!ws.length) return ['no workloads'];
  const head = ['workload', 'container', 'group', 'mode', 'ip', 'mac', 'state', 'since'];
  const rows = ws.map((w) => [
    w.name,
    w.container?.slice(0, 12) ?? '-',
    w.group,
    w.mode,
    w.ip || '-',
    w.mac,
    `${w.steeringMode} (${w.reason})`,
    w.since,
  ]);
  const wd = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(wd[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

export function formatRules(rules: readonly AllowRule[]): string[] {
  if (!rules.length) return ['no rules yet'];
  const head = ['id', 'from', 'to', 'port', 'proto', 'applies at', 'origin', 'hits', 'last used'];
  const rows = rules.map((r) => [
    String(r.id),
    r.from,
    r.to,
    String(r.port),
    r.proto,
    r.side === 'both' ? 'both ends' : r.side === 'egress' ? 'client egress' : 'server ingress',
    r.origin,
    String(r.hits),
    r.lastUsed ?? '-',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(w[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

export function formatDaemonStatus(s: DaemonStatus): string[] {
  const out = [
    `agent: ${s.name} (enforcer ${s.agentNs}), steering ${s.steering}, runtime ${s.runtime ? `${s.runtime.kind} ${s.runtime.connected ? 'connected' : `DISCONNECTED (${s.runtime.lastError ?? '?'})`}` : 'none'}`,
    `dp: ${s.dp.healthy ? 'healthy' : 'NOT healthy'} (pid ${s.dp.pid ?? '-'}, restarts ${s.dp.restarts}, last keep-alive ${s.dp.lastKeepAlive ?? '-'})`,
    `rules: ${s.rules}; events received ${s.events.received}, violations ${s.events.violations}, dropped by dp ${s.events.eventsDroppedByDp}`,
  ];
  for (const g of s.groups) out.push(`group ${g.name}: ${g.mode} (${g.members} workload${g.members === 1 ? '' : 's'})`);
  for (const w of s.workloads)
    out.push(
      `  ${w.name.padEnd(12)} ${w.group.padEnd(10)} ${w.ip.padEnd(15)} ${w.mode.padEnd(8)} (${w.steeringMode}) ucmac ${w.ucmac ?? '-'}`,
    );
  if (s.counters) {
    const d = s.counters.device;
    out.push(`counters: rx ${d.rx ?? 0}, tx ${d.tx ?? 0}, dropped ${d.rxDrop ?? 0}, sessions ${d.totalSessions ?? 0}`);
  }
  for (const v of s.recentViolations.slice(-5)) {
    out.push(
      `  violation: ${v.client} → ${v.server}:${v.serverPort}/${v.proto} rule ${v.ruleId} ${POLICY_ACTION_NAMES[v.action] ?? v.action}${v.dropped ? ' (dropped)' : ''} ×${v.count}`,
    );
  }
  return out;
}

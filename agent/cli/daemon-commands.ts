import type { Command } from 'commander';
import { loadLabSpec } from '../topology/spec.js';
import { labNamespaces } from '../topology/spec.js';
import { apiSocketPath, callDaemon } from '../daemon/api.js';
import { Daemon } from '../daemon/daemon.js';
import { createLogger } from '../../shared/log.js';
import { TollgateError } from '../../shared/errors.js';
import type { AllowRule } from '../learn/rule.js';
import { POLICY_ACTION_NAMES } from '../../shared/policy-actions.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { action, print } from './common.js';

/** Where a lab's rules file lives unless --rules says otherwise. */
export function defaultRulesPath(labId: string): string {
  return `/var/lib/tollgate/${labId}/rules.yaml`;
}

async function apiPathFor(spec?: string): Promise<string> {
  return apiSocketPath(labNamespaces(await loadLabSpec(spec)).agent);
}

/** `agent run`, `agent mode`, `agent rules`: the daemon and the commands that talk to it. */
export function registerDaemonCommands(program: Command): void {
  program
    .command('run')
    .description('run the agent daemon: topology, steering, dp supervision, learning, mode switching')
    .option('--config <file>', 'lab spec (YAML/JSON); default: the embedded lab')
    .option('--rules <file>', 'rules file (default /var/lib/tollgate/<lab>/rules.yaml)')
    .option('--report-interval <seconds>', 'dp event flush interval', '2')
    .option('--dp-start-timeout <seconds>', 'how long a starting dp has to answer on its control socket', '15')
    .option('--keepalive-timeout <seconds>', 'how long the dp has to answer a keep-alive before it is restarted', '3')
    .action(
      action(async (flags: { config?: string; rules?: string; reportInterval: string; dpStartTimeout: string; keepaliveTimeout: string }) => {
        const spec = await loadLabSpec(flags.config);
        const labId = labNamespaces(spec).agent;
        const log = createLogger('agent');
        const seconds = (opt: string, v: string): number => {
          const n = Number(v);
          if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new TollgateError('EBADARG', `--${opt} must be a number of seconds in (0, 3600], got "${v}"`);
          return n;
        };
        const d = new Daemon({
          spec, rulesPath: flags.rules ?? defaultRulesPath(labId), log,
          reportInterval: seconds('report-interval', flags.reportInterval),
          dpStartTimeout: seconds('dp-start-timeout', flags.dpStartTimeout),
          keepAliveTimeout: seconds('keepalive-timeout', flags.keepaliveTimeout),
        });
        const shutdown = () => void d.stop().then(() => process.exit(0));
        process.once('SIGTERM', shutdown);
        process.once('SIGINT', shutdown);
        await d.start();
        process.stdout.write(`agent running for lab ${labId}; API ${d.apiPath}\n`);
      }),
    );

  program
    .command('mode')
    .description('switch a workload to learn, monitor or protect')
    .argument('<workload>')
    .argument('<mode>', 'learn | monitor | protect')
    .option('--config <file>', 'lab spec of the running daemon')
    .action(
      action(async (workload: string, mode: string, flags: { config?: string }) => {
        const r = (await callDaemon(await apiPathFor(flags.config), 'mode', { workload, mode })) as { from: string; to: string };
        print([`${workload}: ${r.from} → ${r.to}`]);
      }),
    );

  program
    .command('rules')
    .description('learned and user rules with hit counts and last use')
    .option('--config <file>', 'lab spec of the running daemon')
    .option('--json', 'machine-readable output')
    .option('--delete <id>', 'remove a rule (sessions it allowed are cut in protect mode)')
    .action(
      action(async (flags: { config?: string; json?: boolean; delete?: string }) => {
        const path = await apiPathFor(flags.config);
        if (flags.delete !== undefined) {
          const id = Number(flags.delete);
          if (!Number.isInteger(id) || id <= 0) throw new TollgateError('EBADARG', `--delete needs a rule id, got "${flags.delete}"`);
          await callDaemon(path, 'rule-delete', { id });
          print([`rule ${id} removed`]);
          return;
        }
        const rules = (await callDaemon(path, 'rules')) as AllowRule[];
        if (flags.json) return print([JSON.stringify(rules, null, 2)]);
        print(formatRules(rules));
      }),
    );
}

export function formatRules(rules: readonly AllowRule[]): string[] {
  if (!rules.length) return ['no rules yet'];
  const head = ['id', 'from', 'to', 'port', 'proto', 'origin', 'hits', 'last used'];
  const rows = rules.map((r) => [String(r.id), r.from, r.to, String(r.port), r.proto, r.origin, String(r.hits), r.lastUsed ?? '-']);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

export function formatDaemonStatus(s: DaemonStatus): string[] {
  const out = [
    `agent: lab ${s.lab}, steering ${s.steering}`,
    `dp: ${s.dp.healthy ? 'healthy' : 'NOT healthy'} (pid ${s.dp.pid ?? '-'}, restarts ${s.dp.restarts}, last keep-alive ${s.dp.lastKeepAlive ?? '-'})`,
    `rules: ${s.rules}; events received ${s.events.received}, violations ${s.events.violations}, dropped by dp ${s.events.eventsDroppedByDp}`,
  ];
  for (const w of s.workloads) out.push(`  ${w.name.padEnd(10)} ${w.ip.padEnd(15)} ${w.mode.padEnd(8)} (${w.steeringMode}) ucmac ${w.ucmac ?? '-'}`);
  if (s.counters) {
    const d = s.counters.device;
    out.push(`counters: rx ${d.rx ?? 0}, tx ${d.tx ?? 0}, dropped ${d.rxDrop ?? 0}, sessions ${d.totalSessions ?? 0}`);
  }
  for (const v of s.recentViolations.slice(-5)) {
    out.push(`  violation: ${v.client} → ${v.server}:${v.serverPort}/${v.proto} rule ${v.ruleId} ${POLICY_ACTION_NAMES[v.action] ?? v.action}${v.dropped ? ' (dropped)' : ''} ×${v.count}`);
  }
  return out;
}

import type { Command } from 'commander';
import { formatStatus, labStatus } from '../topology/status.js';
import { labNamespaces, loadLabSpec } from '../topology/spec.js';
import { apiSocketPath } from '../daemon/api.js';
import { callApi } from '../daemon/api-commands.js';
import { formatDaemonStatus } from './format-status.js';
import { action, print } from './common.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what exists: namespaces, links (ifindex, MAC, state), workloads with mode and steering')
    .argument('[spec]', 'lab spec file')
    .option('--json', 'machine-readable output')
    .option('--name <name>', 'an agent instance without a lab: only its daemon status')
    .action(
      action(async (path: string | undefined, flags: { json?: boolean; name?: string }) => {
        if (flags.name && !path) {
          const st = await callApi(apiSocketPath(flags.name), 'status', {}, 5000);
          return print(flags.json ? [JSON.stringify({ agent: st }, null, 2)] : formatDaemonStatus(st));
        }
        const spec = await loadLabSpec(path);
        const s = await labStatus(spec);
        // The running daemon (if any) adds modes, dp health and counters.
        const agent = await callApi(apiSocketPath(labNamespaces(spec).agent), 'status', {}, 5000).catch(() => null);
        if (flags.json) return print([JSON.stringify({ ...s, agent }, null, 2)]);
        print([...formatStatus(s), ...(agent ? formatDaemonStatus(agent) : ['agent: no daemon running'])]);
      }),
    );
}

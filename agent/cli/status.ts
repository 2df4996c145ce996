import type { Command } from 'commander';
import { formatStatus, labStatus } from '../topology/status.js';
import { loadLabSpec } from '../topology/spec.js';
import { action, print } from './common.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what exists: namespaces, links (ifindex, MAC, state), workloads with mode and steering')
    .argument('[spec]', 'lab spec file')
    .option('--json', 'machine-readable output')
    .action(
      action(async (path: string | undefined, flags: { json?: boolean }) => {
        const s = await labStatus(await loadLabSpec(path));
        print(flags.json ? [JSON.stringify(s, null, 2)] : formatStatus(s));
      }),
    );
}

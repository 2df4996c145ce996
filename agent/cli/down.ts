import type { Command } from 'commander';
import { downLab } from '../topology/down.js';
import { loadLabSpec } from '../topology/spec.js';
import { action, print } from './common.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description("remove the lab's namespaces (by prefix), processes in them and its BPF pins")
    .argument('[spec]', 'lab spec file')
    .action(
      action(async (path: string | undefined) => {
        const r = await downLab(await loadLabSpec(path));
        print([`removed ${r.namespaces.length} namespaces${r.killed.length ? `, stopped ${r.killed.length} processes` : ''}`]);
      }),
    );
}

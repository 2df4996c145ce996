import type { Command } from 'commander';
import { downLab } from '../topology/down.js';
import { labNamespaces, loadLabSpec } from '../topology/spec.js';
import { apiSocketPath, callDaemon } from '../daemon/api.js';
import { action, print } from './common.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description("stop the lab's agent daemon (if running), remove the lab's namespaces, processes in them and its BPF pins")
    .argument('[spec]', 'lab spec file')
    .action(
      action(async (path: string | undefined) => {
        const spec = await loadLabSpec(path);
        const daemon = await callDaemon(apiSocketPath(labNamespaces(spec).agent), 'stop', {}, 5000).then(() => true, () => false);
        if (daemon) await new Promise((r) => setTimeout(r, 500)); // let it stop its dp cleanly
        const r = await downLab(spec);
        print([`${daemon ? 'stopped the agent daemon; ' : ''}removed ${r.namespaces.length} namespaces${r.killed.length ? `, stopped ${r.killed.length} processes` : ''}`]);
      }),
    );
}

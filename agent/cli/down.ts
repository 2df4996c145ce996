import type { Command } from 'commander';
import { downEnforcer, downLab } from '../topology/down.js';
import { labNamespaces, loadLabSpec } from '../topology/spec.js';
import { apiSocketPath } from '../daemon/api.js';
import { callApi } from '../daemon/api-commands.js';
import { removeHook } from '../runtime/oci-hook.js';
import { checkInstanceName } from './daemon-commands.js';
import { action, print } from './common.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description(
      "stop the agent daemon (if running), restore pulled ports and containers into their own namespaces, remove the lab's (or --name's) namespaces and BPF pins; refuses while processes the agent did not start run in them",
    )
    .argument('[spec]', 'lab spec file')
    .option('--name <name>', 'an agent instance without a lab (agent run --name N)')
    .option('--hooks-dir <dir>', 'also remove the OCI hook the daemon installed there')
    .action(
      action(async (path: string | undefined, flags: { name?: string; hooksDir?: string }) => {
        const name = flags.name ? checkInstanceName(flags.name) : undefined;
        const spec = name && !path ? undefined : await loadLabSpec(path);
        const apiName = name ?? labNamespaces(spec!).agent;
        const daemon = await callApi(apiSocketPath(apiName), 'stop', {}, 5000).then(
          () => true,
          () => false,
        );
        if (daemon) await new Promise((r) => setTimeout(r, 500)); // let it stop its dp cleanly
        if (flags.hooksDir) removeHook(flags.hooksDir, apiName);
        const r = spec ? await downLab(spec, { processes: 'ours' }) : await downEnforcer(name!);
        print([
          `${daemon ? 'stopped the agent daemon; ' : ''}${r.restored.length ? `restored ${r.restored.length} pulled ports (${r.restored.join(', ')}); ` : ''}removed ${r.namespaces.length} namespaces${r.killed.length ? `, stopped ${r.killed.length} dp processes` : ''}`,
        ]);
      }),
    );
}

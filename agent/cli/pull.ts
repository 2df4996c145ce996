import { Option, type Command } from 'commander';
import { pullPort } from '../topology/pull.js';
import { restorePort } from '../topology/restore.js';
import type { Mode, SteeringChoice } from '../topology/spec.js';
import { DEFAULT_LAB } from '../topology/default-lab.js';
import { action, noSteeringOption, print, steeringOption } from './common.js';
import { checkInstanceName } from './daemon-commands.js';

const DEFAULT_AGENT_NS = DEFAULT_LAB.prefix + DEFAULT_LAB.agentNs;

export function registerPullRestore(program: Command): void {
  program
    .command('pull')
    .description(
      "pull a namespace's eth0 inline behind the enforcer namespace (vex/vin), keeping MAC, addresses and routes",
    )
    .requiredOption('--netns <ns>', 'namespace name or path (/run/netns/X, /proc/PID/ns/net)')
    .option('--agent-ns <name>', 'enforcer namespace', DEFAULT_AGENT_NS)
    .option('--name <name>', 'agent instance: its enforcer namespace (agent run --name N), in place of --agent-ns')
    .option('--label <label>', 'port label (links vex-<label>/vin-<label>)')
    .option('--group <group>', 'policy group of the workload (default: the label)')
    .addOption(new Option('--mode <mode>', 'workload mode').choices(['learn', 'monitor', 'protect']).default('learn'))
    .addOption(steeringOption())
    .addOption(noSteeringOption())
    .option('--dry-run', 'print the commands only')
    .action(
      action(
        async (o: {
          netns: string;
          agentNs: string;
          name?: string;
          label?: string;
          group?: string;
          mode: Mode;
          steering?: string | false;
          dryRun?: boolean;
        }) => {
          if (o.name) o.agentNs = checkInstanceName(o.name);
          const steering: SteeringChoice =
            o.steering === false ? 'none' : ((o.steering as SteeringChoice | undefined) ?? 'auto');
          const r = await pullPort({
            ns: o.netns,
            agentNs: o.agentNs,
            mode: o.mode,
            steering,
            dryRun: o.dryRun === true,
            ...(o.label ? { label: o.label } : {}),
            ...(o.group ? { group: o.group } : {}),
          });
          print(o.dryRun ? r.commands : [`pulled ${o.netns} eth0 as ${r.vex}/${r.vin} in ${o.agentNs}`]);
        },
      ),
    );
  program
    .command('restore')
    .description('undo a pull exactly: the original eth0 back with its MAC, addresses and routes')
    .requiredOption('--netns <ns>', 'namespace name or path')
    .option('--agent-ns <name>', 'enforcer namespace', DEFAULT_AGENT_NS)
    .option('--name <name>', 'agent instance: its enforcer namespace, in place of --agent-ns')
    .option('--dry-run', 'print the commands only')
    .action(
      action(async (o: { netns: string; agentNs: string; name?: string; dryRun?: boolean }) => {
        if (o.name) o.agentNs = checkInstanceName(o.name);
        const r = await restorePort({ ns: o.netns, agentNs: o.agentNs, dryRun: o.dryRun === true });
        print(o.dryRun ? r.commands : [`restored ${o.netns} eth0 (was port ${r.label})`]);
      }),
    );
}

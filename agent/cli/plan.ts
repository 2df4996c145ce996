import type { Command } from 'commander';
import { formatCommands } from '../topology/commands.js';
import { planLab } from '../topology/reconcile.js';
import { labNamespaces } from '../topology/spec.js';
import { pinDirFor } from '../topology/names.js';
import { openSteering } from '../topology/steering-bridge.js';
import { action, noSteeringOption, print, specWithSteering, steeringOption, type SteeringFlags } from './common.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('print the exact ip/tc/ethtool/bpftool commands `up` would run, without running them')
    .argument('[spec]', 'lab spec file')
    .addOption(steeringOption())
    .addOption(noSteeringOption())
    .action(
      action(async (path: string | undefined, flags: SteeringFlags) => {
        const spec = await specWithSteering(path, flags);
        const steering = await openSteering(spec.steering, pinDirFor(labNamespaces(spec).agent));
        const plan = await planLab(spec, steering);
        const lines = formatCommands([...plan.removeSteering, ...plan.topology]);
        // Steering is planned against the state as it is now; ports created by this plan
        // are steered by `up` right after their links exist (their plan needs ifindexes).
        const steer = formatCommands(plan.steering);
        print(lines.length || steer.length ? [...lines, ...steer] : ['# nothing to do']);
      }),
    );
}

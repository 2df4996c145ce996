import type { Command } from 'commander';
import { applyLab } from '../topology/reconcile.js';
import { labNamespaces } from '../topology/spec.js';
import { pinDirFor } from '../topology/names.js';
import { openSteering } from '../topology/steering-bridge.js';
import { action, noSteeringOption, print, specWithSteering, steeringOption, type SteeringFlags } from './common.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('build or reconcile the lab of SPEC (YAML/JSON; the embedded default lab without one)')
    .argument('[spec]', 'lab spec file')
    .addOption(steeringOption())
    .addOption(noSteeringOption())
    .action(
      action(async (path: string | undefined, flags: SteeringFlags) => {
        const spec = await specWithSteering(path, flags);
        const steering = await openSteering(spec.steering, pinDirFor(labNamespaces(spec).agent));
        const plan = await applyLab(spec, steering);
        print(plan.changes.length ? plan.changes : ['up to date']);
      }),
    );
}

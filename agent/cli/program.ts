import { Command } from 'commander';
import { registerDown } from './down.js';
import { registerPlan } from './plan.js';
import { registerPullRestore } from './pull.js';
import { registerStatus } from './status.js';
import { registerUp } from './up.js';
import { registerVmCommands } from './vm.js';
import { registerDaemonCommands } from './daemon-commands.js';

/**
 * The `agent` command. Each subcommand lives in its own file and registers itself
 * here; later ones (run, mode, rules) add one file and one line.
 */
export function buildProgram(): Command {
  const program = new Command('agent')
    .description('Tollgate agent: lab topology, tc steering, the dp control plane, learned rules and VM workloads')
    .showHelpAfterError()
    .configureOutput({ outputError: (s, write) => write(s.startsWith('error:') ? s : `error: ${s}`) });
  registerUp(program);
  registerDown(program);
  registerStatus(program);
  registerPlan(program);
  registerPullRestore(program);
  registerVmCommands(program);
  registerDaemonCommands(program);
  return program;
}

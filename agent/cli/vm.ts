import { type Command, InvalidArgumentError } from 'commander';
import { errorMessage, isTollgateError } from '../../shared/errors.js';
import { connectVm, disconnectVm, listVms, setVmRateLimit } from '../vm/index.js';

/**
 * `agent vm connect | disconnect | limit | list`: the VM workload commands (agent/vm/README.md).
 * Results are JSON on stdout (one object per command); errors go to stderr as
 * `error <CODE> <field>: message` with exit code 1, never a stack trace.
 *
 * Register on the agent's program with `registerVmCommands(program)` and run the program
 * with `parseAsync` (the actions are async).
 */

function intArg(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(v);
  };
}

async function report(action: () => Promise<unknown>): Promise<void> {
  try {
    const out = await action();
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } catch (e) {
    const what = isTollgateError(e) ? `error ${e.code} ${e.message}` : `error ${errorMessage(e)}`;
    process.stderr.write(`${what}\n`);
    process.exitCode = 1;
  }
}

export function registerVmCommands(program: Command): void {
  const vm = program
    .command('vm')
    .description('connect VM workloads (tap) to a CNI veth, Kata-style, and rate-limit them');

  vm.command('connect')
    .description(
      'create a tap next to the veth and join them with tc mirred redirects; prints the tap to hand to the VMM',
    )
    .requiredOption('--netns <name|path>', 'workload namespace (name under /run/netns or a /proc/PID/ns/net path)')
    .option('--veth <name>', 'the CNI interface in that namespace', 'eth0')
    .option('--tap <name>', 'tap name (generated tg-tapN when absent; max 15 characters)')
    .option('--queues <n>', 'tap queues (>1 = multi_queue)', intArg('--queues'), 1)
    .option('--owner <uid>', 'uid allowed to open the tap (the VMM user)', intArg('--owner'))
    .action(async (o: { netns: string; veth: string; tap?: string; queues: number; owner?: number }) => {
      await report(() => connectVm(o));
    });

  vm.command('disconnect')
    .description('remove exactly what connect (and limit) added: limiters, filters, qdiscs, tap')
    .requiredOption('--netns <name|path>', 'workload namespace')
    .requiredOption('--tap <name>', 'the tap connect made')
    .option('--missing-ok', 'succeed (disconnected: false) when no such VM is connected')
    .action(async (o: { netns: string; tap: string; missingOk?: boolean }) => {
      await report(async () => ({ disconnected: await disconnectVm(o) }));
    });

  vm.command('limit')
    .description('set, change or remove rate limits in bits/s (e.g. 50mbit, 50M, 50000000; "none" removes)')
    .requiredOption('--netns <name|path>', 'workload namespace')
    .requiredOption('--tap <name>', 'the tap connect made')
    .option('--rx <rate|none>', 'limit toward the VM')
    .option('--tx <rate|none>', 'limit from the VM')
    .action(async (o: { netns: string; tap: string; rx?: string; tx?: string }) => {
      await report(() => setVmRateLimit(o));
    });

  vm.command('list')
    .description('connected VMs (from the agent state directory)')
    .action(async () => {
      await report(() => listVms());
    });
}

import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import ipaddr from 'ipaddr.js';
import { labNamespaces, loadLabSpec, type Mode, type SteeringChoice } from '../topology/spec.js';
import { apiSocketPath } from '../daemon/api.js';
import { callApi } from '../daemon/api-commands.js';
import { Daemon, defaultStateDir } from '../daemon/daemon.js';
import { openRuntime, RUNTIME_CHOICES } from '../runtime/detect.js';
import { parseSelectors } from '../runtime/identity.js';
import { offlineDecision, parseOciState } from '../runtime/oci-hook.js';
import { createLogger } from '../../shared/log.js';
import { isTollgateError, TollgateError } from '../../shared/errors.js';
import { action, print, steeringOption } from './common.js';
import { formatRules, formatWorkloads } from './format-status.js';
import { exportCommand, importCommand, type PolicyFlags } from './rules-policy.js';

/** Where an instance's rules file lives unless --rules says otherwise. */
export function defaultRulesPath(name: string): string {
  return `${defaultStateDir(name)}/rules.yaml`;
}

/** The default instance name when neither --name nor a spec says. */
export const DEFAULT_INSTANCE = 'tollgate';

export interface InstanceFlags {
  name?: string;
  config?: string;
}

/**
 * Which daemon a command talks to: --name, else the lab of --config, else the default
 * instance when one runs, else the embedded lab's (the demo's) daemon.
 */
export async function apiPathFor(flags: InstanceFlags): Promise<string> {
  if (flags.name) return apiSocketPath(checkInstanceName(flags.name));
  if (flags.config) return apiSocketPath(labNamespaces(await loadLabSpec(flags.config)).agent);
  const def = apiSocketPath(DEFAULT_INSTANCE);
  if (existsSync(def)) return def;
  return apiSocketPath(labNamespaces(await loadLabSpec()).agent);
}

export function checkInstanceName(name: string): string {
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(name))
    throw new TollgateError(
      'EBADARG',
      `--name "${name}" must match ^[a-z][a-z0-9-]{0,15}$ (it names a network namespace)`,
      'name',
    );
  return name;
}

const collect = (v: string, prev: string[]) => [...prev, v];
const nameOption = () => new Option('--name <name>', 'agent instance (default: the lab of --config, else "tollgate")');

/** `agent run`, `agent mode`, `agent rules`, `agent workloads`, `agent hook`: the daemon and the commands that talk to it. */
export function registerDaemonCommands(program: Command): void {
  program
    .command('run')
    .description(
      'run the agent daemon: containers from the runtime (and/or a lab), steering, dp supervision, learning, mode switching',
    )
    .addOption(nameOption())
    .option('--config <file>', 'lab spec (YAML/JSON) whose workloads to build and enforce too')
    .option('--rules <file>', 'rules file (default /var/lib/tollgate/<name>/rules.yaml)')
    .addOption(
      new Option('--runtime <kind>', 'container runtime to follow').choices([...RUNTIME_CHOICES]).default('auto'),
    )
    .option('--runtime-socket <path>', 'Docker-API socket of dockerd or `podman system service`')
    .option('--select <label=value>', 'only containers with this label (repeatable; all must match)', collect, [])
    .option('--internal-net <cidr>', "an internal (east-west) network besides the runtime's (repeatable)", collect, [])
    .addOption(
      new Option('--default-mode <mode>', 'mode of groups not seen before')
        .choices(['learn', 'monitor', 'protect'])
        .default('learn'),
    )
    .option(
      '--hooks-dir <dir>',
      'install the OCI hook here (podman: a hooks_dir of containers.conf) so containers are enrolled before their first packet',
    )
    .option(
      '--oci-wrapper <path>',
      'write the wrapper runtime for dockerd here (dockerd --add-runtime tollgate=PATH --default-runtime tollgate): the same hook for dockerd',
    )
    .addOption(steeringOption())
    .option('--report-interval <seconds>', 'dp event flush interval', '2')
    .option('--metrics <addr>', 'serve Prometheus metrics on PORT or ADDR:PORT (PORT alone: 127.0.0.1)')
    .option('--ui <addr>', 'serve the live connection graph on PORT or ADDR:PORT (PORT alone: 127.0.0.1)')
    .option(
      '--no-fast-path',
      'kill switch: the dp never offloads flows to the BPF steering (every frame through the dp)',
    )
    .option('--dp-start-timeout <seconds>', 'how long a starting dp has to answer on its control socket', '15')
    .option('--keepalive-timeout <seconds>', 'how long the dp has to answer a keep-alive before it is restarted', '3')
    .action(
      action(
        async (flags: {
          name?: string;
          config?: string;
          rules?: string;
          runtime: string;
          runtimeSocket?: string;
          select: string[];
          internalNet: string[];
          defaultMode: Mode;
          hooksDir?: string;
          ociWrapper?: string;
          steering?: string;
          reportInterval: string;
          metrics?: string;
          ui?: string;
          fastPath: boolean;
          dpStartTimeout: string;
          keepaliveTimeout: string;
        }) => {
          const spec = flags.config ? await loadLabSpec(flags.config) : undefined;
          const seconds = (opt: string, v: string): number => {
            const n = Number(v);
            if (!Number.isFinite(n) || n <= 0 || n > 3600)
              throw new TollgateError('EBADARG', `--${opt} must be a number of seconds in (0, 3600], got "${v}"`);
            return n;
          };
          const interval = seconds('report-interval', flags.reportInterval);
          for (const c of flags.internalNet)
            if (!isCidr(c)) throw new TollgateError('EBADARG', `--internal-net "${c}" is not a CIDR`, 'internal-net');
          const selectors = parseSelectors(flags.select);
          const runtime = await openRuntime(flags.runtime, flags.runtimeSocket);
          if (!spec && !runtime)
            throw new TollgateError(
              'ENORUNTIME',
              'no container runtime answered (tried podman and docker sockets) and no lab spec was given; pass --runtime-socket PATH, or --config SPEC for a lab',
            );
          const name = flags.name ? checkInstanceName(flags.name) : spec ? labNamespaces(spec).agent : DEFAULT_INSTANCE;
          const log = createLogger('agent');
          const d = new Daemon({
            name,
            ...(spec ? { spec } : {}),
            rulesPath: flags.rules ?? defaultRulesPath(name),
            log,
            runtime,
            selectors,
            internalNets: flags.internalNet,
            defaultMode: flags.defaultMode,
            ...(flags.hooksDir ? { hooksDir: flags.hooksDir } : {}),
            ...(flags.ociWrapper ? { ociWrapper: flags.ociWrapper } : {}),
            ...(flags.steering ? { steering: flags.steering as SteeringChoice } : {}),
            reportInterval: interval,
            ...(flags.metrics ? { metrics: flags.metrics } : {}),
            ...(flags.ui ? { ui: flags.ui } : {}),
            fastPath: flags.fastPath,
            dpStartTimeout: seconds('dp-start-timeout', flags.dpStartTimeout),
            keepAliveTimeout: seconds('keepalive-timeout', flags.keepaliveTimeout),
          });
          const shutdown = () => void d.stop().then(() => process.exit(0));
          process.once('SIGTERM', shutdown);
          process.once('SIGINT', shutdown);
          await d.start();
          process.stdout.write(
            `agent ${name} running (enforcer ${d.agentNs}${runtime ? `, ${runtime.kind} at ${runtime.socketPath}` : ''}); API ${d.apiPath}\n`,
          );
          if (d.observers?.metricsUrl) process.stdout.write(`metrics: ${d.observers.metricsUrl}\n`);
          if (d.observers?.uiUrl)
            process.stdout.write(`connection graph: ${d.observers.uiUrl} (token file ${d.observers.uiTokenPath})\n`);
        },
      ),
    );

  program
    .command('mode')
    .description('switch a group (or the group of a container or workload) to learn, monitor or protect')
    .argument('<group>', 'group name, container name or workload name')
    .argument('<mode>', 'learn | monitor | protect')
    .addOption(nameOption())
    .option('--config <file>', 'lab spec of the running daemon')
    .action(
      action(async (group: string, mode: string, flags: InstanceFlags) => {
        const r = await callApi(await apiPathFor(flags), 'mode', { group, mode }, STATE_CHANGE_TIMEOUT_MS);
        print([`${r.group}: ${r.from} → ${r.to} (${r.members} workload${r.members === 1 ? '' : 's'})`]);
      }),
    );

  program
    .command('rules')
    .description('learned and user rules between groups, with hit counts and last use')
    .addOption(nameOption())
    .option('--config <file>', 'lab spec of the running daemon')
    .option('--group <group>', 'only the rules (and, with --export, the mode) of this group')
    .option('--json', 'machine-readable output')
    .option('--delete <id>', 'remove a rule (sessions it allowed are cut in protect mode)')
    .option('--export <format>', 'write the rules as networkpolicy | ciliumnetworkpolicy | yaml')
    .option('--import <file>', 'read rules and modes in the Tollgate YAML form (as --export yaml writes)')
    .option(
      '--rules <file>',
      'with --export/--import and no running daemon: the rules file (default /var/lib/tollgate/<name>/rules.yaml)',
    )
    .action(
      action(async (flags: InstanceFlags & { json?: boolean; delete?: string } & PolicyFlags) => {
        const path = await apiPathFor(flags);
        const rulesFile =
          flags.rules ??
          defaultRulesPath(
            flags.name ?? (flags.config ? labNamespaces(await loadLabSpec(flags.config)).agent : DEFAULT_INSTANCE),
          );
        if (flags.export !== undefined) return void process.stdout.write(await exportCommand(flags, path, rulesFile));
        if (flags.import !== undefined) {
          const { result: r, where } = await importCommand(flags, path, rulesFile);
          return print([
            `imported into ${where}: ${r.added} rule(s) added, ${r.replaced} replaced, ${r.modes} mode(s) set`,
          ]);
        }
        if (flags.delete !== undefined) {
          const id = Number(flags.delete);
          if (!Number.isInteger(id) || id <= 0)
            throw new TollgateError('EBADARG', `--delete needs a rule id, got "${flags.delete}"`);
          await callApi(path, 'rule-delete', { id }, STATE_CHANGE_TIMEOUT_MS);
          print([`rule ${id} removed`]);
          return;
        }
        const rules = await callApi(path, 'rules', flags.group ? { group: flags.group } : {});
        if (flags.json) return print([JSON.stringify(rules, null, 2)]);
        print(formatRules(rules));
      }),
    );

  program
    .command('workloads')
    .description('the workloads the daemon enforces: container, id, group, mode, IP, MAC, state and since when')
    .addOption(nameOption())
    .option('--config <file>', 'lab spec of the running daemon')
    .option('--json', 'machine-readable output')
    .action(
      action(async (flags: InstanceFlags & { json?: boolean }) => {
        const ws = await callApi(await apiPathFor(flags), 'workloads', {});
        if (flags.json) return print([JSON.stringify(ws, null, 2)]);
        print(formatWorkloads(ws));
      }),
    );

  program
    .command('hook')
    .description(
      'OCI createRuntime hook (run by the container runtime, OCI state on stdin): enrol the container before its process starts',
    )
    .requiredOption('--name <name>', 'agent instance')
    .action(
      action(async (flags: { name: string }) => {
        const name = checkInstanceName(flags.name);
        const st = parseOciState(await readStdin());
        try {
          const r = await callApi(
            apiSocketPath(name),
            'hook-enrol',
            { id: st.id, pid: st.pid, annotations: st.annotations ?? {} },
            HOOK_TIMEOUT_MS,
          );
          if (r.warning) process.stderr.write(`tollgate: ${r.warning}\n`);
        } catch (e) {
          if (isTollgateError(e) && e.code === 'ENODAEMON') {
            const refusal = offlineDecision(defaultStateDir(name), st, name);
            if (refusal) throw new TollgateError('EHOOKREFUSED', refusal);
            process.stderr.write(
              `tollgate: agent ${name} is not running; container ${st.id.slice(0, 12)} starts and is enrolled when the agent resyncs\n`,
            );
            return;
          }
          throw e;
        }
      }),
    );
}

/** State changes queue behind each other in the daemon: wait for the answer, do not give up behind its back. */
const STATE_CHANGE_TIMEOUT_MS = 300_000;
/** Under the hook's own timeout in the hook file (30 s). */
const HOOK_TIMEOUT_MS = 25_000;

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += String(chunk);
  return s;
}

function isCidr(s: string): boolean {
  try {
    ipaddr.parseCIDR(s);
    return true;
  } catch {
    return false;
  }
}

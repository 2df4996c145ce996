/**
 * The daemon API's commands, defined once: each command's argument schema (checked on
 * arrival, so a wrong field type is an EBADARG naming the field) and its result type.
 * The daemon implements exactly this table (ApiImplementation), and the CLI calls it
 * through callApi with the same types, so client and server cannot drift apart.
 */
import { z } from 'zod';
import { TollgateError } from '../../shared/errors.js';
import { callDaemon } from './api.js';
import type { AllowRule } from '../learn/rule.js';
import type { ImportResult } from '../export/import.js';
import type { DaemonStatus, WorkloadStatus } from './status.js';
import type { ModeSwitchResult } from './mode-switch.js';
import type { Mode } from '../topology/spec.js';

const none = z.object({}).passthrough();

export const API_COMMANDS = {
  status: { args: none, doc: 'the daemon, its dp, runtime, workloads, groups and counters' },
  workloads: { args: none, doc: 'every enrolled workload with its group and mode' },
  mode: {
    // `workload` is the older name of `group` (a workload or container name resolves to its group).
    args: z
      .object({ group: z.string().min(1).optional(), workload: z.string().min(1).optional(), mode: z.string() })
      .refine((a) => a.group !== undefined || a.workload !== undefined, {
        message: 'a group (or workload) is required',
        path: ['group'],
      }),
    doc: 'switch a group (or the group of a container or workload) to learn, monitor or protect',
  },
  rules: {
    args: z.object({ group: z.string().min(1).optional() }),
    doc: 'the rules, optionally those naming one group',
  },
  'rule-delete': { args: z.object({ id: z.number().int().positive() }), doc: 'delete one rule by id' },
  'hook-enrol': {
    args: z.object({
      id: z.string(),
      pid: z.number().int().positive(),
      annotations: z.record(z.string(), z.string()).default({}),
    }),
    doc: 'the OCI hook: enrol a container before its process runs',
  },
  'rules-export': {
    args: z.object({ format: z.string(), group: z.string().optional() }),
    doc: 'rules as NetworkPolicy, CiliumNetworkPolicy or Tollgate YAML',
  },
  'rules-import': {
    args: z.object({ text: z.string(), source: z.string().default('import') }),
    doc: 'rules and modes from Tollgate YAML',
  },
  'pause-events': { args: none, doc: 'stop reading the dp event stream (tests of a slow consumer)' },
  'resume-events': { args: none, doc: 'read the dp event stream again' },
  'dp-restart': { args: none, doc: 'restart the dp (its state is replayed)' },
  stop: { args: none, doc: 'stop the daemon (ports, steering and hooks stay in place)' },
} as const;

export type ApiCommand = keyof typeof API_COMMANDS;
export type ApiArgs<C extends ApiCommand> = z.input<(typeof API_COMMANDS)[C]['args']>;
type ParsedArgs<C extends ApiCommand> = z.output<(typeof API_COMMANDS)[C]['args']>;

export interface HookEnrolResult {
  enrolled: number;
  group?: string;
  mode?: Mode;
  skipped?: string;
  warning?: string;
}

/** What each command answers. */
export interface ApiResults {
  status: DaemonStatus;
  workloads: WorkloadStatus[];
  mode: ModeSwitchResult;
  rules: AllowRule[];
  'rule-delete': { removed: number };
  'hook-enrol': HookEnrolResult;
  'rules-export': string;
  'rules-import': ImportResult;
  'pause-events': { paused: boolean };
  'resume-events': { paused: boolean };
  'dp-restart': { restarts: number | undefined };
  stop: { stopping: boolean };
}

export type ApiImplementation = { [C in ApiCommand]: (args: ParsedArgs<C>) => ApiResults[C] | Promise<ApiResults[C]> };

export function isApiCommand(cmd: string): cmd is ApiCommand {
  return Object.hasOwn(API_COMMANDS, cmd);
}

/** Checks a request's args against its command's schema; the error names the field. */
export function parseApiArgs<C extends ApiCommand>(cmd: C, args: unknown): ParsedArgs<C> {
  const r = API_COMMANDS[cmd].args.safeParse(args ?? {});
  if (r.success) return r.data as ParsedArgs<C>;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || 'args';
  throw new TollgateError('EBADARG', `${cmd}: ${field}: ${issue.message}`, field);
}

/** One typed request to a running daemon (see callDaemon for errors and the timeout). */
export async function callApi<C extends ApiCommand>(
  path: string,
  cmd: C,
  args: ApiArgs<C>,
  timeoutMs?: number,
): Promise<ApiResults[C]> {
  return (await callDaemon(path, cmd, args as Record<string, unknown>, timeoutMs)) as ApiResults[C];
}

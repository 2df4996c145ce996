/**
 * The daemon's API handlers: one per command of API_COMMANDS (api-commands.ts), each
 * given its arguments already checked against the command's schema.
 */
import { TollgateError } from '../../shared/errors.js';
import { exportPolicy } from '../export/export.js';
import { importPolicy } from '../export/import.js';
import { parseTollgateYaml } from '../export/tollgate-yaml.js';
import type { EventConsumer } from '../learn/event-consumer.js';
import type { RuleStore } from '../learn/rule-store.js';
import { API_COMMANDS, type ApiImplementation, isApiCommand, parseApiArgs } from './api-commands.js';
import type { ContainerSync } from './container-sync.js';
import type { DpSupervisor } from './dp-supervisor.js';
import type { ModeSwitcher } from './mode-switch.js';
import type { RulesApi } from './rules-api.js';
import type { DaemonStatus, WorkloadStatus } from './status.js';

export interface ApiParts {
  status(): DaemonStatus;
  workloads(): WorkloadStatus[];
  modes: ModeSwitcher;
  rules: RulesApi;
  store: RuleStore;
  containers: ContainerSync;
  consumer(): EventConsumer | undefined;
  supervisor(): DpSupervisor | undefined;
  stop(): Promise<void>;
}

export function apiImplementation(d: ApiParts): ApiImplementation {
  return {
    status: () => d.status(),
    workloads: () => d.workloads(),
    mode: (a) => d.modes.set((a.group ?? a.workload)!, a.mode),
    rules: (a) => (a.group ? d.store.list().filter((r) => r.from === a.group || r.to === a.group) : d.store.list()),
    'rule-delete': (a) => d.rules.removeRule(a.id),
    'hook-enrol': (a) => d.containers.hookEnrol(a),
    'rules-export': (a) => exportPolicy(a.format, d.rules.policySource(), a.group),
    'rules-import': (a) => importPolicy(d.rules.policyTarget(), parseTollgateYaml(a.text, a.source), a.source),
    'pause-events': () => {
      d.consumer()?.pause();
      return { paused: true };
    },
    'resume-events': () => {
      d.consumer()?.resume();
      return { paused: false };
    },
    'dp-restart': async () => {
      await d.supervisor()?.restart('requested');
      return { restarts: d.supervisor()?.restarts };
    },
    stop: () => {
      setImmediate(() => void d.stop().then(() => process.exit(0)));
      return { stopping: true };
    },
  };
}

/** (cmd, args) → the command's answer; an unknown command or a bad argument is a TollgateError. */
export function apiHandler(d: ApiParts): (cmd: string, args: Record<string, unknown>) => Promise<unknown> {
  const impl = apiImplementation(d);
  return async (cmd, args) => {
    if (!isApiCommand(cmd))
      throw new TollgateError('EBADCMD', `unknown command "${cmd}" (${Object.keys(API_COMMANDS).join(', ')})`);
    const h = impl[cmd] as (a: unknown) => unknown;
    return h(parseApiArgs(cmd, args));
  };
}

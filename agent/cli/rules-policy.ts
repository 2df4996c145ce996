/**
 * `agent rules --export FORMAT [--group G]` and `agent rules --import FILE`: through the
 * running daemon when one answers on the lab's API socket (it enforces what it imports),
 * otherwise offline on the rules file (`--rules FILE`, default the lab's), which the next
 * `agent run` loads.
 */
import { readFile } from 'node:fs/promises';
import { callApi, type ApiArgs, type ApiCommand, type ApiResults } from '../daemon/api-commands.js';
import { RuleStore } from '../learn/rule-store.js';
import { exportPolicy } from '../export/export.js';
import { parseTollgateYaml } from '../export/tollgate-yaml.js';
import { fileTarget, importPolicy, type ImportResult } from '../export/import.js';
import { TollgateError, isTollgateError } from '../../shared/errors.js';

export interface PolicyFlags {
  export?: string;
  group?: string;
  import?: string;
  rules?: string;
}

/** Calls the daemon; undefined when none is running (so the caller works offline). */
async function daemonOrNothing<C extends ApiCommand>(
  apiPath: string,
  cmd: C,
  args: ApiArgs<C>,
): Promise<ApiResults[C] | undefined> {
  try {
    return await callApi(apiPath, cmd, args);
  } catch (e) {
    if (isTollgateError(e) && e.code === 'ENODAEMON') return undefined;
    throw e;
  }
}

async function offlineStore(path: string): Promise<RuleStore> {
  const store = new RuleStore(path);
  await store.load();
  return store;
}

export async function exportCommand(flags: PolicyFlags, apiPath: string, rulesPath: string): Promise<string> {
  const format = flags.export!;
  const viaDaemon = await daemonOrNothing(apiPath, 'rules-export', { format, group: flags.group });
  if (viaDaemon !== undefined) return String(viaDaemon);
  const store = await offlineStore(rulesPath);
  return exportPolicy(format, { rules: store.list(), modes: store.modes, labels: {} }, flags.group);
}

export async function importCommand(
  flags: PolicyFlags,
  apiPath: string,
  rulesPath: string,
): Promise<{ result: ImportResult; where: string }> {
  const file = flags.import!;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new TollgateError('EIMPORT', `cannot read ${file}: ${(e as Error).message}`);
  }
  // Validate here first: a bad file is refused before anything (daemon or file) changes.
  const doc = parseTollgateYaml(text, file);
  const viaDaemon = (await daemonOrNothing(apiPath, 'rules-import', { text, source: file })) as
    | ImportResult
    | undefined;
  if (viaDaemon !== undefined) return { result: viaDaemon, where: 'the running agent' };
  const store = await offlineStore(rulesPath);
  return { result: await importPolicy(fileTarget(store), doc, file), where: rulesPath };
}

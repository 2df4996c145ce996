import { Option } from 'commander';
import { isTollgateError, errorMessage } from '../../shared/errors.js';
import { loadLabSpec, type LabSpec, type SteeringChoice } from '../topology/spec.js';

/** Shared CLI plumbing: spec loading with the steering override, and error printing. */
export const steeringOption = () => new Option('--steering <kind>', 'steering backend').choices(['u32', 'bpf', 'auto']);
export const noSteeringOption = () => new Option('--no-steering', 'build links only, no tc filters');

export interface SteeringFlags {
  /** commander: a string from --steering, false from --no-steering, undefined when neither. */
  steering?: string | false;
}

export async function specWithSteering(path: string | undefined, flags: SteeringFlags): Promise<LabSpec> {
  const spec = await loadLabSpec(path);
  if (flags.steering === false) spec.steering = 'none';
  else if (typeof flags.steering === 'string') spec.steering = flags.steering as SteeringChoice;
  return spec;
}

/** Wraps an action: TollgateErrors print as `error: <message>` (no stack) and exit 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      process.stderr.write(`error: ${errorMessage(e)}\n`);
      if (!isTollgateError(e) && process.env.TOLLGATE_DEBUG) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
      process.exitCode = 1;
    }
  };
}

export function print(lines: readonly string[]): void {
  if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
}

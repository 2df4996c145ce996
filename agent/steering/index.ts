import { TollgateError } from '../../shared/errors.js';
import type { SteeringBackend, SteeringKind } from './backend.js';
import { BpfSteering, checkPinDir } from './bpf-backend.js';
import { probeSteering } from './probe.js';
import { U32Steering } from './u32-backend.js';

export { probeSteering, type SteeringProbe } from './probe.js';
export { BpfSteering, bpfObjectPath } from './bpf-backend.js';
export { U32Steering } from './u32-backend.js';
export { formatPlan } from './apply.js';
export { readSteeringCounters, type SteeringCounters } from './bpf-counters.js';
export { dumpIngressFilters } from './tc-state.js';
export type { ServicePair, SteeredPort, SteeringBackend, SteeringKind, SteeringMode, SteeringPlan } from './backend.js';

export { pinDirFor } from '../topology/names.js';

export interface SelectSteeringOptions {
  /** /sys/fs/bpf/tollgate-<agentNsName>: where the bpf backend pins its programs and maps. */
  pinDir: string;
}

/**
 * The backend to use. auto: NeuVector's exact u32 rules where the kernel has act_pedit,
 * else TC BPF. An explicit kind the probe found unusable is an error naming why.
 */
export async function selectSteering(
  kind: SteeringKind | 'auto',
  opts: SelectSteeringOptions,
): Promise<SteeringBackend> {
  if (kind !== 'auto' && kind !== 'u32' && kind !== 'bpf')
    throw new TollgateError(
      'ESTEERINPUT',
      `steering must be u32, bpf or auto, got ${JSON.stringify(kind)}`,
      'steering',
    );
  checkPinDir(opts.pinDir);
  const probe = await probeSteering();
  const why = (keys: string[]) => keys.map((k) => `${k}: ${probe.detail[k] ?? 'not tried'}`).join('; ');
  if (kind === 'u32' || (kind === 'auto' && probe.u32)) {
    if (!probe.u32)
      throw new TollgateError(
        'ESTEERUNAVAILABLE',
        `u32 steering is unusable on this kernel (${why(['u32+mirred', 'u32+pedit', 'u32+gact'])})`,
        'steering',
      );
    return new U32Steering();
  }
  if (!probe.bpf) {
    const msg = kind === 'auto' ? 'neither u32+pedit nor bpf steering works here' : 'bpf steering is unusable';
    throw new TollgateError('ESTEERUNAVAILABLE', `${msg} (${why(['u32+pedit', 'bpf', 'namespace'])})`, 'steering');
  }
  return new BpfSteering(opts.pinDir);
}

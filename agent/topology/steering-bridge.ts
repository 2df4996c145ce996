import { TollgateError } from '../../shared/errors.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import type { ServicePair, SteeredPort, SteeringMode, SteeringPlan } from '../steering/backend.js';
import type { Command } from './commands.js';
import type { Mode, SteeringChoice } from './spec.js';

/**
 * The topology's view of steering (agent/steering, helper B's module): loaded lazily
 * so the topology works, and `--no-steering` labs come up, without it. Only the
 * contract from agent/steering/backend.ts and index.ts is used.
 */
export interface SteeringBackendLike {
  kind: string;
  planService(pair: ServicePair): Promise<SteeringPlan>;
  planPort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan>;
  planRemovePort(port: SteeredPort, pair: ServicePair): Promise<SteeringPlan>;
  planRemoveService(pair: ServicePair): Promise<SteeringPlan>;
  applyPlan(agentNs: string, plan: SteeringPlan): Promise<void>;
}

interface SteeringModule {
  selectSteering(kind: 'u32' | 'bpf' | 'auto', opts: { pinDir: string }): Promise<SteeringBackendLike>;
  probeSteering(): Promise<{ u32: boolean; bpf: boolean; detail: Record<string, string> }>;
}

/** learn and monitor only watch (tap); protect puts the dp inline. */
export function steeringModeOf(mode: Mode): SteeringMode {
  return mode === 'protect' ? 'inline' : 'tap';
}

let loaded: Promise<SteeringModule | null> | undefined;

async function loadSteeringModule(): Promise<SteeringModule | null> {
  // A variable specifier keeps tsc from requiring the module at build time.
  const specifier = '../steering/index.js';
  loaded ??= import(specifier).then(
    (m: SteeringModule) => m,
    () => null,
  );
  return loaded;
}

/** The backend for a spec's steering choice, or null for 'none'. */
export async function openSteering(choice: SteeringChoice, pinDir: string): Promise<SteeringBackendLike | null> {
  if (choice === 'none') return null;
  const mod = await loadSteeringModule();
  if (!mod) {
    throw new TollgateError('ESTEERING', 'steering backends are not available (agent/steering/index.js missing); use --no-steering', 'steering');
  }
  return mod.selectSteering(choice, { pinDir });
}

export function steeredPort(p: {
  workload: string;
  agentNs: string;
  vex: string;
  vin: string;
  vexIfindex: number;
  vinIfindex: number;
  wlMac: string;
  mode: Mode;
}): SteeredPort {
  return { ...p, ucMac: ucmacForIfindex(p.vexIfindex), mode: steeringModeOf(p.mode) };
}

/** A steering plan as printable/executable commands in the enforcer namespace. */
export function steeringCommands(agentNs: string, plan: SteeringPlan, note: string): Command[] {
  const out: Command[] = [];
  if (plan.tc.length) out.push({ ns: agentNs, argv: ['tc'], batch: plan.tc, note });
  for (const argv of plan.commands) out.push({ ns: agentNs, argv, note: out.length ? undefined : note });
  return out;
}

import { ucmacForIfindex } from '../../shared/mac.js';
import {
  selectSteering,
  type ServicePair,
  type SteeredPort,
  type SteeringBackend,
  type SteeringMode,
  type SteeringPlan,
} from '../steering/index.js';
import type { Command } from './commands.js';
import { VBR, VTH } from './names.js';
import type { Mode, SteeringChoice } from './spec.js';

/** The topology's side of steering (agent/steering): which backend, what mode, which port. */

/** learn and monitor only watch (tap); protect puts the dp inline. */
export function steeringModeOf(mode: Mode): SteeringMode {
  return mode === 'protect' ? 'inline' : 'tap';
}

/** The backend for a steering choice, or null for 'none' (a lab without steering). */
export async function openSteering(choice: SteeringChoice, pinDir: string): Promise<SteeringBackend | null> {
  if (choice === 'none') return null;
  return selectSteering(choice, { pinDir });
}

export function servicePair(agentNs: string, vbrIfindex: number): ServicePair {
  return { agentNs, vbr: VBR, vth: VTH, vbrIfindex };
}

/** A port as the topology knows it (a workload mode, no ucmac yet) → the steering's view. */
export function steeredPort(p: Omit<SteeredPort, 'ucMac' | 'mode'> & { mode: Mode }): SteeredPort {
  return { ...p, ucMac: ucmacForIfindex(p.vexIfindex), mode: steeringModeOf(p.mode) };
}

export function isEmptyPlan(p: SteeringPlan): boolean {
  return !p.prepare.length && !p.tc.length && !p.commands.length;
}

/** A steering plan as printable commands: prepare (root ns), `tc -batch` in agentNs, then the rest. */
export function steeringCommands(agentNs: string, plan: SteeringPlan, note: string): Command[] {
  const out: Command[] = [];
  const first = () => (out.length ? {} : { note });
  for (const argv of plan.prepare) out.push({ argv, ...first() });
  if (plan.tc.length) out.push({ ns: agentNs, argv: ['tc'], batch: plan.tc, ...first() });
  for (const argv of plan.commands) out.push({ argv, ...first() });
  return out;
}

/**
 * Policy for offline runs: the whole capture is seen by one dummy endpoint (id 0), so a
 * case's rules become that endpoint's policy handle, exactly as ctrl_cfg_policy would
 * install them on a live endpoint. Workload modes map as in the live dp: learn and
 * monitor are tap (inspect only), protect is inline (DENY drops).
 */
import { MODES, type WorkloadMode } from '../../shared/policy-actions.js';
import type { PolicyHook } from '../engine-types.js';
import { PolicyTable, compileRules, type WireRule } from '../policy/policy-table.js';
import { policyHook } from '../policy/engine-hook.js';

/** The endpoint id runOffline's dummy endpoint uses. */
export const OFFLINE_EP_ID = 0;

export interface OfflinePolicyConfig {
  /** Default action (NeuVector number); default: the mode's (learn 1, monitor 6, protect 7). */
  defaultAction?: number | undefined;
  rules: readonly WireRule[];
  /** ctrl_enable_icmp_policy: without it ICMP is implicitly allowed (NeuVector). */
  icmpPolicy?: boolean | undefined;
}

/** Compiles the rules (throws TollgateError naming the bad field) and returns the engine hook. */
export function offlinePolicy(mode: WorkloadMode, cfg: OfflinePolicyConfig, field = 'policy.rules'): PolicyHook {
  const table = new PolicyTable();
  table.enableIcmpPolicy = cfg.icmpPolicy ?? false;
  table.setPolicy([OFFLINE_EP_ID], cfg.defaultAction ?? MODES[mode].defaultAction, 0, compileRules(cfg.rules, field));
  return policyHook(table);
}

/** runOffline's mode for a workload mode. */
export function offlineEngineMode(mode: WorkloadMode): 'tap' | 'inline' {
  return MODES[mode].tap ? 'tap' : 'inline';
}

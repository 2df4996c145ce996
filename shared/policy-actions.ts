/**
 * NeuVector's policy action numbers (DP_POLICY_ACTION_*), the wire contract of
 * ctrl_cfg_policy and of connection/violation events. "Log as violation" = action > 5.
 */
export const PolicyAction = {
  OPEN: 0,
  LEARN: 1,
  ALLOW: 2,
  CHECK_VH: 3,
  CHECK_NBE: 4,
  CHECK_APP: 5,
  VIOLATE: 6,
  DENY: 7,
} as const;
export type PolicyActionCode = (typeof PolicyAction)[keyof typeof PolicyAction];

export const POLICY_ACTION_NAMES: Record<number, string> = {
  0: 'open',
  1: 'learn',
  2: 'allow',
  3: 'check_vh',
  4: 'check_nbe',
  5: 'check_app',
  6: 'violate',
  7: 'deny',
};

export function isViolation(action: number): boolean {
  return action > PolicyAction.CHECK_APP;
}

/** Apply direction of a policy handle (ctrl_cfg_policy `dir`). */
export const PolicyDir = { EGRESS: 1, INGRESS: 2 } as const;

/** Workload modes and what each means for the dp: tap flag + default action. */
export const MODES = {
  learn: { tap: true, defaultAction: PolicyAction.LEARN },
  monitor: { tap: true, defaultAction: PolicyAction.VIOLATE },
  protect: { tap: false, defaultAction: PolicyAction.DENY },
} as const;
export type WorkloadMode = keyof typeof MODES;
export function isWorkloadMode(s: string): s is WorkloadMode {
  return Object.hasOwn(MODES, s);
}

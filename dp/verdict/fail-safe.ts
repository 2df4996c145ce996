/**
 * The engine's fail-safe choices (Suricata's exception policies): what happens when the
 * engine cannot decide normally. Each one is explicit, counted, and configurable from
 * `dp` options; docs/ARCHITECTURE.md "Fail-safe choices" states them.
 */
export const POLICY_ERROR_MODES = ['closed', 'open'] as const;
export type PolicyErrorMode = (typeof POLICY_ERROR_MODES)[number];

export interface FailSafeOptions {
  /**
   * A policy lookup that throws: 'closed' (default) decides DENY, so an inline endpoint
   * drops the packet and a tapped one reports it; 'open' decides OPEN. Counted
   * (policyErrors) either way.
   */
  policyError?: PolicyErrorMode;
  /**
   * Sessions one endpoint may hold at once (default: half the table). A new session
   * beyond it first evicts one of that endpoint's half-open TCP sessions; if it has none,
   * the new session is refused (inline: dropped) and counted (sessionQuotaFull).
   */
  sessionsPerEndpoint?: number;
}

/** Slots looked at per eviction before giving up (the sweep resumes there next time). */
export const EVICT_SCAN = 4096;

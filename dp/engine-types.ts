/**
 * Public types of the engine: verdicts, events (plain JSON-able objects, emitted per
 * session or per bad frame, never per good packet), session records and the policy seam.
 */
/**
 * Forward, Drop, or Held: the engine kept a copy of the frame (a fragment waiting for its
 * first fragment) and sends it itself through the inject hook once allowed, so the caller
 * neither forwards nor counts it as dropped.
 */
export const Verdict = { Forward: 0, Drop: 1, Held: 2 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

export type SessionProto = 'tcp' | 'udp' | 'icmp' | 'ip';
/** evict: a half-open session ended to make room (dp/verdict/fail-safe.ts). */
export type SessionEndReason = 'fin' | 'rst' | 'timeout' | 'purge' | 'clear' | 'eof' | 'reuse' | 'evict';

export interface SessionTuple {
  /** Session id, unique for the engine's life. */
  id: number;
  proto: SessionProto;
  ipProto: number;
  ipVersion: 4 | 6;
  client: string;
  clientPort: number;
  server: string;
  serverPort: number;
  ep: number;
  /** The session's client is outside the endpoint (traffic toward the workload). */
  ingress: boolean;
}

export interface SessionStartEvent extends SessionTuple {
  type: 'session.start';
  ts: number;
  midstream: boolean;
  action: number;
  ruleId: number;
}

/** What a session carried and how it was decided: in its end event and in session lists. */
export interface SessionStats {
  tcpState?: string;
  pktsToServer: number;
  pktsToClient: number;
  bytesToServer: number;
  bytesToClient: number;
  action: number;
  ruleId: number;
}

export interface SessionEndEvent extends SessionTuple, SessionStats {
  type: 'session.end';
  ts: number;
  reason: SessionEndReason;
  durationMs: number;
}

export interface MalformedEvent {
  type: 'malformed';
  ts: number;
  reason: string;
  /** 1-based index of the frame in the engine's input. */
  frame: number;
  len: number;
  ep: number;
  dropped: boolean;
}

/** A new session's first packet was denied on an inline endpoint: dropped, no session created. */
export interface PolicyDenyEvent extends SessionTuple {
  type: 'policy.deny';
  ts: number;
  action: number;
  ruleId: number;
}

/**
 * A live session's policy decision changed (a policy input moved), or an inline session
 * that is DENY was cut (also when it was denied while its endpoint was tapped).
 */
export interface SessionPolicyEvent extends SessionTuple {
  type: 'session.policy';
  ts: number;
  action: number;
  ruleId: number;
  prevAction: number;
  /** TCP resets were injected both ways (inline endpoint, now DENY). */
  reset: boolean;
  /** The session is cut: inline and DENY, so this packet and the rest of the session drop. */
  dropped: boolean;
}

export type EngineEvent = SessionStartEvent | SessionEndEvent | MalformedEvent | PolicyDenyEvent | SessionPolicyEvent;

export interface SessionRecord extends SessionTuple, SessionStats {
  startMs: number;
  lastMs: number;
}

/** Reused by the engine for every policy question (no allocation). sip = client, dip = server. */
export interface PolicyQuery {
  ingress: boolean;
  proto: number;
  sip: Uint32Array;
  dip: Uint32Array;
  sport: number;
  dport: number;
}

export interface PolicyDecision {
  action: number;
  ruleId: number;
}

/**
 * Policy seam (served by dp/policy/engine-hook.ts). The engine asks once per new session and again whenever
 * version(ep) differs from the version the session was decided under. Actions are
 * NeuVector's DP_POLICY_ACTION_* (shared/policy-actions.ts); DENY (7) drops on inline
 * endpoints. Without a hook every session is OPEN (0), rule 0.
 */
export interface PolicyHook {
  version(epId: number): number;
  decide(epId: number, q: PolicyQuery, out: PolicyDecision): void;
}

export const POLICY_DENY = 7;
export const POLICY_OPEN = 0;

/**
 * The engine rig the fail-safety tests share (test/unit/fail-safety-engine*.test.ts): the
 * real Engine with the real policy table behind dp/policy/engine-hook.ts, collecting its
 * events and injected frames.
 */
import { expect } from 'vitest';
import { Engine, type EngineEvent, type EngineOptions } from '../../dp/engine.js';
import { newCounters, type Endpoint } from '../../dp/endpoints/endpoint.js';
import { PolicyTable, type WireRule } from '../../dp/policy/policy-table.js';
import { policyHook } from '../../dp/policy/engine-hook.js';
import { PacketView } from '../../dp/decode/packet.js';
import { decodeFrame } from '../../dp/decode/decode.js';

export const WEB = '198.18.0.10';
export const DB = '198.18.0.11';
export const PEER = '198.19.0.5';
export const ALLOW = 2;
export const DENY = 7;
export const LEARN = 1;

export function endpoint(id: number, tap: boolean): Endpoint {
  return {
    id,
    iface: 'vth',
    mac: `02:00:00:00:00:0${id}`,
    ucmac: '',
    bcmac: '',
    macNum: id,
    ucmacNum: 0,
    tap,
    counters: newCounters(),
  };
}

/** A rule for any IPv4 peer (both ends 0.0.0.0–255.255.255.255), like the agent's learned rules. */
export function rule(id: number, proto: number, port: number, action: number, ingress = true): WireRule {
  return {
    id,
    sip: '0.0.0.0',
    sipr: '255.255.255.255',
    dip: '0.0.0.0',
    dipr: '255.255.255.255',
    proto,
    port,
    action,
    ingress,
  };
}

export interface Rig {
  engine: Engine;
  table: PolicyTable;
  events: EngineEvent[];
  injected: Buffer[];
}

export function rig(opts: EngineOptions = {}): Rig {
  const table = new PolicyTable();
  const events: EngineEvent[] = [];
  const injected: Buffer[] = [];
  const engine = new Engine({
    policy: policyHook(table),
    emit: (e) => events.push(e),
    inject: (f, len) => injected.push(Buffer.from(f.subarray(0, len))),
    ...opts,
  });
  return { engine, table, events, injected };
}

export function decoded(f: Buffer): PacketView {
  const p = new PacketView();
  expect(decodeFrame(p, f, 0, f.length, f.length)).toBe(0);
  return p;
}

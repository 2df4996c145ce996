/**
 * The fast-path key the dp writes must be byte for byte the key steer.bpf.c builds from a
 * frame (struct flow_key): the workload's port, proto, the workload's and the peer's
 * address (IPv4 mapped), the workload's and the peer's port in network order.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { SessionTable } from '../../dp/session/table.js';
import { SF_INGRESS } from '../../dp/session/tcp-state.js';
import {
  FLOW_KEY_SIZE,
  FLOW_VAL_SIZE,
  portOfUcmac,
  towardWorkloadIndex,
  writeFlowKey,
} from '../../dp/fastpath/flow-entry.js';
import { macStringToNumber } from '../../shared/mac.js';

const v4 = (a: number, b: number, c: number, d: number): number[] => [
  0,
  0,
  0xffff,
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0,
];

describe('fast-path flow key', () => {
  it('matches struct flow_key: sizes as in steer.bpf.c', () => {
    const src = readFileSync(new URL('../../agent/steering/bpf/steer.bpf.c', import.meta.url), 'utf8');
    expect(src).toMatch(/struct flow_key \{[^}]*\}/);
    expect(src).toContain(`${FLOW_KEY_SIZE} bytes`);
    expect(src).toContain(`${FLOW_VAL_SIZE} bytes`);
  });

  it('an ingress IPv4 session (peer is the client) puts the workload first', () => {
    const t = new SessionTable(8);
    // Packet peer 198.18.0.1:40000 -> workload 198.18.0.10:8080, TCP.
    const a = new Uint32Array([...v4(198, 18, 0, 1), ...v4(198, 18, 0, 10)]);
    const s = t.insert(a, 0, 40000, 8080, 6, 3, false, 0);
    t.flags[s] = SF_INGRESS;
    const key = new Uint8Array(FLOW_KEY_SIZE);
    writeFlowKey(new DataView(key.buffer), 0, t, s, portOfUcmac(macStringToNumber('4e:65:75:56:01:2c')));
    const want = Buffer.alloc(FLOW_KEY_SIZE);
    want.writeUInt32LE(0x012c, 0);
    want[4] = 6;
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 10]).copy(want, 8);
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1]).copy(want, 24);
    want.writeUInt16BE(8080, 40);
    want.writeUInt16BE(40000, 42);
    expect(Buffer.from(key)).toEqual(want);
    // Toward the workload = client -> server for an ingress session.
    expect(towardWorkloadIndex(t, s)).toBe(0);
  });

  it('an egress IPv6 session (workload is the client) keeps the workload first', () => {
    const t = new SessionTable(8);
    const wl = [0x20010002, 0, 0, 0x10];
    const peer = [0x20010002, 0, 0, 0x1];
    const a = new Uint32Array([...wl, ...peer]);
    const s = t.insert(a, 0, 51000, 53, 17, 1, false, 0);
    t.flags[s] = 0;
    const key = new Uint8Array(FLOW_KEY_SIZE);
    writeFlowKey(new DataView(key.buffer), 0, t, s, 7);
    const b = Buffer.from(key);
    expect(b.readUInt32LE(0)).toBe(7);
    expect(b[4]).toBe(17);
    expect(b.subarray(8, 24).toString('hex')).toBe('20010002000000000000000000000010');
    expect(b.subarray(24, 40).toString('hex')).toBe('20010002000000000000000000000001');
    expect(b.readUInt16BE(40)).toBe(51000);
    expect(b.readUInt16BE(42)).toBe(53);
    expect(towardWorkloadIndex(t, s)).toBe(1);
  });
});

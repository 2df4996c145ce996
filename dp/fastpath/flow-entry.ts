/**
 * Byte layout of the fast-path verdict map tg_flows, mirrored from struct flow_key and
 * struct flow_val in agent/steering/bpf/steer.bpf.c, and the writer that fills a key
 * from a session table slot without allocating.
 */
import type { SessionTable } from '../session/table.js';
import { SF_INGRESS } from '../session/tcp-state.js';

export const FLOW_MAP_NAME = 'tg_flows';
export const FLOW_KEY_SIZE = 44;
export const FLOW_VAL_SIZE = 48;

/** struct flow_key offsets. */
const K_PORT = 0;
const K_PROTO = 4;
const K_WL_ADDR = 8;
const K_PEER_ADDR = 24;
const K_WL_PORT = 40;
const K_PEER_PORT = 42;

/** struct flow_val offsets (u64 counters as little-endian, this project runs on x86_64). */
const V_PKTS_IN = 0;
const V_BYTES_IN = 8;
const V_PKTS_OUT = 16;
const V_BYTES_OUT = 24;
const V_LAST_NS = 32;
const V_SLOT = 40;
const V_SERIAL = 44;

/** The workload's port number in a key: the low 16 bits of its unique MAC (4e:65:75:56:HH:LL). */
export function portOfUcmac(ucmacNum: number): number {
  return ucmacNum % 0x10000;
}

/**
 * Writes the key of slot s at key[off..off+44): the flow from the workload's side. A
 * session whose client is outside (SF_INGRESS) has the workload as its server.
 */
export function writeFlowKey(dv: DataView, off: number, t: SessionTable, s: number, port: number): void {
  const ingress = (t.flags[s]! & SF_INGRESS) !== 0;
  const k = s << 3;
  const wl = ingress ? k + 4 : k;
  const peer = ingress ? k : k + 4;
  dv.setUint32(off + K_PORT, port, true);
  dv.setUint32(off + K_PROTO, t.proto[s]!, true); // proto byte + 3 zero pad bytes
  for (let i = 0; i < 4; i++) {
    dv.setUint32(off + K_WL_ADDR + 4 * i, t.addr[wl + i]!, false);
    dv.setUint32(off + K_PEER_ADDR + 4 * i, t.addr[peer + i]!, false);
  }
  dv.setUint16(off + K_WL_PORT, ingress ? t.sport[s]! : t.cport[s]!, false);
  dv.setUint16(off + K_PEER_PORT, ingress ? t.cport[s]! : t.sport[s]!, false);
}

/** Index into SessionTable pkts/bytes of the direction toward the workload (0 = client → server). */
export function towardWorkloadIndex(t: SessionTable, s: number): number {
  return (t.flags[s]! & SF_INGRESS) !== 0 ? 0 : 1;
}

/**
 * Writes a new entry's value at vals[off..off+FLOW_VAL_SIZE): no counts yet, last seen
 * `nowNs` (CLOCK_MONOTONIC), and the session's slot and serial, which the kernel keeps.
 */
export function writeFlowValue(
  vals: Uint8Array,
  dv: DataView,
  off: number,
  nowNs: number,
  s: number,
  serial: number,
): void {
  vals.fill(0, off, off + FLOW_VAL_SIZE);
  dv.setUint32(off + V_LAST_NS, nowNs % 0x1_0000_0000, true);
  dv.setUint32(off + V_LAST_NS + 4, Math.floor(nowNs / 0x1_0000_0000), true);
  dv.setUint32(off + V_SLOT, s, true);
  dv.setUint32(off + V_SERIAL, serial, true);
}

/**
 * The value at off into out: [pkts in, bytes in, pkts out, bytes out, last seen ns]
 * (in = toward the workload).
 */
export function readFlowCounts(dv: DataView, off: number, out: Float64Array): void {
  out[0] = u64(dv, off + V_PKTS_IN);
  out[1] = u64(dv, off + V_BYTES_IN);
  out[2] = u64(dv, off + V_PKTS_OUT);
  out[3] = u64(dv, off + V_BYTES_OUT);
  out[4] = u64(dv, off + V_LAST_NS);
}

/** A u64 counter as a JS number (exact below 2^53). */
export function u64(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 0x1_0000_0000;
}

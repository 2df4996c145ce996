import { parseMac } from '../../shared/mac.js';
import type { SteeringMode } from './backend.js';

/**
 * Byte layouts of the steering maps, mirrored from agent/steering/bpf/steer.bpf.c
 * (struct port_info, struct uc_key, struct uc_info), and the bpftool argv that write
 * them. Integers are little-endian: BPF maps hold host byte order and this project runs
 * on x86_64 (setup.sh builds with the x86_64 include path).
 */
export const MAP_PORTS = 'tg_ports';
export const MAP_UCMACS = 'tg_ucmacs';
export const MAP_COUNTERS = 'tg_counters';
/** The fast-path verdict map the dp writes (dp/fastpath/); the agent only creates and pins it. */
export const MAP_FLOWS = 'tg_flows';

export const PROG_VEX = 'tg_vex';
export const PROG_VIN = 'tg_vin';
export const PROG_VBR = 'tg_vbr';

const ROLE = { vex: 0, vin: 1 } as const;
/** A port entry's mode: the steering modes, and 'drain' (from inline on its way to tap:
 *  frames cross directly, none go to the dp, while its return path stays inline). */
export type PortMode = SteeringMode | 'drain';
const MODE: Record<PortMode, number> = { tap: 0, inline: 1, drain: 2 };

/** Counter slots of tg_counters, in the C enum's order. */
export const BPF_COUNTERS = [
  'to_peer',
  'to_vbr',
  'tap_copy',
  'from_dp_to_vin',
  'from_dp_to_vex',
  'from_dp_tap_drop',
  'from_dp_unknown_drop',
  'no_port',
  'short',
  'fast_path',
  'drain_to_peer',
] as const;

export interface PortEntry {
  ingressIfindex: number;
  role: 'vex' | 'vin';
  peerIfindex: number;
  vbrIfindex: number;
  wlMac: string;
  ucMac: string;
  mode: PortMode;
}

export interface UcEntry {
  ucMac: string;
  vinIfindex: number;
  vexIfindex: number;
  wlMac: string;
  mode: SteeringMode;
}

export function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function portKey(ifindex: number): Buffer {
  return u32le(ifindex);
}

export function portValue(e: PortEntry): Buffer {
  return Buffer.concat([
    u32le(e.peerIfindex),
    u32le(e.vbrIfindex),
    parseMac(e.wlMac, 'wlMac'),
    parseMac(e.ucMac, 'ucMac'),
    Buffer.from([ROLE[e.role], MODE[e.mode], 0, 0]),
  ]);
}

export function ucKey(ucMac: string): Buffer {
  return Buffer.concat([parseMac(ucMac, 'ucMac'), Buffer.from([0, 0])]);
}

export function ucValue(e: UcEntry): Buffer {
  return Buffer.concat([
    u32le(e.vinIfindex),
    u32le(e.vexIfindex),
    parseMac(e.wlMac, 'wlMac'),
    Buffer.from([MODE[e.mode], 0]),
  ]);
}

/** bpftool's `hex` byte list: ["hex", "0a", "00", ...]. */
export function hexArgs(b: Buffer): string[] {
  return ['hex', ...[...b].map((x) => x.toString(16).padStart(2, '0'))];
}

export function mapPath(pinDir: string, map: string): string {
  return `${pinDir}/maps/${map}`;
}

export function progPath(pinDir: string, prog: string): string {
  return `${pinDir}/progs/${prog}`;
}

export function mapUpdateArgv(pinDir: string, map: string, key: Buffer, value: Buffer): string[] {
  return [
    'bpftool',
    'map',
    'update',
    'pinned',
    mapPath(pinDir, map),
    'key',
    ...hexArgs(key),
    'value',
    ...hexArgs(value),
    'any',
  ];
}

export function mapDeleteArgv(pinDir: string, map: string, key: Buffer): string[] {
  return ['bpftool', 'map', 'delete', 'pinned', mapPath(pinDir, map), 'key', ...hexArgs(key)];
}

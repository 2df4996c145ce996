import { runIn } from '../../shared/exec.js';
import type { Command } from './commands.js';

/**
 * Offloads off on the service pair vbr/vth, the only links whose frames the dp reads: with
 * TSO/GSO off on vbr the kernel segments a super-frame steered there (and with tx checksum
 * off finishes its checksum) before the dp sees it, so the dp reads ordinary frames. The
 * workload's eth0, vex, vin and the host side keep theirs: the kernel fast path forwards
 * super-frames whole (docs/FASTPATH.md, "Offloads"). The dp still completes partial
 * checksums (native/l4_csum.c) and drops super-frames it is handed, counted as oversize.
 * Names are ethtool's short -K keyword and its -k label.
 */
export const OFFLOADS = [
  { key: 'tx', label: 'tx-checksumming' },
  { key: 'tso', label: 'tcp-segmentation-offload' },
  { key: 'gso', label: 'generic-segmentation-offload' },
  { key: 'gro', label: 'generic-receive-offload' },
] as const;

export type OffloadKey = (typeof OFFLOADS)[number]['key'];

export interface OffloadState {
  /** Features that exist and are on and not [fixed]: the ones we may switch. */
  on: OffloadKey[];
  /** Features that exist (fixed or not). */
  present: OffloadKey[];
}

/** Parses `ethtool -k IF` output. */
export function parseOffloads(text: string): OffloadState {
  const on: OffloadKey[] = [];
  const present: OffloadKey[] = [];
  for (const f of OFFLOADS) {
    const m = new RegExp(`^${f.label}: (on|off)( \\[fixed\\])?`, 'm').exec(text);
    if (!m) continue;
    present.push(f.key);
    if (m[1] === 'on' && !m[2]) on.push(f.key);
  }
  return { on, present };
}

export async function readOffloads(ns: string, ifname: string): Promise<OffloadState> {
  const { stdout } = await runIn(ns, ['ethtool', '-k', ifname]);
  return parseOffloads(stdout);
}

/** `ethtool -K` turning `keys` to `value` (nothing when keys is empty). */
export function offloadCommand(
  ns: string,
  ifname: string,
  keys: readonly OffloadKey[],
  value: 'on' | 'off' = 'off',
): Command[] {
  if (!keys.length) return [];
  return [{ ns, argv: ['ethtool', '-K', ifname, ...keys.flatMap((k) => [k, value])] }];
}

/** For a veth we are about to create: every feature is present and switchable. */
export const offloadOffNew = (ns: string, ifname: string): Command[] =>
  offloadCommand(
    ns,
    ifname,
    OFFLOADS.map((f) => f.key),
  );

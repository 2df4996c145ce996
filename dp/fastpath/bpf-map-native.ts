import { NativeAddon } from '../../shared/native/addon.js';

/** What native/bpf_map.c exports. */
export interface BpfMapModule {
  /** fd of a pinned map (path) or of a map by id (number). Throws with the errno text. */
  open(pathOrId: string | number): number;
  info(fd: number): { type: number; keySize: number; valueSize: number; maxEntries: number; id: number; name: string };
  /**
   * n updates (cmd 0), deletes (1), lookups (2: values written back) or atomic
   * lookup-and-deletes (3), keys and values packed back to back; errs[i] = 0 or the
   * errno. Returns how many succeeded.
   */
  op(
    fd: number,
    cmd: number,
    keys: Uint8Array,
    keySize: number,
    values: Uint8Array,
    valueSize: number,
    n: number,
    flags: number,
    errs: Int32Array,
  ): number;
  /** Up to max keys of the map into out; returns how many. */
  keys(fd: number, out: Uint8Array, keySize: number, max: number): number;
  /** CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns(). */
  monoNs(): number;
  close(fd: number): void;
}

export const MapOp = { Update: 0, Delete: 1, Lookup: 2, LookupAndDelete: 3 } as const;
/** BPF_ANY: create or replace. */
export const BPF_ANY = 0;
export const ENOENT = 2;
export const ENOMEM = 12;
export const E2BIG = 7;

const addon = new NativeAddon<BpfMapModule>('bpf_map');

/** The addon, or null when it is not built (then the dp runs without the fast path). */
export function bpfMapAddon(): BpfMapModule | null {
  return addon.get();
}

export function bpfMapLoadError(): string {
  return addon.error;
}

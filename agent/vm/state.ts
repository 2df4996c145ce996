import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TollgateError } from '../../shared/errors.js';

/**
 * What `connectVm` (and later `setVmRateLimit`) added for one VM, so that disconnect removes
 * exactly that, and so an unknown VM is a clear error rather than a guess from tc output.
 * One JSON file per VM under the state dir (tmpfs /run: it must not outlive a reboot, the
 * devices do not either).
 */
export interface VmRecord {
  version: 1;
  /** Namespace path (`/run/netns/NAME` or `/proc/PID/ns/net`). */
  netns: string;
  veth: string;
  vethIfindex: number;
  tap: string;
  tapIfindex: number;
  queues: number;
  mtu: number;
  owner?: number;
  /** u32 filter priorities used on the two ingress qdiscs. */
  filterPref: number;
  rateLimit: {
    /** Toward the VM: HTB root on the tap. */
    rx?: { bps: number };
    /** From the VM: HTB on an IFB fed from the veth's egress. */
    tx?: { bps: number; ifb: string };
  };
  /** Set while the VM is under steering (inspect.ts): the Kata redirects are then replaced. */
  inspection?: { mode: 'tap' | 'inline'; workload: string; agentNs: string; vbr: string; vth: string };
}

export const DEFAULT_STATE_DIR = '/run/tollgate/vm';

export function stateDir(dir?: string): string {
  return dir ?? process.env.TOLLGATE_VM_STATE_DIR ?? DEFAULT_STATE_DIR;
}

/** File-name key of a namespace: its name for /run/netns/X, `pid<N>` for /proc/N/ns/net. */
export function netnsKey(nsPath: string): string {
  const named = /^\/run\/netns\/([^/]+)$/.exec(nsPath);
  if (named?.[1]) return named[1];
  const proc = /^\/proc\/(\d+)\/ns\/net$/.exec(nsPath);
  if (proc?.[1]) return `pid${proc[1]}`;
  return nsPath.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+/, '');
}

function recordPath(dir: string, nsPath: string, tap: string): string {
  return join(dir, `${netnsKey(nsPath)}--${tap}.json`);
}

export async function saveVm(rec: VmRecord, dir?: string): Promise<void> {
  const d = stateDir(dir);
  await mkdir(d, { recursive: true });
  const file = recordPath(d, rec.netns, rec.tap);
  // write-then-rename: a crash never leaves a half-written record behind
  await writeFile(`${file}.tmp`, `${JSON.stringify(rec, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** The record, or undefined when this VM was never connected (or is already disconnected). */
export async function findVm(nsPath: string, tap: string, dir?: string): Promise<VmRecord | undefined> {
  let text: string;
  try {
    text = await readFile(recordPath(stateDir(dir), nsPath, tap), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TollgateError('EVMSTATE', `cannot read VM state: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as VmRecord;
  } catch {
    throw new TollgateError('EVMSTATE', `VM state file for ${tap} in ${nsPath} is corrupt`);
  }
}

export async function loadVm(nsPath: string, tap: string, dir?: string): Promise<VmRecord> {
  const rec = await findVm(nsPath, tap, dir);
  if (!rec) throw new TollgateError('EVMUNKNOWN', `no connected VM with tap ${tap} in namespace ${nsPath}`, 'tap');
  return rec;
}

export async function removeVm(nsPath: string, tap: string, dir?: string): Promise<void> {
  await rm(recordPath(stateDir(dir), nsPath, tap), { force: true });
}

export async function listVms(dir?: string): Promise<VmRecord[]> {
  const d = stateDir(dir);
  let names: string[];
  try {
    names = await readdir(d);
  } catch {
    return [];
  }
  const out: VmRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    try {
      out.push(JSON.parse(await readFile(join(d, n), 'utf8')) as VmRecord);
    } catch {
      /* a corrupt or vanished file is skipped in a listing; loadVm reports it */
    }
  }
  return out;
}

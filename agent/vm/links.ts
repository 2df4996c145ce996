import { existsSync } from 'node:fs';
import { TollgateError, type ErrorCode } from '../../shared/errors.js';
import { runIn, type ExecResult } from '../../shared/exec.js';

/** Linux IFNAMSIZ is 16 including the NUL. */
export const IFNAME_MAX = 15;

/**
 * Resolves a namespace given as a name (`/run/netns/NAME`) or a path (`/proc/PID/ns/net`)
 * to a path that exists; ENONS naming `field` otherwise.
 */
export function resolveNetns(netns: unknown, field = 'netns'): string {
  if (typeof netns !== 'string' || netns.trim() === '') {
    throw new TollgateError('ENONS', 'a namespace name or path is required', field);
  }
  if (!netns.startsWith('/') && !/^[A-Za-z0-9_.-]+$/.test(netns)) {
    throw new TollgateError('ENONS', `not a namespace name: ${JSON.stringify(netns)}`, field);
  }
  const path = netns.startsWith('/') ? netns : `/run/netns/${netns}`;
  if (!existsSync(path)) throw new TollgateError('ENONS', `namespace ${netns} does not exist (${path})`, field);
  return path;
}

/** Checks an interface name the way the kernel does (length, no '/', ':' or whitespace). */
export function validateIfname(name: unknown, field: string): string {
  if (typeof name !== 'string' || name.length === 0)
    throw new TollgateError('EIFNAME', 'an interface name is required', field);
  if (name.length > IFNAME_MAX)
    throw new TollgateError(
      'EIFNAME',
      `interface name ${JSON.stringify(name)} is longer than ${IFNAME_MAX} characters`,
      field,
    );
  if (name === '.' || name === '..' || /[/:\s]/.test(name))
    throw new TollgateError('EIFNAME', `invalid interface name ${JSON.stringify(name)}`, field);
  return name;
}

export interface LinkInfo {
  name: string;
  ifindex: number;
  mtu: number;
  address: string;
  /** `veth`, `tun`, `ifb`, ... (undefined for plain devices). */
  kind?: string;
  up: boolean;
}

interface IpLinkJson {
  ifname: string;
  ifindex: number;
  mtu: number;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

/** The link `name` inside the namespace, or undefined when there is none. */
export async function findLink(nsPath: string, name: string): Promise<LinkInfo | undefined> {
  const res = await runIn(nsPath, ['ip', '-json', '-details', 'link', 'show', 'dev', name], { allowFail: true });
  if (res.code !== 0) return undefined;
  const [l] = JSON.parse(res.stdout || '[]') as IpLinkJson[];
  if (!l) return undefined;
  return {
    name: l.ifname,
    ifindex: l.ifindex,
    mtu: l.mtu,
    address: l.address ?? '',
    kind: l.linkinfo?.info_kind,
    up: (l.flags ?? []).includes('UP'),
  };
}

export async function linkNames(nsPath: string): Promise<Set<string>> {
  const { stdout } = await runIn(nsPath, ['ip', '-json', 'link', 'show']);
  return new Set((JSON.parse(stdout || '[]') as IpLinkJson[]).map((l) => l.ifname));
}

interface TcQdiscJson {
  kind: string;
  handle: string;
  parent?: string;
  root?: boolean;
}

/** Qdiscs on a device (as `tc -json qdisc show dev X` reports them). */
export async function qdiscs(nsPath: string, dev: string): Promise<TcQdiscJson[]> {
  const res = await runIn(nsPath, ['tc', '-json', 'qdisc', 'show', 'dev', dev], { allowFail: true });
  if (res.code !== 0) return [];
  return JSON.parse(res.stdout.trim() || '[]') as TcQdiscJson[];
}

/** True when the device has an ingress (or clsact) qdisc, i.e. something already hooks its ingress. */
export async function hasIngressHook(nsPath: string, dev: string): Promise<boolean> {
  return (await qdiscs(nsPath, dev)).some((q) => q.kind === 'ingress' || q.kind === 'clsact');
}

/** A root qdisc that someone configured (not the kernel's default noqueue/fq_codel/pfifo_fast/mq). */
export async function hasConfiguredRoot(nsPath: string, dev: string): Promise<boolean> {
  return (await qdiscs(nsPath, dev)).some((q) => q.root === true && q.handle !== '0:');
}

/** Runs a command in the namespace; on failure throws `code` with the tool's stderr. */
export async function mustRun(
  nsPath: string,
  argv: string[],
  code: ErrorCode,
  what: string,
  field?: string,
): Promise<ExecResult> {
  const res = await runIn(nsPath, argv, { allowFail: true });
  if (res.code !== 0) {
    throw new TollgateError(
      code,
      `${what} failed: ${res.stderr.trim() || res.stdout.trim()} (${argv.join(' ')})`,
      field,
    );
  }
  return res;
}

/**
 * Undo steps recorded while building, run in reverse on failure (and by disconnect),
 * each best-effort so one missing object never stops the rest of the cleanup.
 */
export class UndoStack {
  private readonly steps: Array<{ what: string; argv: string[] }> = [];
  constructor(private readonly nsPath: string) {}

  push(what: string, argv: string[]): void {
    this.steps.push({ what, argv });
  }

  /** Runs every step, newest first; returns the ones that failed (for logs). */
  async unwind(): Promise<string[]> {
    const failed: string[] = [];
    while (this.steps.length > 0) {
      const s = this.steps.pop();
      if (!s) break;
      const res = await runIn(this.nsPath, s.argv, { allowFail: true });
      if (res.code !== 0) failed.push(`${s.what}: ${res.stderr.trim()}`);
    }
    return failed;
  }
}

/** The Kata-style redirect: every frame arriving on `from` leaves by `to` (a tc u32 match-all filter at `pref`). */
export function redirectFilter(from: string, to: string, pref: number): string[] {
  const match = ['u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', to];
  return ['tc', 'filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'pref', String(pref), ...match];
}

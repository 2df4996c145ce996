/**
 * Keeps the enrolled containers in line with the runtime: enrols them as they start (or
 * earlier, from the OCI hook), re-enrols them after a restart, removes their ports when
 * they go, resyncs everything after the runtime API comes back, and retries an enrolment
 * that failed. Runtime inspection never runs under the daemon's lock (see onEvent).
 */
import { existsSync } from 'node:fs';
import { TollgateError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Mode } from '../topology/spec.js';
import type { ContainerInfo, ContainerRuntime, RuntimeEvent } from '../runtime/runtime.js';
import { groupOf, isGroupName, selects } from '../runtime/identity.js';
import { writeHookState } from '../runtime/oci-hook.js';
import type { Enroller } from './enrol.js';
import type { Workload, WorkloadRegistry } from './workloads.js';
import type { IpLink } from '../topology/ip-state.js';
import type { Serializer } from './serial.js';
import { netnsInode } from './container-port.js';

/** Containers whose identity is not known when their hook runs are held here, protected, until it is. */
export const UNIDENTIFIED_GROUP = 'unidentified';
/** Containers pulled at once by a resync, and how many are steered as one plan. */
const RESYNC_CONCURRENCY = 6;
const RESYNC_CHUNK = 12;
/** How long a hook waits for the runtime's create event (which carries the labels). */
const IDENTITY_WAIT_MS = 3000;
/** A failed enrolment is tried again after 0.5, 1, 2, 4 and 8 s. */
const RETRY_FIRST_MS = 500;
const RETRY_ATTEMPTS = 5;

export interface ContainerIdentity {
  name: string;
  labels: Record<string, string>;
  image: string;
}

export interface ContainerSyncContext {
  runtime: ContainerRuntime | null;
  selectors: readonly { key: string; value: string }[];
  registry: WorkloadRegistry;
  enroller: Enroller;
  serial: Serializer;
  modeOf(group: string): Mode;
  /** Moves workloads between modes in the lossless order (ModeSwitcher.apply). */
  applyMode(ws: readonly Workload[], from: Mode, to: Mode): Promise<unknown>;
  /** Recomputes the internal nets (a runtime network may have come or gone) and pushes a change. */
  refreshInternalNets(): Promise<void>;
  /** The hook state file (offline decisions of the OCI hook): where, and the modes to write. */
  hookState: { dir: string; enabled: boolean; modes(): Record<string, Mode>; defaultMode: Mode };
  log: Logger;
}

export class ContainerSync {
  /** Identities from create events: a hook can use them before the container is inspectable. */
  private readonly identities = new Map<string, ContainerIdentity>();
  private readonly identityWaiters = new Map<string, (() => void)[]>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly x: ContainerSyncContext) {}

  identity(id: string): ContainerIdentity | undefined {
    return this.identities.get(id);
  }

  private selected(labels: Record<string, string>): boolean {
    return selects(this.x.selectors, labels);
  }

  onEvent(e: RuntimeEvent): void {
    if (e.kind === 'create') {
      this.identities.set(e.id, { name: e.name ?? e.id.slice(0, 12), labels: e.labels ?? {}, image: e.image ?? '' });
      for (const wake of this.identityWaiters.get(e.id) ?? []) wake();
      this.identityWaiters.delete(e.id);
      return;
    }
    if (e.kind === 'start' || e.kind === 'restart' || e.kind === 'connect' || e.kind === 'disconnect')
      this.enrolLater(e.id, e.kind, 0);
    else if (e.kind === 'die' || e.kind === 'destroy') {
      this.cancelRetry(e.id);
      void this.x.serial
        .run(() => this.removeIfGone(e.id, e.kind))
        .catch((err) => this.x.log.warn({ id: e.id.slice(0, 12), err: errorMessage(err) }, 'removal failed'));
      if (e.kind === 'destroy') this.identities.delete(e.id);
    }
  }

  /**
   * Inspects the container, then enrols it under the lock. Inspection stays outside the
   * lock: a runtime holds its container lock while the container starts, and the start
   * waits for our hook, which waits for the lock. A failure is retried with backoff.
   */
  private enrolLater(id: string, reason: string, attempt: number): void {
    const rt = this.x.runtime;
    if (!rt || this.stopped) return;
    void rt
      .inspect(id)
      .then((c) => {
        if (!c?.running || !this.selected(c.labels)) return;
        return this.x.serial.run(async () => {
          // The process may be gone by the time the lock is ours (stopped or restarted meanwhile).
          if (!existsSync(`/proc/${c.pid}/ns/net`)) return;
          await this.enrolOrRegroup(c, reason);
        });
      })
      .catch((err) => {
        this.x.log.warn(
          { id: id.slice(0, 12), event: reason, attempt: attempt + 1, err: errorMessage(err) },
          'enrolment failed',
        );
        this.retryLater(id, attempt + 1);
      });
  }

  private retryLater(id: string, attempt: number): void {
    if (this.stopped || attempt > RETRY_ATTEMPTS) return;
    this.cancelRetry(id);
    const t = setTimeout(
      () => {
        this.retries.delete(id);
        this.enrolLater(id, 'retry', attempt);
      },
      RETRY_FIRST_MS * 2 ** (attempt - 1),
    );
    t.unref();
    this.retries.set(id, t);
  }

  private cancelRetry(id: string): void {
    const t = this.retries.get(id);
    if (t) clearTimeout(t);
    this.retries.delete(id);
  }

  /** Enrols a container, or (already enrolled by its hook) moves it out of the unidentified group. */
  /** `chunk`: a resync's, whose steering and peer pushes come after it, with the links read before it. */
  private async enrolOrRegroup(
    c: ContainerInfo,
    reason: string,
    chunk?: { agentLinks: IpLink[] },
  ): Promise<Workload[]> {
    const deferred = chunk !== undefined;
    const group = groupOf(c);
    const have = this.x.registry.ofContainer(c.id);
    const inode = netnsInode(`/proc/${c.pid}/ns/net`);
    if (have.length && have.every((w) => w.netnsInode === inode)) {
      for (const w of have) w.name = c.name;
      if (have.some((w) => w.group !== group)) await this.regroup(have, group);
      return [];
    }
    const ws = await this.x.enroller.enrolContainer(c, group, reason, {
      deferPeers: deferred,
      deferSteer: deferred,
      ...(chunk ? { agentLinks: chunk.agentLinks } : {}),
    });
    if (!deferred) this.writeHookState();
    return ws;
  }

  /** The container's ports go only when its netns is really gone (a hook may already have re-enrolled it). */
  private async removeIfGone(id: string, why: string): Promise<void> {
    const ws = this.x.registry.ofContainer(id);
    const stale = ws.filter((w) => {
      try {
        return netnsInode(w.netns) !== w.netnsInode;
      } catch {
        return true;
      }
    });
    if (!ws.length || stale.length) await this.x.enroller.removeContainer(id, `container ${why}`);
    this.writeHookState();
  }

  /** Everything the runtime runs now: enrol what is new, remove what is gone (start, and after an outage). */
  async resync(running: ContainerInfo[]): Promise<void> {
    const mine = running.filter((c) => this.selected(c.labels));
    await this.x.serial.run(async () => {
      for (const c of mine) this.identities.set(c.id, { name: c.name, labels: c.labels, image: c.image });
      await this.x.refreshInternalNets();
      const touched = new Set<string>();
      const failed: ContainerInfo[] = [];
      // Containers are independent: pull a few at a time (each waits mostly on ip and
      // ethtool), then steer each chunk as one plan. A pulled port is cut off until then.
      for (let i = 0; i < mine.length; i += RESYNC_CHUNK) {
        const queue = mine.slice(i, i + RESYNC_CHUNK);
        const chunk = { agentLinks: await this.x.enroller.snapshotLinks() };
        const pulled: { c: ContainerInfo; ws: Workload[] }[] = [];
        const worker = async () => {
          for (let c = queue.shift(); c; c = queue.shift()) {
            try {
              const ws = await this.enrolOrRegroup(c, 'resync', chunk);
              if (ws.length) pulled.push({ c, ws });
            } catch (e) {
              this.x.log.warn({ container: c.name, attempt: 1, err: errorMessage(e) }, 'enrolment failed');
              failed.push(c);
            }
          }
        };
        await Promise.all(Array.from({ length: RESYNC_CONCURRENCY }, worker));
        for (const { c, ws } of await this.steerPulled(pulled)) {
          for (const w of ws) for (const g of this.x.enroller.peersOf(w.group)) touched.add(g);
          if (!ws.length) failed.push(c);
        }
      }
      // One policy push for everything the batch touched (not one per container).
      await this.x.enroller.pushGroups(touched);
      const ids = new Set(mine.map((c) => c.id));
      for (const w of this.x.registry.all())
        if (w.source === 'ctr' && w.containerId && !ids.has(w.containerId))
          await this.removeIfGone(w.containerId, 'gone (resync)');
      this.writeHookState();
      for (const c of failed) this.retryLater(c.id, 1);
    });
  }

  /**
   * Steers a resync chunk's new ports as one plan; if that fails, port by port, and a
   * container whose port cannot be steered loses its ports again (retried later).
   */
  private async steerPulled(
    pulled: { c: ContainerInfo; ws: Workload[] }[],
  ): Promise<{ c: ContainerInfo; ws: Workload[] }[]> {
    const { enroller, log } = this.x;
    try {
      await enroller.steering.steerNew(pulled.flatMap((p) => p.ws));
      return pulled;
    } catch (e) {
      log.warn(
        { containers: pulled.length, err: errorMessage(e) },
        'steering a resync chunk failed; steering its ports one by one',
      );
    }
    const out = [];
    for (const p of pulled) {
      try {
        await enroller.steering.steerNew(p.ws);
        out.push(p);
      } catch (e) {
        log.warn(
          { container: p.c.name, err: errorMessage(e) },
          'steering failed; the container is removed and retried',
        );
        await enroller.removeContainer(p.c.id, 'steering failed').catch(() => undefined);
        out.push({ c: p.c, ws: [] });
      }
    }
    return out;
  }

  /** Moves workloads to another group: marker, policy, steering in that group's mode. */
  private async regroup(ws: Workload[], group: string): Promise<void> {
    const from = ws[0]!.group;
    const fromMode = this.x.modeOf(from);
    for (const w of ws) w.group = group;
    const to = this.x.modeOf(group);
    await this.x.applyMode(ws, fromMode, to);
    await this.x.enroller.pushGroups(new Set([...this.x.enroller.peersOf(from), ...this.x.enroller.peersOf(group)]));
    this.x.log.info({ container: ws[0]!.name, from, to: group, mode: to }, 're-grouped');
  }

  /** The OCI hook: enrol before the container's process runs. */
  async hookEnrol(a: {
    id: string;
    pid: number;
    annotations: Record<string, string>;
  }): Promise<{ enrolled: number; group?: string; mode?: Mode; skipped?: string; warning?: string }> {
    const { id, pid, annotations } = a;
    if (!/^[0-9a-f]{12,64}$/.test(id)) throw new TollgateError('EBADARG', `hook: "${id}" is not a container id`, 'id');
    const { registry, selectors } = this.x;
    let ident = this.identities.get(id);
    if (!ident && !registry.ofContainer(id).length) {
      await this.waitForIdentity(id);
      ident = this.identities.get(id);
    }
    const known = registry.ofContainer(id)[0];
    const annotated = annotations['tollgate.group'];
    let group: string;
    if (ident) {
      if (!this.selected(ident.labels)) return { enrolled: 0, skipped: 'not selected' };
      group = groupOf(ident);
    } else if (known) group = known.group;
    else if (annotated && isGroupName(annotated) && !selectors.length) group = annotated;
    else if (selectors.length)
      return { enrolled: 0, skipped: 'identity unknown, and this agent only takes selected containers' };
    else group = UNIDENTIFIED_GROUP;
    const c: ContainerInfo = {
      id,
      name: ident?.name ?? known?.name ?? id.slice(0, 12),
      image: ident?.image ?? '',
      labels: ident?.labels ?? {},
      pid,
      running: true,
      startedAt: '',
      networks: [],
    };
    const mode = this.x.modeOf(group);
    return this.x.serial.run(async () => {
      try {
        const ws = await this.x.enroller.enrolContainer(c, group, 'hook');
        this.writeHookState();
        return { enrolled: ws.length, group, mode };
      } catch (e) {
        // Fail closed for protect: the hook's error fails the container's start.
        if (mode === 'protect')
          throw new TollgateError('EENROL', `cannot enrol ${c.name} (group ${group}, protect): ${errorMessage(e)}`);
        this.x.log.warn(
          { container: c.name, group, err: errorMessage(e) },
          'hook enrolment failed; the start event retries',
        );
        return { enrolled: 0, group, mode, warning: errorMessage(e) };
      }
    });
  }

  private waitForIdentity(id: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, IDENTITY_WAIT_MS);
      const list = this.identityWaiters.get(id) ?? [];
      list.push(() => {
        clearTimeout(t);
        resolve();
      });
      this.identityWaiters.set(id, list);
    });
  }

  /** The OCI hook's offline view: which container is in which group, and the group modes. */
  writeHookState(): void {
    const hs = this.x.hookState;
    if (!hs.enabled) return;
    const containers: Record<string, string> = {};
    for (const w of this.x.registry.all()) if (w.containerId) containers[w.containerId] = w.group;
    try {
      writeHookState(hs.dir, { containers, modes: { ...hs.modes() }, defaultMode: hs.defaultMode });
    } catch (e) {
      this.x.log.warn({ err: errorMessage(e) }, 'cannot write the hook state file');
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.retries.values()) clearTimeout(t);
    this.retries.clear();
  }
}

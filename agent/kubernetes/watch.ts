/**
 * Watches TollgateGroup and TollgateRule objects through @kubernetes/client-node
 * informers (list, then watch from the list's resourceVersion; a 410 Gone re-lists) and
 * applies them to a PolicyTarget, the same one `agent rules --import` uses:
 *  - TollgateGroup add/update → the group's mode (deleting one leaves the mode as it is);
 *  - TollgateRule add → a user rule; update → the old rule replaced; delete → removed.
 * Changes are applied one at a time in arrival order. An object that does not validate is
 * logged with its field, counted and skipped; a target error (unknown group) likewise;
 * neither stops the watch. A watch that fails is started again after a growing pause.
 */
import {
  type KubeConfig,
  makeInformer,
  CustomObjectsApi,
  type Informer,
  type KubernetesObject,
  type KubernetesListObject,
} from '@kubernetes/client-node';
import type { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import { errorMessage } from '../../shared/errors.js';
import { ruleKey } from '../learn/rule.js';
import type { PolicyTarget } from '../export/import.js';
import {
  API_GROUP,
  API_VERSION,
  RESOURCES,
  collectionPath,
  groupResourceSchema,
  ruleResourceSchema,
  type RuleResource,
} from './resources.js';

export interface WatchCounters {
  applied: number;
  rejected: number;
  watchErrors: number;
}

export class PolicyWatch {
  readonly counters: WatchCounters = { applied: 0, rejected: 0, watchErrors: 0 };
  private readonly informers: Informer<KubernetesObject>[] = [];
  private queue: Promise<void> = Promise.resolve();
  /** TollgateRule name → the rule key it put in the store (for updates and deletes). */
  private readonly ruleKeys = new Map<string, string>();
  private stopped = false;
  private readonly retryTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly target: PolicyTarget,
    private readonly log: Logger,
  ) {}

  /** Resolves when every queued change is applied (tests, shutdown). */
  idle(): Promise<void> {
    return this.queue;
  }

  private enqueue(what: string, fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).then(
      () => void this.counters.applied++,
      (e: unknown) => {
        this.counters.rejected++;
        this.log.warn({ err: errorMessage(e), what }, 'kubernetes change not applied');
      },
    );
  }

  private parse<S extends z.ZodType>(schema: S, obj: KubernetesObject, kind: string): z.infer<S> | undefined {
    const r = schema.safeParse(obj);
    if (r.success) return r.data;
    const i = r.error.issues[0]!;
    this.counters.rejected++;
    this.log.warn(
      { kind, name: obj.metadata?.name, field: i.path.join('.'), err: i.message },
      'kubernetes object refused',
    );
    return undefined;
  }

  private informer(plural: string): Informer<KubernetesObject> {
    const api = this.kc.makeApiClient(CustomObjectsApi);
    const list = () =>
      api.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural }) as Promise<
        KubernetesListObject<KubernetesObject>
      >;
    const inf = makeInformer(this.kc, collectionPath(plural), list);
    let pause = 500;
    inf.on('connect', () => (pause = 500));
    inf.on('error', (err: unknown) => {
      this.counters.watchErrors++;
      if (this.stopped) return;
      this.log.warn({ err: errorMessage(err), plural, retryMs: pause }, 'kubernetes watch failed; starting it again');
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        if (!this.stopped) void inf.start().catch(() => undefined);
      }, pause);
      this.retryTimers.add(t);
      pause = Math.min(pause * 2, 30_000);
    });
    this.informers.push(inf);
    return inf;
  }

  async start(): Promise<void> {
    const groups = this.informer(RESOURCES.group.plural);
    const onGroup = (obj: KubernetesObject) => {
      const g = this.parse(groupResourceSchema, obj, RESOURCES.group.kind);
      if (g)
        this.enqueue(
          `${RESOURCES.group.kind} ${g.metadata.name}`,
          async () => void (await this.target.setMode(g.metadata.name, g.spec.mode)),
        );
    };
    groups.on('add', onGroup);
    groups.on('update', onGroup);

    const rules = this.informer(RESOURCES.rule.plural);
    const onRule = (obj: KubernetesObject) => {
      const r = this.parse(ruleResourceSchema, obj, RESOURCES.rule.kind);
      if (r) this.enqueue(`${RESOURCES.rule.kind} ${r.metadata.name}`, () => this.putRule(r));
    };
    rules.on('add', onRule);
    rules.on('update', onRule);
    rules.on('delete', (obj: KubernetesObject) => {
      const name = obj.metadata?.name ?? '';
      this.enqueue(`${RESOURCES.rule.kind} ${name} deleted`, () => this.dropRule(name));
    });
    await Promise.all(this.informers.map((i) => i.start()));
  }

  private async putRule(r: RuleResource): Promise<void> {
    const key = ruleKey(r.spec);
    const old = this.ruleKeys.get(r.metadata.name);
    await this.target.changeRules((store) => {
      if (old && old !== key) {
        const prev = store.get(old);
        if (prev) store.removeById(prev.id);
      }
      store.add({ ...r.spec, origin: 'user' });
    });
    this.ruleKeys.set(r.metadata.name, key);
  }

  private async dropRule(name: string): Promise<void> {
    const key = this.ruleKeys.get(name);
    this.ruleKeys.delete(name);
    if (!key) return;
    await this.target.changeRules((store) => {
      const r = store.get(key);
      if (r) store.removeById(r.id);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.retryTimers) clearTimeout(t);
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.queue;
  }
}

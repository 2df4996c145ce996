/**
 * The rules file: YAML a person can read and edit, written atomically (temp file in the
 * same directory + fsync + rename) so a crash never leaves half a file, with a last good
 * copy beside it. An empty, cut-short or invalid file never loses rules or modes and never
 * fails open: the last good copy is used and the bad file kept aside; without a copy,
 * loading throws ERULESFILE naming the problem and the daemon refuses to run.
 */
import { promises as fs } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { TollgateError } from '../../shared/errors.js';
import { type AllowRule, LEARNED_ID_BASE, mergeSides, ruleKey } from './rule.js';

const ruleSchema = z.object({
  id: z.number().int().positive(),
  from: z.string().min(1),
  to: z.string().min(1),
  side: z.enum(['both', 'egress', 'ingress']).default('both'),
  port: z.number().int().min(0).max(65535),
  proto: z.enum(['tcp', 'udp', 'icmp', 'icmpv6', 'any']),
  origin: z.enum(['learned', 'user']).default('user'),
  createdAt: z.string().default(() => new Date().toISOString()),
  hits: z.number().int().min(0).default(0),
  lastUsed: z.string().nullable().default(null),
});

async function exists(path: string): Promise<boolean> {
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

/** temp file in the same directory + fsync + rename: a crash never leaves half a file. */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
}

export const fileSchema = z.object({
  version: z.literal(1),
  /** Group name → mode; persisted so modes survive agent restarts. */
  modes: z.record(z.string(), z.enum(['learn', 'monitor', 'protect'])).default({}),
  rules: z.array(ruleSchema).default([]),
});

export type RulesFile = z.infer<typeof fileSchema>;

/** The last line `save()` writes: a file without it was cut short (truncated). */
const END_MARKER = '# end of tollgate rules';

export class RuleStore {
  private rules = new Map<string, AllowRule>();
  modes: Record<string, 'learn' | 'monitor' | 'protect'> = {};
  /**
   * Set when load() had to fall back to the last good copy: why the file itself was not
   * used, and where it was moved. The daemon logs it loudly.
   */
  recovered: { reason: string; movedTo: string | null } | null = null;

  constructor(readonly path: string) {}

  /** The copy of the last state written or loaded successfully, beside the file. */
  get lastGoodPath(): string {
    return `${this.path}.last-good`;
  }

  /**
   * Loads the file. A missing file with no last good copy is an empty store (a first
   * start). A file that is missing, empty, cut short or invalid while a last good copy
   * exists never drops rules or modes: the copy is loaded, the bad file is moved aside
   * (never overwritten) and `recovered` says why. Without a copy, a bad file throws
   * ERULESFILE naming the problem, and the agent refuses to start.
   */
  async load(): Promise<void> {
    const main = await this.parseFile(this.path);
    if (main.ok && (main.complete || !(await exists(this.lastGoodPath)))) {
      this.apply(main.doc);
      return;
    }
    const problem = main.ok ? 'it is cut short (no end marker)' : main.problem;
    if (main.missing && !(await exists(this.lastGoodPath))) return;
    const good = await this.parseFile(this.lastGoodPath);
    if (!good.ok) {
      throw new TollgateError(
        'ERULESFILE',
        `rules file ${this.path}: ${problem}, and no usable last good copy (${this.lastGoodPath}: ${good.problem}); fix or move it (it is never overwritten)`,
      );
    }
    let movedTo: string | null = null;
    if (!main.missing) {
      movedTo = `${this.path}.bad-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await fs.rename(this.path, movedTo);
    }
    this.apply(good.doc);
    this.recovered = { reason: problem, movedTo };
    await this.save(); // the file again, from the last good state
  }

  private apply(doc: RulesFile): void {
    this.rules.clear();
    for (const r of doc.rules) this.rules.set(ruleKey(r), r);
    this.modes = doc.modes;
  }

  private async parseFile(
    path: string,
  ): Promise<
    { ok: true; doc: RulesFile; complete: boolean; missing?: false } | { ok: false; problem: string; missing: boolean }
  > {
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return { ok: false, problem: 'it does not exist', missing: true };
      return { ok: false, problem: `cannot be read: ${(e as Error).message}`, missing: false };
    }
    if (!text.trim()) return { ok: false, problem: 'it is empty', missing: false };
    let doc: unknown;
    try {
      doc = YAML.parse(text);
    } catch (e) {
      return { ok: false, problem: `it is not valid YAML: ${(e as Error).message}`, missing: false };
    }
    const parsed = fileSchema.safeParse(doc ?? { version: 1 });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { ok: false, problem: `${issue.path.join('.') || '(root)'}: ${issue.message}`, missing: false };
    }
    const seen = new Set<number>();
    for (const r of parsed.data.rules) {
      if (seen.has(r.id)) return { ok: false, problem: `duplicate rule id ${r.id}`, missing: false };
      seen.add(r.id);
    }
    return { ok: true, doc: parsed.data, complete: text.trimEnd().endsWith(END_MARKER) };
  }

  /** Writes the whole store atomically, then the same text as the last good copy. */
  async save(): Promise<void> {
    const doc: RulesFile = { version: 1, modes: this.modes, rules: this.list() };
    const text =
      '# Tollgate rules: learned and user allow rules between groups, and group modes.\n' +
      '# Edit freely (the agent re-reads it on start); keep ids unique and the last line.\n' +
      YAML.stringify(doc) +
      END_MARKER +
      '\n';
    await fs.mkdir(dirname(this.path), { recursive: true });
    await writeAtomic(this.path, text);
    await writeAtomic(this.lastGoodPath, text);
  }

  list(): AllowRule[] {
    return [...this.rules.values()].sort((a, b) => a.id - b.id);
  }

  get(key: string): AllowRule | undefined {
    return this.rules.get(key);
  }

  /**
   * Adds a rule unless an identical one exists; returns it, whether it is new, and whether
   * an existing rule now also applies at another side (widened).
   */
  add(r: Omit<AllowRule, 'id' | 'hits' | 'lastUsed' | 'createdAt'>): {
    rule: AllowRule;
    added: boolean;
    widened?: boolean;
  } {
    const k = ruleKey(r);
    const have = this.rules.get(k);
    if (have) {
      const side = mergeSides(have.side, r.side);
      if (side === have.side) return { rule: have, added: false };
      have.side = side;
      return { rule: have, added: false, widened: true };
    }
    const id = Math.max(LEARNED_ID_BASE - 1, ...[...this.rules.values()].map((x) => x.id)) + 1;
    const rule: AllowRule = { ...r, id, hits: 0, lastUsed: null, createdAt: new Date().toISOString() };
    this.rules.set(k, rule);
    return { rule, added: true };
  }

  /** Inserts or replaces (same from/to/port/proto) a rule exactly as given: id, hits and dates kept. */
  put(r: AllowRule): void {
    this.rules.set(ruleKey(r), { ...r });
  }

  removeById(id: number): AllowRule | undefined {
    for (const [k, r] of this.rules) {
      if (r.id === id) {
        this.rules.delete(k);
        return r;
      }
    }
    return undefined;
  }

  byId(id: number): AllowRule | undefined {
    for (const r of this.rules.values()) if (r.id === id) return r;
    return undefined;
  }
}

/**
 * The rules file: YAML a person can read and edit, written atomically (temp file in the
 * same directory + fsync + rename) so a crash never leaves half a file. A file that does
 * not parse or validate is never overwritten: loading it throws ERULESFILE naming the
 * problem, and the daemon refuses to run until a person fixes or moves it.
 */
import { promises as fs } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { TollgateError } from '../../shared/errors.js';
import { type AllowRule, LEARNED_ID_BASE, ruleKey } from './rule.js';

const ruleSchema = z.object({
  id: z.number().int().positive(),
  from: z.string().min(1),
  to: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  proto: z.enum(['tcp', 'udp', 'icmp', 'icmpv6', 'any']),
  origin: z.enum(['learned', 'user']).default('user'),
  createdAt: z.string().default(() => new Date().toISOString()),
  hits: z.number().int().min(0).default(0),
  lastUsed: z.string().nullable().default(null),
});

export const fileSchema = z.object({
  version: z.literal(1),
  /** Workload name → mode; persisted so modes survive agent restarts. */
  modes: z.record(z.string(), z.enum(['learn', 'monitor', 'protect'])).default({}),
  rules: z.array(ruleSchema).default([]),
});

export type RulesFile = z.infer<typeof fileSchema>;

export class RuleStore {
  private rules = new Map<string, AllowRule>();
  modes: Record<string, 'learn' | 'monitor' | 'protect'> = {};

  constructor(readonly path: string) {}

  /** Loads the file; a missing file is an empty store. Throws ERULESFILE on anything unreadable. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new TollgateError('ERULESFILE', `cannot read rules file ${this.path}: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = YAML.parse(text);
    } catch (e) {
      throw new TollgateError('ERULESFILE', `rules file ${this.path} is not valid YAML: ${(e as Error).message}; fix or move it (it is never overwritten)`);
    }
    const parsed = fileSchema.safeParse(doc ?? { version: 1 });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TollgateError('ERULESFILE', `rules file ${this.path}: ${issue.path.join('.') || '(root)'}: ${issue.message}; fix or move it (it is never overwritten)`);
    }
    const seen = new Set<number>();
    this.rules.clear();
    for (const r of parsed.data.rules) {
      if (seen.has(r.id)) throw new TollgateError('ERULESFILE', `rules file ${this.path}: duplicate rule id ${r.id}`);
      seen.add(r.id);
      this.rules.set(ruleKey(r), r);
    }
    this.modes = parsed.data.modes;
  }

  /** Writes the whole store atomically. */
  async save(): Promise<void> {
    const doc: RulesFile = { version: 1, modes: this.modes, rules: this.list() };
    const text =
      '# Tollgate rules: learned and user allow rules, and workload modes.\n' +
      '# Edit freely (the agent re-reads it on start); keep ids unique.\n' +
      YAML.stringify(doc);
    await fs.mkdir(dirname(this.path), { recursive: true });
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, this.path);
  }

  list(): AllowRule[] {
    return [...this.rules.values()].sort((a, b) => a.id - b.id);
  }

  get(key: string): AllowRule | undefined {
    return this.rules.get(key);
  }

  /** Adds a rule unless an identical one exists; returns it and whether it is new. */
  add(r: Omit<AllowRule, 'id' | 'hits' | 'lastUsed' | 'createdAt'>): { rule: AllowRule; added: boolean } {
    const k = ruleKey(r);
    const have = this.rules.get(k);
    if (have) return { rule: have, added: false };
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

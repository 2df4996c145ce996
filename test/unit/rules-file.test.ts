/**
 * The rules file never loses rules or modes and never fails open: an empty, cut-short or
 * invalid file falls back to the last good copy (the bad file kept aside, never
 * overwritten); without a copy the load refuses with an error naming the problem.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuleStore } from '../../agent/learn/rule-store.js';

async function saved(): Promise<{ dir: string; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tg-rulesfile-'));
  const path = join(dir, 'rules.yaml');
  const s = new RuleStore(path);
  s.add({ from: 'client', to: 'web', side: 'both', port: 8080, proto: 'tcp', origin: 'learned' });
  s.add({ from: 'web', to: 'db', side: 'egress', port: 5432, proto: 'tcp', origin: 'learned' });
  s.modes = { web: 'protect', db: 'protect' };
  await s.save();
  return { dir, path };
}

async function expectIntact(path: string, reason: RegExp): Promise<void> {
  const s = new RuleStore(path);
  await s.load();
  expect(s.list().map((r) => `${r.from}>${r.to}:${r.port}@${r.side}`)).toEqual([
    'client>web:8080@both',
    'web>db:5432@egress',
  ]);
  expect(s.modes).toEqual({ web: 'protect', db: 'protect' });
  expect(s.recovered?.reason).toMatch(reason);
  expect(s.recovered?.movedTo && existsSync(s.recovered.movedTo)).toBe(true);
  // The file is whole again, from the last good state.
  const again = new RuleStore(path);
  await again.load();
  expect(again.recovered).toBeNull();
  expect(again.list()).toHaveLength(2);
}

describe('the rules file: finding 12 (an empty file failed open) and 13 (an invalid one was an outage)', () => {
  it('an empty file: the last good rules and modes are enforced, nothing drops to learn', async () => {
    const { dir, path } = await saved();
    truncateSync(path, 0);
    await expectIntact(path, /empty/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a file cut short in the middle of a rule', async () => {
    const { dir, path } = await saved();
    const text = readFileSync(path, 'utf8');
    writeFileSync(
      path,
      text.slice(0, text.indexOf('web>db') > 0 ? text.indexOf('web>db') : Math.floor(text.length * 0.6)),
    );
    await expectIntact(path, /cut short|YAML|rules/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an invalid file: kept aside untouched, the last good copy used', async () => {
    const { dir, path } = await saved();
    writeFileSync(path, '{{{ not yaml');
    await expectIntact(path, /not valid YAML/);
    const bad = readdirSync(dir).find((f) => f.startsWith('rules.yaml.bad-'))!;
    expect(readFileSync(join(dir, bad), 'utf8')).toBe('{{{ not yaml');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a deleted file with a last good copy left: the copy is used', async () => {
    const { dir, path } = await saved();
    rmSync(path);
    const s = new RuleStore(path);
    await s.load();
    expect(s.list()).toHaveLength(2);
    expect(s.recovered?.reason).toMatch(/does not exist/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('no last good copy: a bad file refuses with the problem named, and is never overwritten', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-rulesfile-'));
    const path = join(dir, 'rules.yaml');
    writeFileSync(path, '');
    await expect(new RuleStore(path).load()).rejects.toThrow(/rules\.yaml: it is empty, and no usable last good copy/);
    expect(readFileSync(path, 'utf8')).toBe('');
    rmSync(dir, { recursive: true, force: true });
  });

  it('a first start (no file, no copy) is an empty store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-rulesfile-'));
    const s = new RuleStore(join(dir, 'rules.yaml'));
    await s.load();
    expect(s.list()).toEqual([]);
    expect(s.recovered).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });
});

import { describe, expect, it } from 'vitest';
import { API_COMMANDS, isApiCommand, parseApiArgs } from '../../agent/daemon/api-commands.js';
import { isTollgateError } from '../../shared/errors.js';

function refusal(fn: () => unknown): { code: string; field: string | undefined; message: string } {
  try {
    fn();
  } catch (e) {
    if (isTollgateError(e)) return { code: e.code, field: e.field, message: e.message };
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('daemon API command table', () => {
  it('knows its commands and nothing else', () => {
    expect(isApiCommand('mode')).toBe(true);
    expect(isApiCommand('toString')).toBe(false);
    expect(isApiCommand('nope')).toBe(false);
    for (const c of Object.keys(API_COMMANDS))
      expect(API_COMMANDS[c as keyof typeof API_COMMANDS].doc.length).toBeGreaterThan(10);
  });

  it('refuses a wrong field type with EBADARG naming the field', () => {
    const r = refusal(() => parseApiArgs('rule-delete', { id: '7' }));
    expect(r.code).toBe('EBADARG');
    expect(r.field).toBe('id');
    expect(r.message).toMatch(/rule-delete: id/);
    expect(refusal(() => parseApiArgs('hook-enrol', { id: 'abc', pid: -1 })).field).toBe('pid');
    expect(refusal(() => parseApiArgs('mode', { group: 'web' })).field).toBe('mode');
    expect(refusal(() => parseApiArgs('mode', { group: 7, mode: 'learn' })).field).toBe('group');
  });

  it('fills defaults and passes good arguments through', () => {
    expect(parseApiArgs('hook-enrol', { id: 'abcdef012345', pid: 42 })).toEqual({
      id: 'abcdef012345',
      pid: 42,
      annotations: {},
    });
    expect(parseApiArgs('rules-import', { text: 'x' })).toEqual({ text: 'x', source: 'import' });
    expect(parseApiArgs('status', undefined)).toEqual({});
  });
});

describe('docs/ARCHITECTURE.md lists the daemon API', () => {
  it('has a row for every command, and none for a command that does not exist', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/ARCHITECTURE.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf("## The daemon's local API"));
    const listed = [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.keys(API_COMMANDS).sort());
  });
});

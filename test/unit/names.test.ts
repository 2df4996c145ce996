/**
 * Names are defined once and the docs say what the tables say: error codes (shared/errors.ts)
 * against docs/ERRORS.md and docs/CONTROL.md.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, TollgateError } from '../../shared/errors.js';

const doc = (name: string): string => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** The rows of a markdown table whose first cell is a backquoted name. */
function rows(text: string): string[] {
  return text.split('\n').filter((l) => /^\| `[^`]+` \|/.test(l));
}

describe('error codes', () => {
  it('docs/ERRORS.md lists every code with its meaning, and nothing else', () => {
    const want = Object.entries(ERRORS).map(([code, e]) => `| \`${code}\` | ${e.ctrl ? 'yes' : ''} | ${e.meaning} |`);
    expect(rows(doc('ERRORS.md')).sort()).toEqual(want.sort());
  });

  it('docs/CONTROL.md lists exactly the codes a dp_error reply can carry', () => {
    const want = Object.entries(ERRORS).filter(([, e]) => e.ctrl).map(([code, e]) => `| \`${code}\` | ${e.meaning} |`);
    const control = doc('CONTROL.md');
    const table = control.slice(control.indexOf('| code | meaning |'), control.indexOf('Every rejection is logged'));
    expect(rows(table).sort()).toEqual(want.sort());
  });

  it('a TollgateError carries a code of the table', () => {
    const e = new TollgateError('EBADFIELD', 'bad', 'x');
    expect(Object.hasOwn(ERRORS, e.code)).toBe(true);
    // @ts-expect-error a code that is not in the table does not compile
    expect(new TollgateError('ENOPE', 'x').code).toBe('ENOPE');
  });
});

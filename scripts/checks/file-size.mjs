#!/usr/bin/env node
// Fails when a source file is longer than MAX_LINES: a file that long usually holds more
// than one concept (CONTRIBUTING.md "File size"). Source = what git tracks or would track
// (tracked and untracked, .gitignore respected, so node_modules/, dist/ and build/ never
// count) ending in one of SOURCE_EXT.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX_LINES = 350;
const SOURCE_EXT = /\.(ts|c|h|mjs|js|py|sh)$/;
/** Files exempt for now, each with the reason; an entry under the limit fails the check too. */
const EXEMPT = new Map([]);

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
  encoding: 'utf8',
})
  .split('\0')
  .filter((f) => SOURCE_EXT.test(f));
const over = [];
const stale = [];
for (const f of files) {
  let text;
  try {
    text = readFileSync(f, 'utf8');
  } catch {
    continue; // deleted in the work tree but still in the index
  }
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_LINES && !EXEMPT.has(f)) over.push(`${f}: ${lines} lines`);
  if (lines <= MAX_LINES && EXEMPT.has(f)) stale.push(`${f}: ${lines} lines, no longer needs its exemption`);
}
if (over.length > 0 || stale.length > 0) {
  for (const l of over) console.error(`file-size: ${l} (limit ${MAX_LINES}): split it by concept`);
  for (const l of stale) console.error(`file-size: ${l}: remove it from EXEMPT in scripts/checks/file-size.mjs`);
  process.exit(1);
}
console.log(`file-size: ${files.length} source files, none over ${MAX_LINES} lines`);

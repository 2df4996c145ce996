/** Expands offline inputs: files as given, directories walked recursively for captures, sorted. */
import { readdirSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';

const CAPTURE_EXT = /\.(pcap|pcapng|cap)$/i;

export function listCaptureFiles(inputs: readonly string[]): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  for (const input of inputs) {
    let st: Stats;
    try {
      st = statSync(input);
    } catch {
      missing.push(input);
      continue;
    }
    if (st.isDirectory()) files.push(...walk(input));
    else files.push(input);
  }
  return { files, missing };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile() && CAPTURE_EXT.test(e.name)) out.push(p);
  }
  return out;
}

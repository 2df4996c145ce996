/**
 * `dp -p` (the compiled dp, offline mode) exits non-zero with a message naming the problem
 * when an input cannot be read, and when an input was read only in part unless
 * --partial-ok says that is fine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../../shared/pcap/writer.js';
import { buildCase } from '../../scripts/pcapgen/cases.js';
import { DP_BIN } from '../helpers/dp-client.js';

let dir: string;
let good: string;

function dp(...args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync('node', [DP_BIN, '--log-level', 'silent', '-o', '/dev/null', ...args], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

/** A copy of the good capture with `patch` applied to its bytes. */
function variant(name: string, patch: (b: Buffer) => Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, patch(Buffer.from(readFileSync(good))));
  return p;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tg-dp-exit-'));
  good = join(dir, 'good.pcap');
  const w = new PcapWriter(good);
  for (const f of buildCase('tcp-full')) w.write(f.bytes, 0, f.bytes.length, f.tsMs);
  w.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('finding 17: dp -p exit status', () => {
  it('a readable capture exits 0', () => {
    expect(dp('-p', good).code).toBe(0);
  });

  it('a missing file, /dev/null and an empty directory exit 1 naming the problem', () => {
    const missing = dp('-p', join(dir, 'nope.pcap'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${join(dir, 'nope.pcap')}: cannot be read (input.missing)`);
    const devnull = dp('-p', '/dev/null');
    expect(devnull.code).toBe(1);
    expect(devnull.stderr).toContain('/dev/null: cannot be read (pcap.short_header)');
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const none = dp('-p', empty);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no capture files in the input');
  });

  it('a changed version field is refused, even with --partial-ok', () => {
    const v = variant('version.pcap', (b) => (b.writeUInt16LE(3, 4), b));
    for (const extra of [[], ['--partial-ok']]) {
      const r = dp('-p', v, ...extra);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('cannot be read (pcap.bad_version)');
    }
  });

  it('a damaged last record or an impossible snaplen fails unless --partial-ok; the message says how much was read', () => {
    const cut = variant('cut.pcap', (b) => b.subarray(0, b.length - 5));
    const r = dp('-p', cut);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cut\.pcap: read in part \(pcap\.truncated_record\) after \d+ records/);
    expect(dp('-p', cut, '--partial-ok').code).toBe(0);
    const snap = variant('snap.pcap', (b) => (b.writeUInt32LE(0, 16), b));
    const s = dp('-p', snap);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('snap.pcap: pcap.bad_snaplen');
    expect(dp('-p', snap, '--partial-ok').code).toBe(0);
  });
});

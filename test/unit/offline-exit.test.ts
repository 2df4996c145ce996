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
import { Writable } from 'node:stream';
import { runOffline } from '../../dp/offline/run.js';
import { offlineExitStatus } from '../../dp/offline/exit-status.js';

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

/** What `dp -p FILE [--partial-ok]` decides, in-process: the same run and status function the command uses. */
async function status(input: string, partialOk = false): Promise<{ code: number; text: string }> {
  const summary = await runOffline({ inputs: [input], out: new Writable({ write: (_c, _e, cb) => cb() }) });
  const st = offlineExitStatus(summary, partialOk);
  return { code: st.code, text: st.problems.join('\n') };
}

describe('finding 17: dp -p exit status', () => {
  it('the dp command: 1 naming a missing file; a damaged capture passes only with --partial-ok', async () => {
    const missing = dp('-p', join(dir, 'nope.pcap'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${join(dir, 'nope.pcap')}: cannot be read (input.missing)`);
    const cut = variant('cut.pcap', (b) => b.subarray(0, b.length - 5));
    expect(dp('-p', cut, '--partial-ok').code).toBe(0);
    // Without the flag (same function the command calls): exit 1, saying how much was read.
    const r = await status(cut);
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/cut\.pcap: read in part \(pcap\.truncated_record\) after \d+ records/);
    expect((await status(good)).code).toBe(0);
  });

  it('/dev/null and an empty directory cannot be read', async () => {
    expect(await status('/dev/null')).toEqual({ code: 1, text: '/dev/null: cannot be read (pcap.short_header)' });
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(await status(empty)).toEqual({ code: 1, text: 'no capture files in the input' });
  });

  it('a changed version field is refused, even with --partial-ok', async () => {
    const v = variant('version.pcap', (b) => {
      b.writeUInt16LE(3, 4);
      return b;
    });
    for (const partialOk of [false, true]) {
      const r = await status(v, partialOk);
      expect(r.code).toBe(1);
      expect(r.text).toContain('cannot be read (pcap.bad_version)');
    }
  });

  it('an impossible snaplen is remarked: it fails unless --partial-ok', async () => {
    const snap = variant('snap.pcap', (b) => {
      b.writeUInt32LE(0, 16);
      return b;
    });
    expect(await status(snap)).toEqual({ code: 1, text: `${snap}: pcap.bad_snaplen` });
    expect((await status(snap, true)).code).toBe(0);
  });
});

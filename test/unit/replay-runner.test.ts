/**
 * The replay runner itself: a deliberately wrong expectation fails with a readable diff
 * and keeps its artefacts, --update rewrites exactly the wrong values (comments kept),
 * a bad case file names the field, and the dropped-frames pcap holds exactly the frames
 * a protect case denies.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES_DIR as CASES_DIR_FOR_TEST, SHARED_PCAPS, loadCase } from '../replay-runner/case-file.js';
import { caseDirs } from '../replay-runner/discover.js';
import { runCase } from '../replay-runner/run-case.js';
import { updateCase } from '../replay-runner/update.js';
import { PcapReader, isPcapError } from '../../shared/pcap/reader.js';
import { decodeFrame } from '../../dp/decode/decode.js';
import { loadPolicyFile } from '../../dp/offline/policy-file.js';
import { offlineEngineMode, offlinePolicy } from '../../dp/offline/policy.js';
import { runOffline } from '../../dp/offline/run.js';
import { PacketView } from '../../dp/decode/packet.js';

const tmp = mkdtempSync(join(tmpdir(), 'tg-replay-runner-'));
const kept: string[] = [];
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  for (const d of kept) rmSync(d, { recursive: true, force: true });
});

function writeCase(name: string, yaml: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'case.yaml'), yaml);
  return dir;
}

const BROKEN = `# a protect case with two wrong expectations (the real values are 10 and [[tcp, 80]])
description: "deny-all on the HTTP capture, with wrong counts on purpose"
pcap: tcp-http-get-full-session.pcap
mode: protect
checks:
  - summary: {packets: 12}
  # this comment must survive --update
  - event: policy.deny
    where: {serverPort: 80}
    count: 3
  - event: policy.deny
    distinct: [proto, serverPort]
    values: [[tcp, 22]]
`;

describe('replay runner', () => {
  it('a wrong expectation fails with a readable expected/actual diff and keeps the drop pcap', async () => {
    const c = loadCase(writeCase('broken-count', BROKEN));
    const run = await runCase(c);
    if (run.keptDir) kept.push(run.keptDir);
    expect(run.ok).toBe(false);
    const t = run.failureText;
    expect(t).toContain('replay case broken-count: 2 of 3 checks failed');
    expect(t).toContain('checks[1].count  (event policy.deny where {"serverPort":80}: count)');
    expect(t).toMatch(/checks\[1\]\.count[^\n]*\n {4}expected: 3\n {4}actual: {3}10/);
    expect(t).toContain('checks[2].values');
    expect(t).toContain('- missing: ["tcp",22]');
    expect(t).toContain('+ extra:   ["tcp",80]');
    expect(t).not.toContain('checks[0]');
    // The artefacts stay for a look in Wireshark, and their paths are in the text.
    expect(run.keptDir).not.toBeNull();
    expect(t).toContain(`dropped frames: ${run.dropPcap} (12 frames)`);
    expect(existsSync(run.dropPcap)).toBe(true);
    expect(existsSync(run.eventsPath)).toBe(true);
  });

  it('--update rewrites only the failing values, keeps comments, and the case then passes', async () => {
    const dir = writeCase('update-me', BROKEN);
    const c = loadCase(dir);
    const run = await runCase(c);
    if (run.keptDir) kept.push(run.keptDir);
    const text = updateCase(c, run.results);
    expect(text).toContain('# this comment must survive --update');
    expect(text).toContain('# a protect case with two wrong expectations');
    expect(text).toMatch(/count: 10/);
    expect(text).toContain('values: [[tcp, 80]]');
    expect(text).toContain('summary: {packets: 12}'); // untouched line, untouched layout
    expect(readFileSync(join(dir, 'case.yaml'), 'utf8')).toBe(text);
    const again = await runCase(loadCase(dir));
    expect(again.failureText).toBe('');
    expect(again.ok).toBe(true);
    expect(again.keptDir).toBeNull();
  });

  it('a bad case file is rejected naming the field', () => {
    expect(() => loadCase(writeCase('bad-mode', BROKEN.replace('mode: protect', 'mode: protekt')))).toThrow(
      /case\.yaml: mode: /,
    );
    expect(() =>
      loadCase(writeCase('bad-pcap', BROKEN.replace('tcp-http-get-full-session.pcap', 'nope.pcap'))),
    ).toThrow(/pcap: no such capture .*nope\.pcap/);
    expect(() =>
      loadCase(writeCase('bad-rule', `${BROKEN}policy:\n  rules:\n    - {id: 1, action: allow, colour: red}\n`)),
    ).toThrow(/policy\.rules\[0\]/);
  });

  it('a rule the policy compiler rejects fails the case with the rule path', async () => {
    const c = loadCase(
      writeCase('bad-range', `${BROKEN}policy:\n  rules:\n    - {id: 1, sip: 10.0.0.1, sipr: "::1", action: allow}\n`),
    );
    await expect(runCase(c)).rejects.toThrow(/policy\.rules\[0\]/);
  });

  it('protect: the drop pcap holds exactly the denied frames (all to TCP 22), summary.dropped of them', async () => {
    const c = loadCase(
      writeCase(
        'ssh-denied',
        `description: "only HTTP allowed: the GET sent to the SSH port is denied"
pcap: nsec-pcap-http-to-ssh-port-rst.pcap
mode: protect
policy:
  rules:
    - {id: 9001, proto: tcp, port: 80, action: allow}
checks:
  - event: policy.deny
    where: {serverPort: 22}
    count: 0
`,
      ),
    );
    const run = await runCase(c, { keep: true });
    if (run.keptDir) kept.push(run.keptDir);
    const r = PcapReader.open(run.dropPcap);
    if (isPcapError(r)) throw new Error(r.message);
    const p = new PacketView();
    let n = 0;
    while (r.next()) {
      n++;
      expect(decodeFrame(p, r.buf, r.off, r.capLen, r.wireLen)).toBe(0);
      expect(p.ipProto).toBe(6);
      expect(p.sport === 22 || p.dport === 22).toBe(true);
    }
    expect(n).toBeGreaterThan(0);
    expect(n).toBe(run.summary.dropped);
    // The same frames as the engine's policy drops: nothing malformed was in the capture.
    expect(run.summary.counters.policyDrops).toBe(n);
  });

  it('every shared capture has at least one case, and every case folder a README', () => {
    const captures = readdirSync(SHARED_PCAPS)
      .filter((f) => /\.(pcap|pcapng)$/.test(f))
      .sort();
    expect(captures.length).toBeGreaterThanOrEqual(40);
    const cases = caseDirs().map((d) => loadCase(d));
    const covered = new Set(cases.map((c) => c.spec.pcap).filter((p): p is string => p !== undefined));
    expect(captures.filter((f) => !covered.has(f))).toEqual([]);
    expect(cases.filter((c) => !existsSync(join(c.dir, 'README.md'))).map((c) => c.name)).toEqual([]);
    // Learn, monitor and protect verdicts all appear on real traffic, and at least five live cases exist.
    expect(new Set(cases.filter((c) => c.pcapPath !== null).map((c) => c.mode))).toEqual(
      new Set(['learn', 'monitor', 'protect']),
    );
    expect(cases.filter((c) => c.spec.live).length).toBeGreaterThanOrEqual(5);
  });

  it('a case file doubles as a policy file for dp -p (loadPolicyFile): same verdicts as the case run', async () => {
    const file = join(CASES_DIR_FOR_TEST, 'nmap-scan-protect-allow-dns', 'case.yaml');
    const { mode, config } = loadPolicyFile(file);
    expect(mode).toBe('protect');
    const drops = join(tmp, 'nmap-drops.pcap');
    const s = await runOffline({
      inputs: [join(SHARED_PCAPS, 'nmap-scan-arp-syn-rst.pcap')],
      out: join(tmp, 'nmap.jsonl'),
      dropPcap: drops,
      mode: offlineEngineMode(mode),
      policy: offlinePolicy(mode, config),
    });
    const run = await runCase(loadCase(join(CASES_DIR_FOR_TEST, 'nmap-scan-protect-allow-dns')));
    expect(run.ok).toBe(true);
    expect([s.forwarded, s.dropped]).toEqual([run.summary.forwarded, run.summary.dropped]);
    // The same through runOffline's policyFile (what `dp -p --policy FILE` passes).
    const viaFile = await runOffline({
      inputs: [join(SHARED_PCAPS, 'nmap-scan-arp-syn-rst.pcap')],
      out: join(tmp, 'nmap2.jsonl'),
      policyFile: file,
    });
    expect([viaFile.mode, viaFile.forwarded, viaFile.dropped]).toEqual(['inline', s.forwarded, s.dropped]);
    const bad = join(tmp, 'bad-policy.yaml');
    writeFileSync(bad, 'mode: protect\npolicy:\n  rules:\n    - {id: 1, action: alow}\n');
    expect(() => loadPolicyFile(bad)).toThrow(/bad-policy\.yaml: policy\.rules\.0\.action/);
  });
});

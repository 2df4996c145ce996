/**
 * Live replay through the real inline path (test/replay/README.md): every case under test/replay with
 * a `live:` block (TCP allowed and denied, UDP/DNS, ICMP, IPv6, IPv4 fragments) is
 * rewritten onto a protect-mode lab and injected from both sides in capture order.
 * Allowed frames must arrive byte-identical, denied ones must not, and the dp's reported
 * per-flow decisions must equal the offline engine's on the same frames.
 * `npm run replay -- --live CASE[,CASE]` narrows it (REPLAY_LIVE).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { isRoot } from '../helpers/netns.js';
import { loadCase } from '../replay-runner/case-file.js';
import { caseDirs } from '../replay-runner/discover.js';
import { liveDown, liveUp, runLiveCase, type LiveEnv } from '../replay-runner/live/live-run.js';

const cases = caseDirs(process.env.REPLAY_LIVE)
  .map((d) => loadCase(d))
  .filter((c) => c.spec.live !== undefined);
let env: LiveEnv | undefined;

describe.skipIf(!isRoot || cases.length === 0)('live replay through lab + dp (protect)', () => {
  beforeAll(async () => {
    env = await liveUp();
  }, 120_000);

  afterAll(async () => {
    if (env) await liveDown(env);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const r = await runLiveCase(env!, c);
      const where = `(kept: ${r.workDir}: rewritten.pcap, offline.jsonl, plan.json)`;
      const forwarded = r.verdicts.filter((v) => v === 0).length;
      console.log(
        `${c.name}: ${r.frames.length} frames replayed, ${forwarded} forwarded offline; arrived host←${r.received.host.length} workload←${r.received.workload.length}; flows ${r.liveFlows.join(' | ')}`,
      );
      expect(r.received.workload, `frames arriving at the workload ${where}`).toEqual(r.expected.workload);
      expect(r.received.host, `frames arriving at the host side ${where}`).toEqual(r.expected.host);
      expect(r.missing, where).toEqual([]);
      // Spelled out: no frame the offline run drops shows up on either side.
      const arrived = new Set([...r.received.host, ...r.received.workload]);
      const leaked = r.frames
        .filter((f, i) => r.verdicts[i] !== 0 && arrived.has(f.bytes.toString('hex')))
        .map((f) => f.index);
      expect(leaked, `capture frames that should have been dropped ${where}`).toEqual([]);
      expect(r.liveFlows, `dp flow decisions vs offline ${where}`).toEqual(r.offlineFlows);
      expect(r.offlineFlows.length).toBeGreaterThan(0);
      rmSync(r.workDir, { recursive: true, force: true });
    }, 60_000);
  }
});

/**
 * Fail-safety of the agent and the dp together, on the wire, in a lab of this run's own
 * (198.18.0.0/15 only): no datagram lost across mode switches (numbered UDP streams, so no
 * retransmission can hide a loss), resets seen at both ends of a cut session (captures in
 * the client's and the server's namespaces), and a dp that hangs rather than dies.
 * The agent runs without the kernel fast path, so every frame of a flow crosses the dp.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, testPrefix } from '../helpers/netns.js';
import { AgentProcess, waitFor, writeSpec } from '../helpers/agent-proc.js';
import { TcpSession, startEchoServer, tcpWorks } from '../helpers/tcp-session.js';
import { netnsArgv } from '../../shared/exec.js';
import { downLab } from '../../agent/topology/down.js';
import { parseLabSpec } from '../../agent/topology/spec.js';
import type { AllowRule } from '../../agent/learn/rule.js';
import { readSteeringCounters } from '../../agent/steering/bpf-counters.js';
import { pinDirFor } from '../../agent/steering/index.js';

const UDP_SEQ = fileURLToPath(new URL('../helpers/udp-seq.py', import.meta.url));
const HOST = '198.18.0.1';
const WEB = { name: 'web', ip: '198.18.0.10', mac: '02:74:67:20:00:0a' };

interface SeqReport {
  received: number;
  distinct: number;
  max: number;
  missing: number[];
  rcvbufErrors: number;
}

/** A numbered-UDP receiver (test/helpers/udp-seq.py recv) in a namespace. */
class SeqReceiver {
  private out = '';
  private constructor(private readonly p: ChildProcess) {
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
  }

  static async start(ns: string, port: number): Promise<SeqReceiver> {
    const [cmd, ...args] = netnsArgv(ns, ['python3', UDP_SEQ, 'recv', String(port)]);
    const r = new SeqReceiver(spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
    await waitFor(async () => r.out.includes('ready'), 10_000, 50);
    return r;
  }

  /** Stops reading (after draining its socket) and reports what arrived. */
  async stop(): Promise<SeqReport> {
    this.p.stdin!.end();
    await new Promise((r) => (this.p.exitCode !== null ? r(null) : this.p.once('exit', r)));
    return JSON.parse(this.out.split('\n').find((l) => l.startsWith('{'))!) as SeqReport;
  }
}

/** Sends datagrams 0..n-1 at `pps` from `ns`: `started` once the first is out, `done` when all are. */
function seqSender(
  ns: string,
  host: string,
  port: number,
  n: number,
  pps: number,
): { started: Promise<void>; done: Promise<void> } {
  const [cmd, ...args] = netnsArgv(ns, ['python3', UDP_SEQ, 'send', host, String(port), String(n), String(pps)]);
  const p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise<void>((res) =>
    p.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('started') && res()),
  );
  const done = new Promise<void>((res, rej) =>
    p.once('exit', (c) => (c === 0 ? res() : rej(new Error(`udp-seq send exited ${c}`)))),
  );
  return { started: Promise.race([started, done]), done };
}

function sendSeq(ns: string, host: string, port: number, n: number, pps: number): Promise<void> {
  return seqSender(ns, host, port, n, pps).done;
}

/** tcpdump in a namespace, printing one line per captured packet; ready once it listens. */
class Capture {
  lines: string[] = [];
  private constructor(private readonly p: ChildProcess) {
    let buf = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      this.lines.push(...parts.filter(Boolean));
    });
  }

  static async start(ns: string, filter: string): Promise<Capture> {
    const [cmd, ...args] = netnsArgv(ns, ['tcpdump', '-i', 'any', '-n', '-l', '-U', filter]);
    const p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    await waitFor(async () => err.includes('listening on') || p.exitCode !== null, 10_000, 50);
    if (p.exitCode !== null) throw new Error(`tcpdump: ${err}`);
    return new Capture(p);
  }

  async stop(): Promise<string[]> {
    if (this.p.exitCode === null) {
      const done = new Promise((r) => this.p.once('exit', r));
      this.p.kill('SIGINT');
      await done;
    }
    return this.lines;
  }
}

describe.skipIf(!isRoot)('agent and dp fail-safety on the wire', () => {
  const prefix = testPrefix();
  const { path: specPath, dir } = writeSpec({
    prefix,
    workloads: [{ name: WEB.name, ip: `${WEB.ip}/24`, mac: WEB.mac }],
  });
  let agent: AgentProcess;
  const servers: ChildProcess[] = [];
  const ns = (n: string) => `${prefix}${n}`;
  const rules = async () => (await agent.call('rules')) as AllowRule[];
  const mode = (m: string) => agent.call('mode', { workload: 'web', mode: m });

  beforeAll(async () => {
    agent = new AgentProcess(specPath, join(dir, 'rules.yaml'), prefix, { runArgs: ['--no-fast-path'] });
    await agent.start();
    for (const port of [8080, 9090]) servers.push(await startEchoServer(ns('web'), port));
    // Learn: UDP host → web:5000, UDP web → host:5001 and TCP host → web:8080.
    const [r1, r2] = [await SeqReceiver.start(ns('web'), 5000), await SeqReceiver.start(ns('host'), 5001)];
    await Promise.all([sendSeq(ns('host'), WEB.ip, 5000, 20, 100), sendSeq(ns('web'), HOST, 5001, 20, 100)]);
    await Promise.all([r1.stop(), r2.stop()]);
    expect(await tcpWorks(ns('host'), WEB.ip, 8080)).toBe(true);
    const learned = await waitFor(async () => {
      const rs = await rules();
      return [5000, 5001, 8080].every((port) => rs.some((r) => r.port === port));
    }, 15_000);
    expect(learned).toBe(true);
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await agent?.stop();
    await downLab(parseLabSpec(JSON.parse(readFileSync(specPath, 'utf8'))));
  });

  /** Numbered streams both ways (host → web:5000, web → host:5001) while `during` runs. */
  async function streams(n: number, pps: number, during: () => Promise<void>): Promise<SeqReport[]> {
    const rx = [await SeqReceiver.start(ns('web'), 5000), await SeqReceiver.start(ns('host'), 5001)];
    const tx = [seqSender(ns('host'), WEB.ip, 5000, n, pps), seqSender(ns('web'), HOST, 5001, n, pps)];
    await Promise.all(tx.map((t) => t.started));
    await new Promise((r) => setTimeout(r, 500));
    await during();
    await Promise.all(tx.map((t) => t.done));
    return Promise.all(rx.map((r) => r.stop()));
  }

  it('finding 9: protect → learn with frames queued in the dp loses no datagram (sequence numbers both ways)', async () => {
    await mode('protect');
    const pid = (await agent.status()).dp.pid!;
    const restarts = (await agent.status()).dp.restarts;
    const c0 = await readSteeringCounters(pinDirFor(ns('agent')));
    const reports = await streams(4000, 1000, async () => {
      // The dp holds frames (paused, as in a long GC or compile) when the switch starts:
      // they must still reach the workload, not be dropped on their way back.
      process.kill(pid, 'SIGSTOP');
      expect(
        await waitFor(async () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0] === 'T', 2000, 10),
      ).toBe(true);
      const switched = mode('learn');
      await new Promise((r) => setTimeout(r, 400));
      process.kill(pid, 'SIGCONT');
      await switched;
    });
    const c1 = await readSteeringCounters(pinDirFor(ns('agent')));
    for (const r of reports) {
      expect(r.rcvbufErrors).toBe(0);
      expect(r.missing).toEqual([]);
      expect(r.distinct).toBe(4000);
    }
    // The steering's own count: frames crossed directly while the dp drained, and none the
    // dp sent back was dropped at vbr (what lost them before).
    expect(c1.drain_to_peer).toBeGreaterThan(c0.drain_to_peer);
    expect(c1.from_dp_tap_drop).toBe(c0.from_dp_tap_drop);
    // The same dp, never restarted: the drain, not a replacement, carried the frames.
    expect((await agent.status()).dp).toMatchObject({ pid, restarts });
    expect((await agent.status()).workloads.find((w) => w.name === 'web')).toMatchObject({
      mode: 'learn',
      steeringMode: 'tap',
    });
  });

  it('finding 9: every mode change (learn → protect → monitor → protect → learn) loses no datagram', async () => {
    const reports = await streams(5000, 1000, async () => {
      for (const m of ['protect', 'monitor', 'protect', 'learn']) {
        await mode(m);
        await new Promise((r) => setTimeout(r, 300));
      }
    });
    for (const r of reports) {
      expect(r.rcvbufErrors).toBe(0);
      expect(r.missing).toEqual([]);
      expect(r.distinct).toBe(5000);
    }
  });

  it('finding 11: a session denied while tapped is cut with resets seen at both ends (captures in both namespaces)', async () => {
    await mode('monitor');
    const stream = new TcpSession(ns('host'), WEB.ip, 9090);
    expect(await stream.opened()).toBe(true);
    expect(await stream.check()).toMatchObject({ equal: true, error: null });
    // Resets toward each end only: at the client from web:9090, at the server to port 9090.
    const atClient = await Capture.start(
      ns('host'),
      `tcp[tcpflags] & tcp-rst != 0 and src host ${WEB.ip} and src port 9090`,
    );
    const atServer = await Capture.start(
      ns('web'),
      `tcp[tcpflags] & tcp-rst != 0 and src host ${HOST} and dst port 9090`,
    );
    await mode('protect');
    expect(await stream.errorWithin(5000)).toBe('ECONNRESET');
    await new Promise((r) => setTimeout(r, 500));
    const [c, s] = [await atClient.stop(), await atServer.stop()];
    expect(c.length, c.join('\n')).toBeGreaterThanOrEqual(1);
    expect(s.length, s.join('\n')).toBeGreaterThanOrEqual(1);
    stream.kill();
  });

  it('finding 11: a hung dp (SIGSTOP) is replaced after missed keep-alives; protect fails closed meanwhile', async () => {
    expect((await agent.status()).workloads.find((w) => w.name === 'web')?.mode).toBe('protect');
    const before = (await agent.status()).dp;
    // Denied probes (UDP to web:6000, never learned) for the whole hang and restart.
    const denied = await SeqReceiver.start(ns('web'), 6000);
    const probes = sendSeq(ns('host'), WEB.ip, 6000, 1500, 100);
    process.kill(before.pid!, 'SIGSTOP');
    const restarted = await waitFor(
      async () => {
        const d = (await agent.status()).dp;
        return d.restarts > before.restarts && d.healthy && d.pid !== before.pid ? d : null;
      },
      20_000,
      200,
    );
    expect(restarted, 'the supervisor replaced the hung dp').toBeTruthy();
    // The stopped process was killed, not left behind.
    expect(
      await waitFor(async () => {
        try {
          process.kill(before.pid!, 0);
          return false;
        } catch {
          return true;
        }
      }, 5000),
    ).toBe(true);
    // The replayed dp enforces the same policy: allowed flows pass, denied ones do not.
    expect(await waitFor(() => tcpWorks(ns('host'), WEB.ip, 8080), 10_000)).toBe(true);
    await probes;
    const r = await denied.stop();
    expect(r.received).toBe(0);
    expect(agent.log).toContain('dp missed a keep-alive');
  });
});

/**
 * A lab for the kernel fast path, built with the agent's own topology and BPF steering
 * code (no daemon), and a real dp started by the test inside the enforcer namespace with
 * `nsenter --net` (which keeps /sys/fs/bpf visible, so the dp opens the pinned tg_flows
 * by path). The test owns the dp's event stream (its own ZeroMQ PULL) and control socket,
 * so it sees the dp's connection reports and counters directly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DpClient } from '../../shared/ctrl/client.js';
import type { WireRule } from '../../shared/ctrl/schemas.js';
import { EventConsumer } from '../../agent/learn/event-consumer.js';
import type { AllowRule } from '../../agent/learn/rule.js';
import { desiredDpMessages } from '../../agent/daemon/dp-state.js';
import { policyMessages, type WorkloadView } from '../../agent/policy/compile.js';
import { MAP_FLOWS, mapPath } from '../../agent/steering/bpf-maps.js';
import { downLab } from '../../agent/topology/down.js';
import { pinDirFor } from '../../agent/topology/names.js';
import { applyLab } from '../../agent/topology/reconcile.js';
import { LAB_RANGE, labNamespaces, parseLabSpec, type LabSpec } from '../../agent/topology/spec.js';
import { labStatus } from '../../agent/topology/status.js';
import { openSteering } from '../../agent/topology/steering-bridge.js';
import { run, runIn } from '../../shared/exec.js';
import type { ConnectionRecord, CountersRecord, EventRecord } from '../../shared/events/schema.js';
import type { SteeringBackend } from '../../agent/steering/backend.js';

const DP_BIN = fileURLToPath(new URL('../../bin/dp.js', import.meta.url));

export const HOST_IP = '198.18.0.1';
export const WEB_IP = '198.18.0.10';
/** RFC 5180's IPv6 benchmarking prefix, the IPv6 counterpart of 198.18.0.0/15. */
export const HOST_IP6 = '2001:2::1';
export const WEB_IP6 = '2001:2::10';

export class FastPathLab {
  readonly spec: LabSpec;
  readonly ns: { host: string; agent: string; web: string };
  readonly pinDir: string;
  readonly mapPath: string;
  readonly dir = mkdtempSync(join(tmpdir(), 'tg-fp-'));
  backend: SteeringBackend | null = null;
  dp: ChildProcess | undefined;
  dpLog = '';
  client: DpClient | undefined;
  records: EventRecord[] = [];
  private consumer: EventConsumer | undefined;
  readonly ctrlPath: string;
  readonly events: string;
  views: WorkloadView[] = [];
  ucmacs = new Map<string, string>();
  rules: AllowRule[] = [];

  constructor(
    readonly prefix: string,
    readonly webMac = '02:74:67:12:00:0a',
  ) {
    this.spec = parseLabSpec({
      prefix,
      hostSide: { name: 'host', address: `${HOST_IP}/24` },
      agentNs: 'agent',
      steering: 'bpf',
      workloads: [{ name: 'web', ip: `${WEB_IP}/24`, mac: webMac, mode: 'protect' }],
    });
    const n = labNamespaces(this.spec);
    this.ns = { host: n.host, agent: n.agent, web: n.workload('web') };
    this.pinDir = pinDirFor(n.agent);
    this.mapPath = mapPath(this.pinDir, MAP_FLOWS);
    this.ctrlPath = join(this.dir, 'dp.sock');
    this.events = `ipc://${join(this.dir, 'events')}`;
  }

  async up(): Promise<void> {
    this.backend = await openSteering('bpf', this.pinDir);
    await applyLab(this.spec, this.backend);
    const st = await labStatus(this.spec);
    for (const w of st.workloads) if (w.ucMac) this.ucmacs.set(w.name, w.ucMac);
    this.views = this.spec.workloads.map((w) => ({
      name: w.name,
      group: w.name,
      ip: w.address,
      mac: w.mac,
      mode: w.mode,
    }));
    // IPv6 on both ends (no DAD, so they are usable at once) with static neighbours: in
    // protect mode the dp's policy would otherwise have to allow ICMPv6 neighbour discovery.
    const hostDev = await this.devWith(this.ns.host, HOST_IP);
    await runIn(this.ns.host, ['ip', '-6', 'addr', 'add', `${HOST_IP6}/64`, 'dev', hostDev, 'nodad']);
    await runIn(this.ns.web, ['ip', '-6', 'addr', 'add', `${WEB_IP6}/64`, 'dev', 'eth0', 'nodad']);
    const hostMac = (
      JSON.parse((await runIn(this.ns.host, ['ip', '-j', 'link', 'show', 'dev', hostDev])).stdout) as {
        address: string;
      }[]
    )[0]!.address;
    await runIn(this.ns.host, [
      'ip',
      '-6',
      'neigh',
      'replace',
      WEB_IP6,
      'lladdr',
      this.webMac,
      'dev',
      hostDev,
      'nud',
      'permanent',
    ]);
    await runIn(this.ns.web, [
      'ip',
      '-6',
      'neigh',
      'replace',
      HOST_IP6,
      'lladdr',
      hostMac,
      'dev',
      'eth0',
      'nud',
      'permanent',
    ]);
    this.consumer = new EventConsumer(this.events, (r) => this.records.push(r));
    await this.consumer.start();
  }

  private async devWith(ns: string, ip: string): Promise<string> {
    const links = JSON.parse((await runIn(ns, ['ip', '-j', 'addr'])).stdout) as {
      ifname: string;
      addr_info: { local: string }[];
    }[];
    const l = links.find((x) => x.addr_info.some((a) => a.local === ip));
    if (!l) throw new Error(`no device with ${ip} in ${ns}`);
    return l.ifname;
  }

  /** Starts the dp (fast path on unless args say otherwise) and pushes endpoints and policy. */
  async startDp(args: string[] = ['--fast-path-map', this.mapPath]): Promise<void> {
    const argv = [
      'nsenter',
      `--net=/run/netns/${this.ns.agent}`,
      '--',
      'node',
      DP_BIN,
      '--ctrl',
      this.ctrlPath,
      '--events',
      this.events,
      '--report-interval',
      '0.5',
      ...args,
    ];
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.dp = p;
    p.stderr!.on('data', (d: Buffer) => (this.dpLog += d.toString()));
    this.client?.close();
    this.client = new DpClient(this.ctrlPath, 'fptest');
    this.client.open();
    const deadline = Date.now() + 15_000;
    while (!(await this.client.ping(500))) {
      if (p.exitCode !== null || Date.now() > deadline)
        throw new Error(`dp did not start:\n${this.dpLog.slice(-3000)}`);
    }
    for (const m of desiredDpMessages({ internalNets: [LAB_RANGE], workloads: this.views, ucmacs: this.ucmacs }))
      await this.client.command(m);
    await this.pushPolicy();
  }

  async pushPolicy(rules = this.rules): Promise<void> {
    this.rules = rules;
    for (const m of policyMessages(this.views[0]!, this.views, rules)) await this.client!.command(m);
  }

  /** ctrl_cfg_policy for web with hand-written wire rules (IPv6 peers, which lab rules do not name). */
  async pushWireRules(rules: WireRule[]): Promise<void> {
    await this.client!.command({ ctrl_cfg_policy: { cmd: 1, flag: 3, defact: 7, dir: 3, mac: [this.webMac], rules } });
  }

  async killDp(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.dp;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await done;
  }

  async counters(): Promise<Record<string, number>> {
    const r = await this.client!.command({ ctrl_counter_device: {} });
    const d = (
      r.find((x) => x.dp_counter_device) as {
        dp_counter_device: { pipeline: Record<string, number>; fastPath?: Record<string, number> };
      }
    ).dp_counter_device;
    return { ...d.pipeline, ...(d.fastPath ?? {}) };
  }

  /** Entries in tg_flows, read by bpftool (the kernel's view, not the dp's). */
  async mapEntries(): Promise<{ key: number[]; value: number[] }[]> {
    const r = await run(['bpftool', '-j', 'map', 'dump', 'pinned', this.mapPath]);
    const rows = JSON.parse(r.stdout) as { key: string[]; value: string[] }[];
    return rows.map((e) => ({ key: e.key.map((h) => parseInt(h, 16)), value: e.value.map((h) => parseInt(h, 16)) }));
  }

  connections(): ConnectionRecord[] {
    return this.records.filter((r): r is ConnectionRecord => r.type === 'connection');
  }

  lastCounters(): CountersRecord | undefined {
    return this.records.filter((r): r is CountersRecord => r.type === 'counters').at(-1);
  }

  async down(): Promise<void> {
    await this.killDp('SIGTERM').catch(() => undefined);
    this.client?.close();
    this.consumer?.close();
    await downLab(this.spec);
  }
}

export const allowTcp = (id: number, port: number): AllowRule => ({
  id,
  from: `${HOST_IP}/32`,
  to: 'web',
  side: 'both',
  port,
  proto: 'tcp',
  origin: 'user',
  createdAt: new Date(0).toISOString(),
  hits: 0,
  lastUsed: null,
});
export const allowUdp = (id: number, port: number): AllowRule => ({ ...allowTcp(id, port), proto: 'udp' });

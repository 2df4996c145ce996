import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { run, runIn } from '../../shared/exec.js';

/**
 * The VM tests' world, all inside namespaces with this run's prefix:
 *   cni:   bridge br0 198.18.4.1/24 (the peer), port vmp
 *   vm:    eth0 (veth peer of vmp) with 198.18.4.10/24, as a CNI leaves it; the tap goes here
 *   guest: gst0, a tap made by vmm.py, with eth0's MAC and 198.18.4.10/24: the guest kernel
 */
export const PEER_IP = '198.18.4.1';
export const GUEST_IP = '198.18.4.10';
const HERE = dirname(fileURLToPath(import.meta.url));
export const VMM_PY = join(HERE, 'vmm.py');
export const PROBE_PY = join(HERE, 'vm-probe.py');

export interface VmLab {
  cni: string;
  vm: string;
  guest: string;
  /** VM state dir private to this lab. */
  stateDir: string;
  /** eth0's MAC in the vm namespace. */
  mac: string;
  children: ChildProcess[];
}

export const nsPath = (ns: string): string => `/run/netns/${ns}`;

export async function buildVmLab(prefix: string): Promise<VmLab> {
  const lab: VmLab = {
    cni: `${prefix}cni`,
    vm: `${prefix}vm`,
    guest: `${prefix}guest`,
    stateDir: mkdtempSync(join(tmpdir(), 'tg-vmstate-')),
    mac: '',
    children: [],
  };
  for (const ns of [lab.cni, lab.vm, lab.guest]) {
    await run(['ip', 'netns', 'add', ns]);
    await runIn(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  const c = lab.cni;
  await runIn(c, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await runIn(c, ['ip', 'addr', 'add', `${PEER_IP}/24`, 'dev', 'br0']);
  await runIn(c, ['ip', 'link', 'set', 'br0', 'up']);
  await run(['ip', '-n', c, 'link', 'add', 'vmp', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lab.vm]);
  await runIn(c, ['ip', 'link', 'set', 'vmp', 'master', 'br0', 'up']);
  await runIn(lab.vm, ['ip', 'addr', 'add', `${GUEST_IP}/24`, 'dev', 'eth0']);
  await runIn(lab.vm, ['ip', 'link', 'set', 'eth0', 'up']);
  const { stdout } = await runIn(lab.vm, ['ip', '-json', 'link', 'show', 'dev', 'eth0']);
  lab.mac = (JSON.parse(stdout) as Array<{ address: string }>)[0]?.address ?? '';
  return lab;
}

/** Starts a child in a namespace; it is killed by destroyVmLab. */
export function spawnIn(lab: VmLab, ns: string, argv: string[]): ChildProcess {
  const child = spawn('nsenter', [`--net=${nsPath(ns)}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  lab.children.push(child);
  return child;
}

/** Resolves with the first stdout line matching `re` (rejects if the child exits first). */
export function waitForLine(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      if (re.test(line)) {
        rl.removeAllListeners('line');
        resolve(line);
      }
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before ${re}: ${err.trim()}`)));
  });
}

/** Collects all stdout of a child until it exits. */
export function collectStdout(child: ChildProcess): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: out }));
  });
}

/** Runs vmm.py on `tap` and configures the guest NIC like a guest OS would (MAC, MTU, IP). */
export async function startVmm(lab: VmLab, tap: string, mtu: number, multiQueue = false): Promise<ChildProcess> {
  const argv = ['python3', VMM_PY, '--tap', tap, '--guest-netns', nsPath(lab.guest)];
  if (multiQueue) argv.push('--multi-queue');
  const vmm = spawnIn(lab, lab.vm, argv);
  await waitForLine(vmm, /^ready /);
  const g = lab.guest;
  await runIn(g, ['ip', 'link', 'set', 'dev', 'gst0', 'address', lab.mac, 'mtu', String(mtu)]);
  await runIn(g, ['ip', 'addr', 'add', `${GUEST_IP}/24`, 'dev', 'gst0']);
  await runIn(g, ['ip', 'link', 'set', 'dev', 'gst0', 'up']);
  return vmm;
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await done;
}

export async function destroyVmLab(lab: VmLab | undefined): Promise<void> {
  if (!lab) return;
  for (const c of lab.children) await stopChild(c).catch(() => {});
  for (const ns of [lab.guest, lab.vm, lab.cni]) {
    await run(['ip', 'netns', 'del', ns], { allowFail: true });
  }
  rmSync(lab.stateDir, { recursive: true, force: true });
}

/** ICMP echo from `ns` to `dst`; returns replies received. */
export async function ping(ns: string, dst: string, count = 3): Promise<number> {
  const res = await runIn(ns, ['python3', PROBE_PY, 'ping', dst, '--count', String(count)], { allowFail: true });
  return (JSON.parse(res.stdout.trim() || '{"received":0}') as { received: number }).received;
}

export interface Transfer {
  sent: { bytes: number; sha256: string };
  received: { bytes: number; sha256: string };
}

/** A TCP transfer of `bytes` from `fromNs` to a sink in `toNs` listening on `toIp:port`. */
export async function tcpTransfer(
  lab: VmLab,
  fromNs: string,
  toNs: string,
  toIp: string,
  port: number,
  bytes: number,
): Promise<Transfer> {
  const sink = spawnIn(lab, toNs, ['python3', PROBE_PY, 'tcp-sink', '--port', String(port)]);
  const sinkOut = collectStdout(sink);
  await waitForLine(sink, /^listening/);
  const src = await runIn(
    fromNs,
    ['python3', PROBE_PY, 'tcp-source', '--host', toIp, '--port', String(port), '--bytes', String(bytes)],
    { timeoutMs: 30_000 },
  );
  const { stdout } = await sinkOut;
  const lines = stdout.trim().split('\n');
  return {
    sent: JSON.parse(src.stdout.trim()) as Transfer['sent'],
    received: JSON.parse(lines[lines.length - 1] ?? '{}') as Transfer['received'],
  };
}

/** iperf3 TCP from `clientNs` to a one-shot server in `serverNs`; returns received bits/s. */
export async function iperf(
  lab: VmLab,
  clientNs: string,
  serverNs: string,
  serverIp: string,
  port: number,
  seconds = 3,
): Promise<number> {
  const server = spawnIn(lab, serverNs, ['iperf3', '-s', '-1', '--forceflush', '-p', String(port)]);
  await waitForLine(server, /Server listening/);
  const res = await runIn(clientNs, ['iperf3', '-c', serverIp, '-p', String(port), '-t', String(seconds), '-J'], {
    timeoutMs: (seconds + 20) * 1000,
  });
  await stopChild(server);
  const j = JSON.parse(res.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second;
}

export function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 40_000);
}

import { run, runIn } from '../../shared/exec.js';
import { ucmacForIfindex } from '../../shared/mac.js';
import type { ServicePair, SteeredPort, SteeringMode } from '../../agent/steering/backend.js';
import { HELPERS_DIR, startIn, type NsProcess } from './reflector.js';

/**
 * The smallest lab the steering tests need, built directly (agent/topology/ is
 * not a dependency of these tests):
 *   host ns:     br0 198.18.0.1/24 ── hveth
 *   agent ns:    vex (peer of hveth), vin (peer of the workload's eth0), vbr ↔ vth
 *   workload ns: eth0 198.18.0.10/24, MAC 02:00:00:00:00:10
 * Every link is created inside a namespace; offloads are off everywhere (a userspace
 * forwarder on vth breaks TCP otherwise).
 */
export const HOST_IP = '198.18.0.1';
export const WL_IP = '198.18.0.10';
export const WL_MAC = '02:00:00:00:00:10';

export interface SteeringLab {
  host: string;
  agent: string;
  wl: string;
  pinDir: string;
  pair: ServicePair;
  port: (mode: SteeringMode) => SteeredPort;
  destroy: () => Promise<void>;
}

async function ifindexOf(ns: string, dev: string): Promise<number> {
  const { stdout } = await runIn(ns, ['ip', '-json', 'link', 'show', 'dev', dev]);
  const [l] = JSON.parse(stdout) as Array<{ ifindex: number }>;
  if (!l) throw new Error(`no link ${dev} in ${ns}`);
  return l.ifindex;
}

async function offloadsOff(ns: string, dev: string): Promise<void> {
  await runIn(ns, ['ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { allowFail: true });
}

export async function buildSteeringLab(prefix: string): Promise<SteeringLab> {
  const host = `${prefix}host`;
  const agent = `${prefix}agent`;
  const wl = `${prefix}wl`;
  const made: string[] = [];
  const destroy = async () => {
    for (const ns of made) await run(['ip', 'netns', 'del', ns], { allowFail: true });
  };
  try {
    for (const ns of [host, agent, wl]) {
      await run(['ip', 'netns', 'add', ns]);
      made.push(ns);
    }
    // The enforcer namespace has no addresses; without IPv6 it emits nothing on vth itself.
    await runIn(agent, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    const ip = (ns: string, ...a: string[]) => run(['ip', '-n', ns, ...a]);
    await ip(agent, 'link', 'add', 'vex', 'type', 'veth', 'peer', 'name', 'hveth', 'netns', host);
    await ip(agent, 'link', 'add', 'vin', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', wl);
    await ip(agent, 'link', 'add', 'vbr', 'type', 'veth', 'peer', 'name', 'vth');
    await ip(host, 'link', 'add', 'br0', 'type', 'bridge');
    await ip(host, 'link', 'set', 'hveth', 'master', 'br0');
    await ip(host, 'addr', 'add', `${HOST_IP}/24`, 'dev', 'br0');
    await ip(wl, 'link', 'set', 'eth0', 'address', WL_MAC);
    await ip(wl, 'addr', 'add', `${WL_IP}/24`, 'dev', 'eth0');
    // Link-local IPv6 usable at once (DAD would only delay the IPv6 steering checks).
    await runIn(host, ['sysctl', '-qw', 'net.ipv6.conf.br0.accept_dad=0', 'net.ipv6.conf.hveth.accept_dad=0']);
    await runIn(wl, ['sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
    for (const [ns, devs] of [
      [host, ['hveth', 'br0']],
      [agent, ['vex', 'vin', 'vbr', 'vth']],
      [wl, ['eth0']],
    ] as const) {
      for (const d of devs) {
        await offloadsOff(ns, d);
        await ip(ns, 'link', 'set', d, 'up');
      }
      await ip(ns, 'link', 'set', 'lo', 'up');
    }
    const vexIfindex = await ifindexOf(agent, 'vex');
    const vinIfindex = await ifindexOf(agent, 'vin');
    const pair: ServicePair = { agentNs: agent, vbr: 'vbr', vth: 'vth', vbrIfindex: await ifindexOf(agent, 'vbr') };
    const pinDir = `/sys/fs/bpf/tollgate-${agent}`;
    return {
      host,
      agent,
      wl,
      pinDir,
      pair,
      port: (mode) => ({
        workload: 'wl',
        agentNs: agent,
        vex: 'vex',
        vin: 'vin',
        vexIfindex,
        vinIfindex,
        wlMac: WL_MAC,
        ucMac: ucmacForIfindex(vexIfindex),
        mode,
      }),
      destroy: async () => {
        await destroy();
        await run(['rm', '-rf', pinDir], { allowFail: true });
      },
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** ICMP echo from `ns` (test/helpers/ping.py: iputils-ping is not installed here);
 *  true when at least one reply came back. extra: ['-6'] for IPv6. */
export async function ping(ns: string, target: string, count = 3, extra: string[] = []): Promise<boolean> {
  const r = await runIn(ns, ['python3', `${HELPERS_DIR}ping.py`, ...extra, target, String(count)], { allowFail: true });
  return r.code === 0;
}

/** A tcpdump on `dev` in `ns` printing link-level headers; stop() returns its lines. */
export async function startCapture(
  ns: string,
  dev: string,
  filter: string[] = [],
): Promise<{ proc: NsProcess; stop: () => Promise<string[]> }> {
  const p: NsProcess = await startIn(ns, ['tcpdump', '-i', dev, '-e', '-nn', '-l', '-U', ...filter], 'listening on');
  return {
    proc: p,
    stop: async () => {
      // Let tcpdump flush what it already received before it is told to stop.
      await new Promise((r) => setTimeout(r, 300));
      await p.stop();
      return p.stdout().split('\n').filter(Boolean);
    },
  };
}

/** The link-local IPv6 address of `dev` in `ns` (no configured IPv6 anywhere in the lab). */
export async function linkLocal(ns: string, dev: string): Promise<string> {
  const { stdout } = await runIn(ns, ['ip', '-json', '-6', 'addr', 'show', 'dev', dev, 'scope', 'link']);
  const [l] = JSON.parse(stdout) as Array<{ addr_info: Array<{ local: string }> }>;
  const a = l?.addr_info[0]?.local;
  if (!a) throw new Error(`no link-local address on ${dev} in ${ns}`);
  return a;
}

/**
 * An 802.1Q (VLAN 100) frame from `src` to `dst`, hex: IPv4 (a minimal UDP datagram
 * 198.18.1.1 → 198.18.1.10) or an ARP request. This kernel has no 8021q module, so
 * tagged traffic is injected rather than routed.
 */
export function taggedFrameHex(dst: string, src: string, kind: 'ipv4' | 'arp'): string {
  const mac = (m: string) => m.replace(/:/g, '');
  const tag = '8100' + '0064';
  if (kind === 'arp') {
    const arp = `0001080006040001${mac(src)}c6120101000000000000c612010a`;
    return `${mac(dst) + mac(src) + tag}0806${arp}${'00'.repeat(18)}`;
  }
  const ip = '4500' + '001c' + '0000' + '0000' + '4011' + '0000' + 'c6120101' + 'c612010a';
  const udp = '9c40' + '9c40' + '0008' + '0000';
  return `${mac(dst) + mac(src) + tag}0800${ip}${udp}${'00'.repeat(18)}`;
}

/** Sends raw frames (hex) out of `dev` in `ns`. */
export async function sendFrames(ns: string, dev: string, frames: string[]): Promise<void> {
  await runIn(ns, ['python3', `${HELPERS_DIR}send-frame.py`, dev, ...frames]);
}

import { ip, type Command } from './commands.js';
import type { IpLink } from './ip-state.js';
import { SERVICE_MTU, SERVICE_MTU_HEADROOM, VBR, VBR_IFINDEX, VTH, VTH_IFINDEX } from './names.js';
import { offloadOffNew } from './offload.js';

/**
 * The enforcer namespace and its shared vbr↔vth service pair. IPv6 is disabled there
 * so the IP-less namespace never emits router solicitations or DAD probes through
 * vex/vin into the workload's network (tc ingress still sees every IPv6 frame).
 */
export function serviceMtu(workloadMtus: readonly number[]): number {
  return Math.max(SERVICE_MTU, ...workloadMtus.map((m) => m + SERVICE_MTU_HEADROOM));
}

export function planCreateNamespace(ns: string, disableIpv6: boolean): Command[] {
  const cmds: Command[] = [ip(undefined, 'netns', 'add', ns), ip(ns, 'link', 'set', 'lo', 'up')];
  if (disableIpv6) {
    cmds.push(
      { ns, argv: ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1'] },
      { ns, argv: ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1'] },
    );
  }
  return cmds;
}

/**
 * The service pair as it should be; `links` is the enforcer namespace's current
 * links (empty when it does not exist yet). A pair with the wrong shape is rebuilt.
 */
export function planServicePair(agentNs: string, links: readonly IpLink[], mtu: number): Command[] {
  const vbr = links.find((l) => l.ifname === VBR);
  const vth = links.find((l) => l.ifname === VTH);
  const healthy =
    vbr &&
    vth &&
    vbr.link === VTH &&
    vbr.mtu === mtu &&
    vth.mtu === mtu &&
    vbr.flags.includes('UP') &&
    vth.flags.includes('UP');
  if (healthy) return [];
  const cmds: Command[] = [];
  if (vbr) cmds.push({ ...ip(agentNs, 'link', 'del', VBR), bestEffort: true });
  if (vth && vth.link !== VBR) cmds.push({ ...ip(agentNs, 'link', 'del', VTH), bestEffort: true });
  cmds.push(
    {
      ...ip(
        agentNs,
        'link',
        'add',
        VBR,
        'index',
        String(VBR_IFINDEX),
        'mtu',
        String(mtu),
        'type',
        'veth',
        'peer',
        'name',
        VTH,
        'index',
        String(VTH_IFINDEX),
        'mtu',
        String(mtu),
      ),
      note: 'service pair vbr<->vth (dp owns vth)',
    },
    ip(agentNs, 'link', 'set', VBR, 'up'),
    ip(agentNs, 'link', 'set', VTH, 'up'),
    ...offloadOffNew(agentNs, VBR),
    ...offloadOffNew(agentNs, VTH),
  );
  return cmds;
}

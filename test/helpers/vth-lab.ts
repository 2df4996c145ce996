import { execFileSync } from 'node:child_process';

const sh = (...argv: string[]): string => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });

/**
 * The dp's own-lab fixture: one namespace holding the service pair vbr↔vth, offloads off,
 * IPv6 off (the links' own router solicitations / MLD reports would show up on vbr), and
 * both links really up before returning: until linkwatch activates the qdisc (noop →
 * noqueue), frames sent on vbr vanish.
 */
export async function vthPairUp(ns: string, mtu = 2048): Promise<void> {
  sh('ip', 'netns', 'add', ns);
  sh(
    'nsenter',
    `--net=/run/netns/${ns}`,
    '--',
    'sysctl',
    '-qw',
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
  );
  sh('ip', '-n', ns, 'link', 'add', 'vbr', 'type', 'veth', 'peer', 'name', 'vth');
  for (const l of ['vbr', 'vth']) {
    sh('ip', '-n', ns, 'link', 'set', l, 'mtu', String(mtu), 'up');
    sh(
      'nsenter',
      `--net=/run/netns/${ns}`,
      '--',
      'ethtool',
      '-K',
      l,
      'tx',
      'off',
      'tso',
      'off',
      'gso',
      'off',
      'gro',
      'off',
    );
  }
  for (let i = 0; i < 100; i++) {
    const l = sh('ip', '-n', ns, 'link', 'show', 'vbr') + sh('ip', '-n', ns, 'link', 'show', 'vth');
    if (!l.includes('qdisc noop') && !l.includes('state DOWN') && !l.includes('LOWERLAYERDOWN')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function netnsDel(ns: string): void {
  try {
    sh('ip', 'netns', 'del', ns);
  } catch {
    /* already gone */
  }
}

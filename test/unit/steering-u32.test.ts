import { describe, expect, it } from 'vitest';
import type { ServicePair, SteeredPort } from '../../agent/steering/backend.js';
import {
  attachPortLines,
  catchAllRule,
  serviceLines,
  unicastRule,
  vbrPref,
  vbrRules,
} from '../../agent/steering/u32-rules.js';
import { checkPort } from '../../agent/steering/validate.js';
import { expectationsOf } from '../../agent/steering/apply.js';
import { isTollgateError } from '../../shared/errors.js';

// vex ifindex 0x1234 → ucmac 4e:65:75:56:12:34; the workload MAC 02:42:ac:11:00:02.
const pair: ServicePair = { agentNs: 'enf', vbr: 'vbr-neuv', vth: 'vth-neuv', vbrIfindex: 10000000 };
const port: SteeredPort = {
  workload: 'web',
  agentNs: 'enf',
  vex: 'vex3039-eth0',
  vin: 'vin3039-eth0',
  vexIfindex: 0x1234,
  vinIfindex: 0x1235,
  wlMac: '02:42:ac:11:00:02',
  ucMac: '4e:65:75:56:12:34',
  mode: 'inline',
};

// NeuVector's FwdPortPair rules for this port, written out from NeuVector's agent/pipe/tc.go.
const NV_INLINE = [
  'qdisc add dev vin3039-eth0 ingress',
  'qdisc add dev vex3039-eth0 ingress',
  'filter add dev vex3039-eth0 parent ffff: pref 10001 protocol ip u32 match u8 0 1 at -14 match u16 0x0242 0xffff at -14 match u32 0xac110002 0xffffffff at -12 action pedit munge offset -14 u16 set 0x4e65 munge offset -12 u32 set 0x75561234 pipe action mirred egress mirror dev vbr-neuv',
  'filter add dev vex3039-eth0 parent ffff: pref 10002 protocol all u32 match u8 0 0 action mirred egress mirror dev vin3039-eth0',
  'filter add dev vin3039-eth0 parent ffff: pref 10001 protocol ip u32 match u8 0 1 at -14 match u32 0x0242ac11 0xffffffff at -8 match u16 0x0002 0xffff at -4 action pedit munge offset -8 u32 set 0x4e657556 munge offset -4 u16 set 0x1234 pipe action mirred egress mirror dev vbr-neuv',
  'filter add dev vin3039-eth0 parent ffff: pref 10002 protocol all u32 match u8 0 0 action mirred egress mirror dev vex3039-eth0',
  'filter add dev vbr-neuv parent ffff: pref 4660 protocol all u32 match u16 0x4e65 0xffff at -14 match u32 0x75561234 0xffffffff at -12 action pedit munge offset -14 u16 set 0x0242 munge offset -12 u32 set 0xac110002 pipe action mirred egress mirror dev vin3039-eth0',
  'filter add dev vbr-neuv parent ffff: pref 4661 protocol all u32 match u32 0x4e657556 0xffffffff at -8 match u16 0x1234 0xffff at -4 action pedit munge offset -8 u32 set 0x0242ac11 munge offset -4 u16 set 0x0002 pipe action mirred egress mirror dev vex3039-eth0',
];

// TapPortPair: the unchanged frame first to the peer, then rewrite + mirror to vbr; vbr drops.
const NV_TAP_VEX_IP =
  'filter add dev vex3039-eth0 parent ffff: pref 10001 protocol ip u32 match u8 0 1 at -14 match u16 0x0242 0xffff at -14 match u32 0xac110002 0xffffffff at -12 action mirred egress mirror dev vin3039-eth0 pipe action pedit munge offset -14 u16 set 0x4e65 munge offset -12 u32 set 0x75561234 pipe action mirred egress mirror dev vbr-neuv';
const NV_TAP_VIN_IP =
  'filter add dev vin3039-eth0 parent ffff: pref 10001 protocol ip u32 match u8 0 1 at -14 match u32 0x0242ac11 0xffffffff at -8 match u16 0x0002 0xffff at -4 action mirred egress mirror dev vex3039-eth0 pipe action pedit munge offset -8 u32 set 0x4e657556 munge offset -4 u16 set 0x1234 pipe action mirred egress mirror dev vbr-neuv';
const NV_TAP_VBR = [
  'filter add dev vbr-neuv parent ffff: pref 4660 protocol all u32 match u16 0x4e65 0xffff at -14 match u32 0x75561234 0xffffffff at -12 action drop',
  'filter add dev vbr-neuv parent ffff: pref 4661 protocol all u32 match u32 0x4e657556 0xffffffff at -8 match u16 0x1234 0xffff at -4 action drop',
];

// Our additions to NeuVector's set: IPv6 and 802.1Q-tagged unicast rules.
const withoutIpv6 = (lines: string[]) =>
  lines.filter((l) => !l.includes('protocol ipv6') && !l.includes('protocol 802.1Q'));

describe('u32 rule generator (NeuVector tc.go rule set)', () => {
  it('inline: NeuVector FwdPortPair lines exactly, plus our IPv6 rules', () => {
    const lines = attachPortLines(port, pair, 'inline');
    expect(withoutIpv6(lines)).toEqual(NV_INLINE);
  });

  it('tap: NeuVector TapPortPair lines', () => {
    const lines = withoutIpv6(attachPortLines(port, pair, 'tap'));
    expect(lines).toContain(NV_TAP_VEX_IP);
    expect(lines).toContain(NV_TAP_VIN_IP);
    expect(lines.slice(-2)).toEqual(NV_TAP_VBR);
    expect(lines).toContain(catchAllRule('add', 'vex', port));
  });

  it('IPv6 unicast is steered with the same L2 match at pref 10000 (NeuVector bypasses it)', () => {
    for (const mode of ['inline', 'tap'] as const) {
      const lines = attachPortLines(port, pair, mode);
      const v6 = lines.filter((l) => l.includes('protocol ipv6'));
      expect(v6).toHaveLength(2);
      for (const l of v6) {
        expect(l).toContain('pref 10000 ');
        const v4 = l.replace('pref 10000 protocol ipv6', 'pref 10001 protocol ip');
        expect(lines).toContain(v4);
      }
    }
  });

  it('802.1Q-tagged IPv4/IPv6: the same L2 match under protocol 802.1Q plus the inner ethertype at -2', () => {
    // A stock kernel classifies a tagged frame by the tag's protocol (the tag is in the
    // skb metadata at tc ingress), so `protocol ip` never sees it: the live u32 suite's
    // tagged-IP case failed in the kernel lane until these rules existed.
    for (const mode of ['inline', 'tap'] as const) {
      const lines = attachPortLines(port, pair, mode);
      const tagged = lines.filter((l) => l.includes('protocol 802.1Q'));
      expect(tagged).toHaveLength(4);
      for (const [pref, inner, plain] of [
        [9999, '0x0800', 'pref 10001 protocol ip'],
        [9998, '0x86dd', 'pref 10000 protocol ipv6'],
      ] as const) {
        const mine = tagged.filter((l) => l.includes(`pref ${pref} `));
        expect(mine).toHaveLength(2);
        for (const l of mine) {
          const [head, actions] = l.split(` match u16 ${inner} 0xffff at -2 `);
          expect(actions).toBeDefined();
          expect(lines).toContain(`${head!.replace(`pref ${pref} protocol 802.1Q`, plain)} ${actions}`);
        }
      }
    }
    // Tagged ARP is not unicast IP: no tagged rule matches ethertype 0x0806.
    expect(attachPortLines(port, pair).some((l) => l.includes('0x0806'))).toBe(false);
  });

  it('unicast rules come before the catch-all pref (lower pref = evaluated first)', () => {
    const prefs = attachPortLines(port, pair, 'inline')
      .filter((l) => l.includes('dev vex3039-eth0 parent'))
      .map((l) => Number(/pref (\d+)/.exec(l)![1]));
    expect(Math.max(...prefs.slice(0, -1))).toBeLessThan(prefs[prefs.length - 1]!);
  });

  it('vbr prefs are ifindex mod 65536, never 0', () => {
    expect(vbrPref(0x1234)).toBe(4660);
    expect(vbrPref(0x10000 + 7)).toBe(7);
    expect(vbrPref(0x20000)).toBeGreaterThan(0);
  });

  it('replace verb and swap prefs produce the same rule text at another pref', () => {
    const a = unicastRule('add', 'vex', port, pair, 'inline', 10001, 'ip');
    const b = unicastRule('replace', 'vex', port, pair, 'inline', 9001, 'ip');
    expect(b.replace('replace', 'add').replace('pref 9001', 'pref 10001')).toBe(a);
    expect(vbrRules('add', port, pair, 'inline')).toEqual(NV_INLINE.slice(-2));
    expect(serviceLines(pair)).toEqual(['qdisc add dev vbr-neuv ingress']);
  });

  it('bad input is rejected naming the field', () => {
    const bad = (p: Partial<SteeredPort>, field: string) => {
      try {
        checkPort({ ...port, ...p }, pair);
        expect.unreachable();
      } catch (e) {
        expect(isTollgateError(e)).toBe(true);
        expect((e as { field?: string }).field).toBe(field);
      }
    };
    bad({ wlMac: 'zz:00:00:00:00:00' }, 'ports["web"].wlMac');
    bad({ wlMac: '01:00:5e:00:00:01' }, 'ports["web"].wlMac');
    bad({ ucMac: '4e:65:75:56:00:01' }, 'ports["web"].ucMac');
    bad({ vex: 'bad name; rm' }, 'ports["web"].vex');
    bad({ vinIfindex: 0 }, 'ports["web"].vinIfindex');
    bad({ mode: 'monitor' as never }, 'ports["web"].mode');
  });

  it('read-back expectations follow the plan lines in order', () => {
    const e = expectationsOf([
      'qdisc add dev vex ingress',
      'filter add dev vex parent ffff: pref 9001 protocol ip u32 match u8 0 0',
      'filter del dev vex parent ffff: pref 9001',
      'filter add dev vex parent ffff: pref 10001 protocol ip u32 match u8 0 0',
      'qdisc del dev vin clsact',
    ]);
    expect(e.get('vex')!.qdisc).toBe(true);
    expect([...e.get('vex')!.prefs]).toEqual([
      [9001, false],
      [10001, true],
    ]);
    expect(e.get('vin')!.qdisc).toBe(false);
  });
});

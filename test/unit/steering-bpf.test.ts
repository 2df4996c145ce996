import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BPF_COUNTERS,
  hexArgs,
  mapUpdateArgv,
  portKey,
  portValue,
  ucKey,
  ucValue,
} from '../../agent/steering/bpf-maps.js';
import { BpfSteering, bpfObjectPath } from '../../agent/steering/bpf-backend.js';
import { pinDirFor, selectSteering } from '../../agent/steering/index.js';
import { formatPlan } from '../../agent/steering/apply.js';
import { isTollgateError } from '../../shared/errors.js';

describe('bpf steering map layouts', () => {
  it('port entry bytes: peer, vbr (LE u32), wl MAC, uc MAC, role, mode, pad', () => {
    const v = portValue({
      ingressIfindex: 7,
      role: 'vin',
      peerIfindex: 0x0102,
      vbrIfindex: 9,
      wlMac: '02:00:00:00:00:10',
      ucMac: '4e:65:75:56:01:02',
      mode: 'inline',
    });
    expect(v.toString('hex')).toBe('02010000' + '09000000' + '020000000010' + '4e6575560102' + '01' + '01' + '0000');
    expect(portKey(0x1234).toString('hex')).toBe('34120000');
  });

  it('ucmac entry bytes: key is the MAC + 2 zero bytes; value vin, vex, wl MAC, mode, pad', () => {
    expect(ucKey('4e:65:75:56:00:05').toString('hex')).toBe('4e6575560005' + '0000');
    const v = ucValue({
      ucMac: '4e:65:75:56:00:05',
      vinIfindex: 6,
      vexIfindex: 5,
      wlMac: '02:00:00:00:00:10',
      mode: 'tap',
    });
    expect(v.toString('hex')).toBe('06000000' + '05000000' + '020000000010' + '00' + '00');
  });

  it('the layouts match the compiled object (BTF struct sizes)', () => {
    const obj = bpfObjectPath();
    if (!existsSync(obj)) return expect.unreachable(`missing ${obj}: run scripts/setup.sh`);
    const btf = execFileSync('bpftool', ['btf', 'dump', 'file', obj, 'format', 'raw'], { encoding: 'utf8' });
    const size = (name: string) => Number(new RegExp(`STRUCT '${name}' size=(\\d+)`).exec(btf)?.[1]);
    expect(size('port_info')).toBe(
      portValue({
        ingressIfindex: 1,
        role: 'vex',
        peerIfindex: 1,
        vbrIfindex: 1,
        wlMac: '02:00:00:00:00:01',
        ucMac: '4e:65:75:56:00:01',
        mode: 'tap',
      }).length,
    );
    expect(size('uc_key')).toBe(8);
    expect(size('uc_info')).toBe(16);
    // The C counter enum and the TS names agree, in order.
    const src = readFileSync(new URL('../../agent/steering/bpf/steer.bpf.c', import.meta.url), 'utf8');
    const names = [...src.matchAll(/^\s*CNT_([A-Z_]+)(?: = 0)?,$/gm)]
      .map((m) => m[1]!.toLowerCase())
      .filter((n) => n !== 'max');
    expect(names).toEqual([...BPF_COUNTERS]);
  });

  it('bpftool argv carries hex bytes', () => {
    expect(hexArgs(Buffer.from([0, 0xab]))).toEqual(['hex', '00', 'ab']);
    const a = mapUpdateArgv('/sys/fs/bpf/tollgate-x', 'tg_ports', portKey(1), Buffer.from([1]));
    expect(a).toEqual([
      'bpftool',
      'map',
      'update',
      'pinned',
      '/sys/fs/bpf/tollgate-x/maps/tg_ports',
      'key',
      'hex',
      '01',
      '00',
      '00',
      '00',
      'value',
      'hex',
      '01',
      'any',
    ]);
  });
});

describe('bpf backend inputs', () => {
  it('pin dirs must live directly under /sys/fs/bpf', async () => {
    expect(() => new BpfSteering('/tmp/pins')).toThrow(/pin directory/);
    expect(() => new BpfSteering('/sys/fs/bpf/a/b')).toThrow(/pin directory/);
    await expect(selectSteering('bpf', { pinDir: '/sys/fs/bpf/../etc' })).rejects.toMatchObject({ field: 'pinDir' });
    try {
      await selectSteering('flower' as never, { pinDir: '/sys/fs/bpf/tollgate-x' });
      expect.unreachable();
    } catch (e) {
      expect(isTollgateError(e) && e.field).toBe('steering');
    }
  });

  it('pinDirFor follows the /sys/fs/bpf/tollgate-<agentNs> convention', () => {
    expect(pinDirFor('agent-ns')).toBe('/sys/fs/bpf/tollgate-agent-ns');
    expect(pinDirFor('/run/netns/tg1-agent')).toBe('/sys/fs/bpf/tollgate-tg1-agent');
    expect(pinDirFor('/proc/123/ns/net')).toBe('/sys/fs/bpf/tollgate-proc-123-ns-net');
    expect(() => new BpfSteering(pinDirFor('/proc/123/ns/net'))).not.toThrow();
  });

  it('formatPlan prints every step, tc lines with the namespace', () => {
    const lines = formatPlan('ns1', {
      prepare: [['bpftool', 'map', 'update']],
      tc: ['qdisc add dev vex clsact'],
      commands: [['rm', '-rf', '/sys/fs/bpf/tollgate-ns1']],
    });
    expect(lines).toEqual([
      'bpftool map update',
      'nsenter --net=/run/netns/ns1 tc qdisc add dev vex clsact',
      'rm -rf /sys/fs/bpf/tollgate-ns1',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { isTollgateError } from '../../shared/errors.js';
import { loadLabSpec, parseLabSpec, parseLabSpecText, requireWorkload } from '../../agent/topology/spec.js';
import { namespacesWith } from '../helpers/netns.js';

const wl = (over: Record<string, unknown> = {}) => ({
  name: 'web',
  ip: '198.18.0.10/24',
  mac: '02:00:00:00:00:0a',
  ...over,
});
const spec = (workloads: unknown[], over: Record<string, unknown> = {}) => ({ prefix: 'tgunit-', workloads, ...over });

function rejection(input: unknown): { field: string | undefined; message: string } {
  try {
    parseLabSpec(input);
  } catch (e) {
    if (!isTollgateError(e)) throw e;
    expect(e.code).toBe('ESPEC');
    return { field: e.field, message: e.message };
  }
  throw new Error('spec was accepted');
}

describe('lab spec validation', () => {
  it('accepts the embedded default lab and fills defaults', async () => {
    const s = await loadLabSpec();
    expect(s.prefix).toBe('tg-');
    expect(s.workloads.map((w) => [w.name, w.address, w.mode, w.gateway])).toEqual([
      ['web', '198.18.0.10', 'learn', '198.18.0.1'],
      ['db', '198.18.0.11', 'learn', '198.18.0.1'],
    ]);
    expect(s.hostSide).toEqual({ name: 'host', address: '198.18.0.1/24', ip: '198.18.0.1', prefixLength: 24 });
  });

  it.each([
    [
      'duplicate names',
      spec([wl(), wl({ ip: '198.18.0.11/24', mac: '02:00:00:00:00:0b' })]),
      'workloads[1].name',
      /duplicate workload name/,
    ],
    [
      'duplicate IPs',
      spec([wl(), wl({ name: 'db', mac: '02:00:00:00:00:0b' })]),
      'workloads[1].ip',
      /duplicate address/,
    ],
    ['IP equal to the host address', spec([wl({ ip: '198.18.0.1/24' })]), 'workloads[0].ip', /duplicate address/],
    ['duplicate MACs', spec([wl(), wl({ name: 'db', ip: '198.18.0.11/24' })]), 'workloads[1].mac', /duplicate MAC/],
    ['bad CIDR', spec([wl({ ip: '198.18.0.300/24' })]), 'workloads[0].ip', /invalid CIDR/],
    ['missing prefix length', spec([wl({ ip: '198.18.0.10' })]), 'workloads[0].ip', /invalid CIDR/],
    [
      'a multicast address',
      spec([wl({ ip: '224.0.0.5/24' })]),
      'workloads[0].ip',
      /not a unicast host address \(multicast\)/,
    ],
    [
      'a loopback host address',
      spec([], { hostSide: { address: '127.0.0.1/8' } }),
      'hostSide.address',
      /not a unicast host address \(loopback\)/,
    ],
    ['network address', spec([wl({ ip: '198.18.0.0/24' })]), 'workloads[0].ip', /network or broadcast/],
    ['bad MAC', spec([wl({ mac: '02:00:00:00:0a' })]), 'workloads[0].mac', /invalid MAC/],
    ['multicast MAC', spec([wl({ mac: '01:00:5e:00:00:01' })]), 'workloads[0].mac', /multicast/],
    ['steering-prefix MAC', spec([wl({ mac: '4e:65:75:56:00:01' })]), 'workloads[0].mac', /reserved steering prefix/],
    ['name too long for vex-<name>', spec([wl({ name: 'averyverylongname' })]), 'workloads[0].name', /15 characters/],
    ['bad mode', spec([wl({ mode: 'block' })]), 'workloads[0].mode', /.+/],
    ['gateway outside the subnet', spec([wl({ gateway: '198.18.1.1' })]), 'workloads[0].gateway', /not in/],
    ['unknown field', spec([wl({ colour: 'red' })]), 'workloads[0]', /colour/],
    ['bad steering', spec([], { steering: 'pedit' }), 'steering', /.+/],
  ])('rejects %s, naming the field', (_what, input, field, msg) => {
    const r = rejection(input);
    expect(r.field).toBe(field);
    expect(r.message).toMatch(new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: `));
    expect(r.message).toMatch(msg);
  });

  it('reports every problem, the first one as the field', () => {
    const r = rejection(spec([wl({ mac: 'zz' }), wl({ name: 'db', ip: '224.0.0.8/24', mac: '02:00:00:00:00:0b' })]));
    expect(r.field).toBe('workloads[0].mac');
    expect(r.message).toContain('workloads[1].ip');
  });

  it('parses YAML and rejects broken YAML with a clear error', () => {
    const s = parseLabSpecText(
      'prefix: tgy-\nworkloads:\n  - {name: a1, ip: 198.19.0.5/16, mac: "02:aa:00:00:00:01", mode: protect}\nhostSide: {address: 198.19.0.1/16}\n',
    );
    expect(s.workloads[0]).toMatchObject({ name: 'a1', mode: 'protect', gateway: '198.19.0.1', prefixLength: 16 });
    expect(() => parseLabSpecText('workloads: [oops')).toThrow(/not valid YAML/);
  });

  it('names the field for an unknown workload', () => {
    const s = parseLabSpec(spec([wl()]));
    expect(() => requireWorkload(s, 'db', 'mode.workload')).toThrow(
      /^mode\.workload: unknown workload "db" \(known: web\)/,
    );
  });

  it('changes nothing on the machine when rejecting (validation runs before any command)', () => {
    rejection(spec([wl(), wl()]));
    expect(namespacesWith('tgunit-')).toEqual([]);
  });
});

/**
 * Every control message the agent can build, parsed with the dp's own schemas
 * (shared/ctrl/schemas.ts) and run through the dp's dispatcher: the agent's builders return
 * the schemas' input types (so a wrong field does not compile), and this checks the values
 * too (ranges, MAC and address formats, list caps, datagram size).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  desiredDpMessages,
  endpointMessages,
  internalNetMessage,
  registerMessages,
  removeMessage,
  tapMessages,
} from '../../agent/daemon/dp-state.js';
import { policyMessages, type WorkloadView } from '../../agent/policy/compile.js';
import type { AllowRule } from '../../agent/learn/rule.js';
import { MODES, type WorkloadMode } from '../../shared/policy-actions.js';
import { isCtrlName, schemas, type CtrlRequest } from '../../shared/ctrl/schemas.js';
import { DP_MSG_SIZE } from '../../dp/ctrl/limits.js';
import { DpRuntime } from '../../dp/runtime.js';
import { dispatchDatagram } from '../../dp/ctrl/dispatch.js';
import { tempSockPath } from '../helpers/dp-client.js';

const mac = (i: number): string =>
  `02:74:67:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
const ucmac = (i: number): string =>
  `4e:65:75:56:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

const modes = Object.keys(MODES) as WorkloadMode[];
const workloads: WorkloadView[] = Array.from({ length: 300 }, (_, i) => ({
  name: `w${i}`,
  group: `g${i % 5}`,
  ip: i % 7 === 0 ? '' : `198.18.${1 + (i >> 8)}.${i & 0xff}`,
  ips: i % 3 === 0 ? [`198.18.${1 + (i >> 8)}.${i & 0xff}`, `fd00::${i.toString(16)}`] : [],
  mac: mac(i + 1),
  mode: modes[i % modes.length]!,
}));
const rule = (
  id: number,
  from: string,
  to: string,
  proto: AllowRule['proto'],
  port: number,
  side: AllowRule['side'] = 'both',
): AllowRule => ({
  id,
  from,
  to,
  side,
  port,
  proto,
  origin: 'learned',
  createdAt: '2026-01-01T00:00:00Z',
  hits: 0,
  lastUsed: null,
});
const rules: AllowRule[] = [
  rule(10000, 'g0', 'g1', 'tcp', 80),
  rule(10001, 'g1', 'g2', 'udp', 53, 'egress'),
  rule(10002, 'g2', 'g0', 'icmp', 0, 'ingress'),
  rule(10003, 'g3', 'g4', 'icmpv6', 0),
  rule(10004, '198.18.0.0/16', 'g0', 'any', 0),
  rule(10005, 'g4', 'fd00::/64', 'tcp', 443),
  rule(10006, 'g0', 'nobody', 'tcp', 22),
  ...Array.from({ length: 200 }, (_, i) => rule(20000 + i, `g${i % 5}`, `g${(i + 1) % 5}`, 'tcp', 1000 + i)),
];

/** Everything the agent's builders produce for this state. */
function agentMessages(): CtrlRequest[] {
  const ucmacs = new Map(workloads.map((w, i) => [w.name, ucmac(i + 1)]));
  const out: CtrlRequest[] = [
    ...desiredDpMessages({ internalNets: ['198.18.0.0/15', '10.0.0.0/8', 'fd00::/8'], workloads, ucmacs }),
    internalNetMessage([]),
    removeMessage(workloads[0]!.mac),
    { ctrl_keep_alive: { seq_num: 0xffff_ffff } },
  ];
  for (const m of modes)
    out.push(
      ...tapMessages(
        workloads.map((w) => w.mac),
        m,
      ),
    );
  for (const [i, w] of workloads.entries()) {
    out.push(...registerMessages(w, ucmac(i + 1)));
    out.push(...endpointMessages(w.name, w.mac, ucmac(i + 1), w.mode));
    if (i % 30 === 0) for (const m of modes) out.push(...policyMessages({ ...w, mode: m }, workloads, rules));
  }
  out.push(...policyMessages(workloads[1]!, workloads, []));
  return out;
}

describe("the agent's control messages", () => {
  const msgs = agentMessages();

  it("every one is one message the dp's schema accepts, in a datagram the dp takes", () => {
    expect(msgs.length).toBeGreaterThan(500);
    const kinds = new Set<string>();
    for (const m of msgs) {
      const keys = Object.keys(m);
      expect(keys).toHaveLength(1);
      const key = keys[0]!;
      expect(isCtrlName(key)).toBe(true);
      if (!isCtrlName(key)) continue;
      kinds.add(key);
      const parsed = schemas[key].safeParse((m as Record<string, unknown>)[key]);
      expect(parsed.success, `${key}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(DP_MSG_SIZE);
    }
    // Every kind the agent sends is covered here.
    expect([...kinds].sort()).toEqual([
      'ctrl_add_mac',
      'ctrl_add_srvc_port',
      'ctrl_cfg_internal_net',
      'ctrl_cfg_mac',
      'ctrl_cfg_policy',
      'ctrl_del_mac',
      'ctrl_enable_icmp_policy',
      'ctrl_keep_alive',
    ]);
  });

  it('a policy too large for one datagram is chunked START..END, and a dp commits it', () => {
    const rt = new DpRuntime({
      ctrlPath: tempSockPath('agentmsg'),
      log: pino({ level: 'silent' }),
      live: false,
    });
    try {
      const w = workloads[0]!;
      const send = (m: CtrlRequest): string => dispatchDatagram(Buffer.from(JSON.stringify(m)), rt.state).at(-1)!;
      for (const m of registerMessages(w, ucmac(1))) expect(send(m)).toContain('dp_ok');
      const policy = policyMessages({ ...w, mode: 'protect' }, workloads, rules);
      expect(policy.length).toBeGreaterThan(1);
      for (const m of policy) expect(send(m)).toContain('dp_ok');
      expect(rt.state.ctrlCounters.errors).toBe(0);
    } finally {
      rt.stop();
    }
  });
});

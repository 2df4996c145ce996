import { describe, expect, it } from 'vitest';
import { PolicyAction, PolicyDir } from '../../shared/policy-actions.js';
import { parseAddr, rangeFromMask } from '../../dp/policy/address.js';
import { compileRules, PolicyTable, type WireRule } from '../../dp/policy/policy-table.js';
import type { PolicyMatch, PolicyQuery } from '../../dp/policy/rule-index.js';

const q = (ingress: boolean, proto: number, sip: string, dip: string, dport: number): PolicyQuery => ({
  ingress,
  proto,
  sip: parseAddr(sip, 'sip'),
  dip: parseAddr(dip, 'dip'),
  dport,
});
const out = (): PolicyMatch => ({ action: -1, ruleId: -1, order: 0 });

describe('policy lookup', () => {
  const web = '198.18.0.10';
  const host = '198.18.0.1';
  const rules: WireRule[] = [
    { id: 10001, sip: host, dip: web, port: 80, proto: 6, action: PolicyAction.ALLOW, ingress: true },
    { id: 10002, sip: host, dip: web, port: 8000, portr: 8010, proto: 0, action: PolicyAction.ALLOW, ingress: true },
    { id: 10003, sip: '0.0.0.0', dip: web, port: 443, proto: 6, action: PolicyAction.ALLOW, ingress: true },
    { id: 10004, sip: host, dip: web, port: 80, proto: 6, action: PolicyAction.DENY, ingress: true }, // shadowed by 10001
  ];
  const t = new PolicyTable();
  t.setInternalNets([rangeFromMask('198.18.0.0', '255.254.0.0', 'n')]);
  t.setPolicy([1], PolicyAction.DENY, PolicyDir.INGRESS | PolicyDir.EGRESS, compileRules(rules));

  it('first exact match wins', () => {
    expect(t.lookup(1, q(true, 6, host, web, 80), out())).toMatchObject({ action: PolicyAction.ALLOW, ruleId: 10001 });
  });
  it('port ranges and proto any (tcp, udp)', () => {
    expect(t.lookup(1, q(true, 17, host, web, 8005), out()).ruleId).toBe(10002);
    expect(t.lookup(1, q(true, 6, host, web, 8010), out()).ruleId).toBe(10002);
    expect(t.lookup(1, q(true, 6, host, web, 8011), out())).toMatchObject({ action: PolicyAction.DENY, ruleId: 0 });
  });
  it('direction matters', () => {
    expect(t.lookup(1, q(false, 6, web, host, 80), out())).toMatchObject({ action: PolicyAction.DENY, ruleId: 0 });
  });
  it('external peers match the 0.0.0.0 wildcard, internal peers do not', () => {
    expect(t.lookup(1, q(true, 6, '203.0.113.9', web, 443), out()).ruleId).toBe(10003);
    expect(t.lookup(1, q(true, 6, '198.18.0.99', web, 443), out()).ruleId).toBe(0);
  });
  it('ICMP is allowed unless enable_icmp_policy', () => {
    expect(t.lookup(1, q(true, 1, host, web, 0), out()).action).toBe(PolicyAction.ALLOW);
    t.enableIcmpPolicy = true;
    expect(t.lookup(1, q(true, 1, host, web, 0), out()).action).toBe(PolicyAction.DENY);
    t.enableIcmpPolicy = false;
  });
  it('no handle → OPEN; link-local → OPEN; apply direction shortcut for internal peers', () => {
    expect(t.lookup(2, q(true, 6, host, web, 1), out()).action).toBe(PolicyAction.OPEN);
    expect(t.lookup(1, q(true, 6, '169.254.1.1', web, 1), out()).action).toBe(PolicyAction.OPEN);
    const t2 = new PolicyTable();
    t2.setPolicy([1], PolicyAction.DENY, PolicyDir.INGRESS, compileRules([]));
    expect(t2.lookup(1, q(false, 6, web, host, 80), out()).action).toBe(PolicyAction.OPEN);
    expect(t2.lookup(1, q(true, 6, host, web, 80), out()).action).toBe(PolicyAction.DENY);
  });
  it('IPv6 rules and ranges', () => {
    const t6 = new PolicyTable();
    t6.setPolicy(
      [1],
      PolicyAction.DENY,
      0,
      compileRules([
        {
          id: 7,
          sip: '2001:db8::1',
          sipr: '2001:db8::ff',
          dip: '2001:db8::10',
          port: 22,
          proto: 6,
          action: 2,
          ingress: true,
        },
      ]),
    );
    expect(t6.lookup(1, q(true, 6, '2001:db8::20', '2001:db8::10', 22), out()).ruleId).toBe(7);
    expect(t6.lookup(1, q(true, 6, '2001:db8::1:0', '2001:db8::10', 22), out()).ruleId).toBe(0);
  });
  it('stays correct with thousands of rules (first match in order)', () => {
    const many: WireRule[] = [];
    for (let i = 0; i < 5000; i++) {
      many.push({
        id: 20000 + i,
        sip: `198.19.${(i >> 8) & 255}.${i & 255}`,
        dip: web,
        port: 1000 + (i % 3000),
        proto: 6,
        action: 2,
        ingress: true,
      });
    }
    many.push({
      id: 1,
      sip: '198.18.0.0',
      sipr: '198.19.255.255',
      dip: web,
      port: 0,
      portr: 65535,
      proto: 0,
      action: PolicyAction.VIOLATE,
      ingress: true,
    });
    const tm = new PolicyTable();
    tm.setPolicy([1], PolicyAction.DENY, 0, compileRules(many));
    expect(tm.lookup(1, q(true, 6, '198.19.3.5', web, 1000 + (773 % 3000)), out()).ruleId).toBe(20773);
    expect(tm.lookup(1, q(true, 6, '198.19.3.5', web, 9999), out()).ruleId).toBe(1);
  });
  it('rejects bad rules naming the field', () => {
    expect(() => compileRules([{ id: 1, sip: '1.2.3', dip: web, action: 2, ingress: true }])).toThrow(
      /rules\[0\]\.sip/,
    );
    expect(() => compileRules([{ id: 1, sip: host, dip: web, port: 90, portr: 80, action: 2, ingress: true }])).toThrow(
      /rules\[0\]\.portr/,
    );
  });
});

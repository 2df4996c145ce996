import { frame, ipv4, udp } from '../../scripts/pcapgen/frames.js';
import { parseMac } from '../../shared/mac.js';

/**
 * Frames as they cross vth (MACs already rewritten to/from the steering MAC) and the
 * four NeuVector datagrams that make a dp forward them, for the dp's own-lab tests.
 */
export function udpFrame(
  da: string,
  sa: string,
  sip: string,
  dip: string,
  sport: number,
  dport: number,
  payload: Buffer,
  vlans?: number[],
): Buffer {
  return frame(ipv4(sip, dip, 17, udp(sip, dip, sport, dport, payload)), {
    dst: parseMac(da),
    src: parseMac(sa),
    ...(vlans ? { vlans } : {}),
  });
}

/** The four datagrams: internal nets, service port vth, one inline endpoint. */
export function fourDatagrams(wlMac: string, ucmac: string): string[] {
  const bcmac = `ff:ff:ff:00:${ucmac.slice(12)}`;
  return [
    '{"ctrl_cfg_internal_net":{"flag":3,"subnet_addr":[{"ip":"198.18.0.0","mask":"255.254.0.0"},{"ip":"198.18.0.66","mask":"255.255.255.0","iptype":"devip"}]}}',
    '{"ctrl_add_srvc_port":{"iface":"vth","jumboframe":false}}',
    `{"ctrl_add_mac":{"iface":"vth","mac":"${wlMac}","ucmac":"${ucmac}","bcmac":"${bcmac}","oldmac":"","pmac":"","pips":null}}`,
    `{"ctrl_cfg_mac":{"tap":false,"macs":["${wlMac}"]}}`,
  ];
}

/** IPv4 header checksum, for tests that corrupt a header field and re-seal it. */
export function ipv4HeaderChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

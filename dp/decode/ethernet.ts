/**
 * Ethernet II plus stacked 802.1Q / 802.1ad (QinQ) tags. Non-IP ethertypes and 802.3
 * length frames are not errors: the caller counts them as `other` and forwards them.
 */
import { R } from './reasons.js';
import { type PacketView, u16 } from './packet.js';

const MAX_VLAN_LAYERS = 3;

/** Returns a reason code; on success p.etherType and p.l3Off are set. */
export function decodeEthernet(p: PacketView, b: Uint8Array): number {
  const off = p.frameOff;
  if (p.capLen < 14) return R['decoder.ethernet.pkt_too_small'];
  p.l2Multicast = (b[off]! & 1) === 1;
  let type = u16(b, off + 12);
  let o = off + 14;
  while (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
    if (p.vlanCount === MAX_VLAN_LAYERS) return R['decoder.vlan.too_many_layers'];
    if (o + 4 > p.capEnd) return R['decoder.vlan.header_too_small'];
    if (p.vlanCount === 0) p.vlanId = u16(b, o) & 0x0fff;
    p.vlanCount++;
    type = u16(b, o + 2);
    o += 4;
  }
  p.etherType = type;
  p.l3Off = o;
  return 0;
}

/*
 * Completing the TCP/UDP checksum of a frame the kernel handed over as CHECKSUM_PARTIAL
 * (TP_STATUS_CSUMNOTREADY in the RX ring): a sender with tx checksum offload leaves only
 * the pseudo-header sum in the checksum field, to be finished by the NIC. A veth never
 * finishes it, and a frame the dp sends on from an AF_PACKET socket is CHECKSUM_NONE, so the
 * receiver would see a bad checksum and drop it. The dp therefore writes the full checksum
 * in place before the frame is decided and forwarded (docs/FASTPATH.md, "Offloads").
 *
 * The checksum is computed from scratch (field zeroed first), so it does not depend on what
 * the partial value was. Frames it cannot place (not IPv4/IPv6 TCP/UDP, a fragment, cut
 * short) are left as they are.
 */
#include <stdint.h>
#include <string.h>
#include "l4_csum.h"

static uint32_t sum16(const uint8_t *p, uint32_t len, uint32_t acc) {
  while (len >= 2) {
    acc += (uint32_t)p[0] << 8 | p[1];
    p += 2;
    len -= 2;
  }
  if (len) acc += (uint32_t)p[0] << 8;
  return acc;
}

static uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return (uint16_t)acc;
}

int tg_complete_l4_csum(uint8_t *f, uint32_t len) {
  uint32_t off = 12;
  if (len < 14) return 0;
  uint16_t type = (uint16_t)(f[off] << 8 | f[off + 1]);
  if ((type == 0x8100 || type == 0x88a8) && len >= 18) {
    off += 4;
    type = (uint16_t)(f[off] << 8 | f[off + 1]);
  }
  off += 2;
  uint32_t acc = 0, l4 = 0, l4len = 0;
  uint8_t proto = 0;
  if (type == 0x0800) {
    if (len < off + 20) return 0;
    const uint8_t *ip = f + off;
    uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
    uint32_t total = (uint32_t)(ip[2] << 8 | ip[3]);
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || off + total > len) return 0;
    if ((ip[6] & 0x3f) || ip[7]) return 0; /* a fragment: its L4 header is not all here */
    proto = ip[9];
    l4 = off + ihl;
    l4len = total - ihl;
    acc = sum16(ip + 12, 8, 0);
  } else if (type == 0x86dd) {
    if (len < off + 40) return 0;
    const uint8_t *ip = f + off;
    uint32_t payload = (uint32_t)(ip[4] << 8 | ip[5]);
    if ((ip[0] >> 4) != 6 || off + 40 + payload > len) return 0;
    proto = ip[6];
    l4 = off + 40;
    uint32_t end = l4 + payload;
    /* Hop-by-hop, routing and destination options may come before TCP/UDP. */
    while ((proto == 0 || proto == 43 || proto == 60) && l4 + 8 <= end) {
      proto = f[l4];
      l4 += ((uint32_t)f[l4 + 1] + 1) * 8;
    }
    if (l4 > end) return 0;
    l4len = end - l4;
    acc = sum16(ip + 8, 32, 0);
  } else {
    return 0;
  }
  uint32_t at;
  if (proto == 6 && l4len >= 20) at = l4 + 16;
  else if (proto == 17 && l4len >= 8) at = l4 + 6;
  else return 0;
  acc += proto;
  acc += l4len;
  f[at] = 0;
  f[at + 1] = 0;
  uint16_t c = (uint16_t)~fold(sum16(f + l4, l4len, acc));
  if (proto == 17 && c == 0) c = 0xffff;
  f[at] = (uint8_t)(c >> 8);
  f[at + 1] = (uint8_t)c;
  return 1;
}

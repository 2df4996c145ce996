#ifndef TG_L4_CSUM_H
#define TG_L4_CSUM_H
#include <stdint.h>

/* Writes the full TCP/UDP checksum of the Ethernet frame f[0..len) in place.
 * Returns 1 when it did, 0 when the frame is not a whole IPv4/IPv6 TCP/UDP packet (untouched). */
int tg_complete_l4_csum(uint8_t *f, uint32_t len);

#endif

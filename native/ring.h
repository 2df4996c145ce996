/*
 * ring.h: the packet ring's state and the functions its parts share. The parts: ring_rx.c
 * (collecting ready RX frames, one JS call per batch), ring_tx.c (forwarded and injected
 * frames out, one kick per batch), ring_setup.c (closing, the fan-out program) and the
 * N-API glue packet_ring.c (open, send, close). native/binding.gyp builds them into one addon.
 */
#ifndef TOLLGATE_RING_H
#define TOLLGATE_RING_H
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/filter.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#include <stdio.h>

/* Counter slots of the shared Float64Array `stats` (order mirrored in dp/io/ring-native.ts). */
enum {
  ST_RX, ST_RX_BYTES, ST_TX, ST_TX_BYTES, ST_TX_RING_FULL, ST_KICKS, ST_KICK_ERRORS, ST_BATCHES,
  ST_TRUNCATED, ST_OUTGOING_SKIPPED, ST_INJECTED, ST_INJECT_ERRORS, ST_KERNEL_DROPS, ST_CALLBACK_ERRORS,
  ST_TX_TOO_BIG, ST_VLAN_RESTORED, ST_CSUM_COMPLETED, ST_CSUM_UNPLACED, ST_RX_COALESCED, ST_COUNT
};

/* The TX data offset of a TPACKET_V2 frame without PACKET_TX_HAS_OFF. */
#define TX_DATA_OFF (TPACKET_ALIGN(sizeof(struct tpacket2_hdr)))

typedef struct ring_port {
  napi_env env;
  int fd;
  int closed;
  int in_batch;
  uint8_t *map;
  size_t map_len;
  uint32_t frame_size;
  uint32_t rx_frames, tx_frames;
  uint32_t rx_head, tx_head;
  uint32_t batch;
  uint32_t max_rounds;
  uint32_t coalesce_us;  /* RX interrupt moderation (ring_rx.c on_readable); 0: off */
  uint32_t busy_frames;  /* a wake-up that read at least this many frames marks the port busy */
  uint32_t last_wake;    /* frames the last wake-up read */
  uint32_t tx_cursor;    /* frames of the current batch already moved to TX */
  uint32_t tx_pending;   /* frames queued since the last kick */
  int tx_ring;           /* 1: PACKET_TX_RING; 0: sendmmsg straight from the RX ring */
  struct mmsghdr *mmsg;  /* mmsg mode: one message per pending frame */
  struct iovec *iov;
  uint32_t *slots;       /* RX frame index of each batch entry */
  int32_t *desc;         /* [offset, caplen, wirelen] per batch entry */
  uint8_t *verdicts;     /* 1 = forward */
  double *stats;
  uv_poll_t *poll;
  napi_ref callback;
  napi_ref self;
  napi_ref ring_ab;      /* detached on close so JS views cannot read unmapped memory */
  napi_ref keep[3];      /* desc, verdicts, stats ArrayBuffers */
  napi_async_context async;
} ring_port;

static inline struct tpacket2_hdr *rx_frame(ring_port *p, uint32_t i) {
  return (struct tpacket2_hdr *)(p->map + (size_t)i * p->frame_size);
}
static inline struct tpacket2_hdr *tx_frame(ring_port *p, uint32_t i) {
  return (struct tpacket2_hdr *)(p->map + (size_t)(p->rx_frames + i) * p->frame_size);
}

/* ring_tx.c */
void kick(ring_port *p);
int tx_queue(ring_port *p, const uint8_t *data, uint32_t len);
void flush_verdicts(ring_port *p, uint32_t upto);
/* ring_rx.c */
void on_readable(uv_poll_t *h, int status, int events);
/* ring_setup.c */
void port_close(ring_port *p);
extern struct sock_fprog fanout_by_addresses;
#endif

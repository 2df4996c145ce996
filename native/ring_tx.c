/* The packet ring's TX side: forwarded frames of a batch and injected frames out (see packet_ring.c). */
#include "ring.h"

/*
 * mmsg mode: the pending frames still lie in the RX ring (not yet released), one
 * sendmmsg sends them all. The kernel copies each into a linear skb; TX ring frames
 * instead become page-fragment skbs marked zero-copy, which veth must copy again into
 * fresh pages (skb_copy_ubufs) when they cross to the peer.
 */
static void kick_mmsg(ring_port *p) {
  uint32_t done = 0, n = p->tx_pending;
  p->tx_pending = 0;
  while (done < n) {
    p->stats[ST_KICKS]++;
    int r = sendmmsg(p->fd, p->mmsg + done, n - done, MSG_DONTWAIT);
    if (r > 0) {
      for (uint32_t i = done; i < done + (uint32_t)r; i++) {
        p->stats[ST_TX]++;
        p->stats[ST_TX_BYTES] += p->iov[i].iov_len;
      }
      done += (uint32_t)r;
    } else {
      /* The first message failed (ENOBUFS under load, EMSGSIZE): drop it, go on. */
      p->stats[ST_KICK_ERRORS]++;
      p->stats[ST_TX_RING_FULL]++;
      done++;
    }
  }
}

void kick(ring_port *p) {
  if (p->tx_pending == 0) return;
  if (!p->tx_ring) { kick_mmsg(p); return; }
  p->tx_pending = 0;
  p->stats[ST_KICKS]++;
  if (send(p->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) p->stats[ST_KICK_ERRORS]++;
}

/* Copies one frame into the next TX slot; returns 0 when the ring is full (after one kick). */
int tx_queue(ring_port *p, const uint8_t *data, uint32_t len) {
  if (!p->tx_ring) {
    /* mmsg mode: data lies in the RX ring until the batch is released. */
    uint32_t i = p->tx_pending++;
    p->iov[i].iov_base = (void *)data;
    p->iov[i].iov_len = len;
    return 1;
  }
  if (len > p->frame_size - TX_DATA_OFF) {
    p->stats[ST_TX_TOO_BIG]++;
    return 0;
  }
  struct tpacket2_hdr *h = tx_frame(p, p->tx_head);
  if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
    kick(p);
    p->tx_pending = 0;
    if (send(p->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) p->stats[ST_KICK_ERRORS]++;
    if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) {
      p->stats[ST_TX_RING_FULL]++;
      return 0;
    }
  }
  memcpy((uint8_t *)h + TX_DATA_OFF, data, len);
  h->tp_len = len;
  __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  p->tx_head = p->tx_head + 1 == p->tx_frames ? 0 : p->tx_head + 1;
  p->tx_pending++;
  p->stats[ST_TX]++;
  p->stats[ST_TX_BYTES] += len;
  return 1;
}

/* Moves the forwarded frames of batch entries [tx_cursor, upto) to the TX ring. */
void flush_verdicts(ring_port *p, uint32_t upto) {
  for (uint32_t i = p->tx_cursor; i < upto; i++) {
    if (p->verdicts[i] != 1) continue;
    tx_queue(p, p->map + p->desc[3 * i], (uint32_t)p->desc[3 * i + 1]);
  }
  if (upto > p->tx_cursor) p->tx_cursor = upto;
}

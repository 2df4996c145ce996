/* The packet ring's RX side: ready frames collected and handed to JS in one call per batch (see packet_ring.c). */
#include "ring.h"
#include "l4_csum.h"
#include <time.h>

static void release_rx(ring_port *p, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) __atomic_store_n(&rx_frame(p, p->slots[i])->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

/*
 * Collects up to `batch` ready RX frames. Frames the socket itself sent (should
 * PACKET_IGNORE_OUTGOING be missing) are released at once. A VLAN tag the kernel moved into
 * tp_vlan_tci is put back in front of the payload (there are free bytes before tp_mac),
 * so JS sees the frame as it was on the wire, as libpcap does.
 */
static uint32_t collect(ring_port *p) {
  uint32_t n = 0;
  while (n < p->batch) {
    struct tpacket2_hdr *h = rx_frame(p, p->rx_head);
    uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) break;
    uint32_t idx = p->rx_head;
    p->rx_head = p->rx_head + 1 == p->rx_frames ? 0 : p->rx_head + 1;
    const struct sockaddr_ll *sll = (const struct sockaddr_ll *)((uint8_t *)h + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
    if (sll->sll_pkttype == PACKET_OUTGOING) {
      p->stats[ST_OUTGOING_SKIPPED]++;
      __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      continue;
    }
    uint32_t mac = h->tp_mac, snap = h->tp_snaplen, wire = h->tp_len;
    size_t free_before = mac - (TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + sizeof(struct sockaddr_ll));
    if ((status & TP_STATUS_VLAN_VALID) && snap >= 12 && free_before >= 4) {
      uint8_t *f = (uint8_t *)h + mac;
      uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) && h->tp_vlan_tpid ? h->tp_vlan_tpid : ETH_P_8021Q;
      memmove(f - 4, f, 12);
      f[8] = tpid >> 8; f[9] = tpid & 0xff;
      f[10] = h->tp_vlan_tci >> 8; f[11] = h->tp_vlan_tci & 0xff;
      mac -= 4; snap += 4; wire += 4;
      p->stats[ST_VLAN_RESTORED]++;
    }
    if (snap < wire) p->stats[ST_TRUNCATED]++;
    else if (status & TP_STATUS_CSUMNOTREADY) /* CHECKSUM_PARTIAL: see l4_csum.c */
      p->stats[tg_complete_l4_csum((uint8_t *)h + mac, snap) ? ST_CSUM_COMPLETED : ST_CSUM_UNPLACED]++;
    p->stats[ST_RX]++;
    p->stats[ST_RX_BYTES] += wire;
    p->slots[n] = idx;
    p->desc[3 * n] = (int32_t)((size_t)idx * p->frame_size + mac);
    p->desc[3 * n + 1] = (int32_t)snap;
    p->desc[3 * n + 2] = (int32_t)wire;
    n++;
  }
  return n;
}

/* Calls onBatch(n) inside the callback scope on_readable holds open for the whole wake-up. */
static void call_js(ring_port *p, napi_value cb, napi_value self, uint32_t n) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value arg, result;
  napi_create_uint32(env, n, &arg);
  if (napi_call_function(env, self, cb, 1, &arg, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
    }
    p->stats[ST_CALLBACK_ERRORS]++;
  }
  napi_close_handle_scope(env, scope);
}

/*
 * RX interrupt moderation, as a NIC's adaptive rx-usecs: when the last wake-up found the
 * port busy (at least busy_frames frames), wait coalesce_us before reading, so the frames
 * of that time are read, decided and sent as one batch. Per frame that saves the wake-up,
 * the epoll round, the JS call and the TX kick, which on a busy port cost more CPU than
 * deciding the frame does, CPU the workloads on the node need. A quiet port (a wake-up
 * with fewer frames) is read at once, so light traffic gets no added latency.
 */
static void coalesce(ring_port *p) {
  if (p->coalesce_us == 0 || p->last_wake < p->busy_frames) return;
  struct timespec ts = { 0, (long)p->coalesce_us * 1000L };
  nanosleep(&ts, NULL);
  p->stats[ST_RX_COALESCED]++;
}

void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  ring_port *p = h->data;
  if (p == NULL || p->closed || status < 0) return;
  napi_env env = p->env;
  coalesce(p);
  /* One callback scope per wake-up, not per batch: what it costs (async context, the
   * nextTick and microtask queues drained on close) is paid once for all its batches. */
  napi_handle_scope outer;
  if (napi_open_handle_scope(env, &outer) != napi_ok) return;
  napi_value cb, self;
  napi_callback_scope cs;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_reference_value(env, p->self, &self);
  if (napi_open_callback_scope(env, self, p->async, &cs) != napi_ok) {
    napi_close_handle_scope(env, outer);
    return;
  }
  /* Batches until the ring is empty, at most max_rounds of them per wake-up so the
   * control socket is never starved; the poll is level-triggered and fires again while
   * frames are left. A partial batch does not end the wake-up: frames that arrived
   * meanwhile are read without another trip through epoll. */
  uint32_t frames = 0;
  for (uint32_t round = 0; round < p->max_rounds && !p->closed; round++) {
    uint32_t n = collect(p);
    if (n == 0) break;
    frames += n;
    p->stats[ST_BATCHES]++;
    memset(p->verdicts, 0, n);
    p->tx_cursor = 0;
    p->in_batch = 1;
    call_js(p, cb, self, n);
    p->in_batch = 0;
    if (p->closed) break; /* JS closed the port: the ring is gone */
    flush_verdicts(p, n);
    release_rx(p, n);
    kick(p);
  }
  p->last_wake = frames;
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, outer);
}

/*
 * packet_ring: batched AF_PACKET I/O for the Tollgate dp (N-API, plain C).
 *
 * One packet socket bound to a service port with a TPACKET_V2 RX ring and a TX ring in
 * one mmap. A uv_poll on the socket wakes the JS thread; each wake-up walks the ready RX
 * frames and hands them to JS in ONE call per batch: JS reads the frames in place (the RX
 * ring is exposed as an external ArrayBuffer, `desc` holds [offset, caplen, wirelen] per
 * frame) and writes one verdict byte per frame. Forwarded frames are then copied into TX
 * slots and the kernel is kicked once per batch (send(fd, NULL, 0, MSG_DONTWAIT)), which
 * is what NeuVector's dp does and what makes the per-frame cost small: one syscall and one
 * JS call per batch instead of per frame.
 *
 * Why V2 and not V3: V3 hands whole blocks to user space only when they fill or a timer
 * retires them, which adds latency at low rates; V2 frames are ready one by one.
 */
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
#include "l4_csum.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* Counter slots of the shared Float64Array `stats` (order mirrored in dp/io/ring-native.ts). */
enum {
  ST_RX, ST_RX_BYTES, ST_TX, ST_TX_BYTES, ST_TX_RING_FULL, ST_KICKS, ST_KICK_ERRORS, ST_BATCHES,
  ST_TRUNCATED, ST_OUTGOING_SKIPPED, ST_INJECTED, ST_INJECT_ERRORS, ST_KERNEL_DROPS, ST_CALLBACK_ERRORS,
  ST_TX_TOO_BIG, ST_VLAN_RESTORED, ST_CSUM_COMPLETED, ST_CSUM_UNPLACED, ST_COUNT
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

static void kick(ring_port *p) {
  if (p->tx_pending == 0) return;
  if (!p->tx_ring) { kick_mmsg(p); return; }
  p->tx_pending = 0;
  p->stats[ST_KICKS]++;
  if (send(p->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) p->stats[ST_KICK_ERRORS]++;
}

/* Copies one frame into the next TX slot; returns 0 when the ring is full (after one kick). */
static int tx_queue(ring_port *p, const uint8_t *data, uint32_t len) {
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
static void flush_verdicts(ring_port *p, uint32_t upto) {
  for (uint32_t i = p->tx_cursor; i < upto; i++) {
    if (p->verdicts[i] != 1) continue;
    tx_queue(p, p->map + p->desc[3 * i], (uint32_t)p->desc[3 * i + 1]);
  }
  if (upto > p->tx_cursor) p->tx_cursor = upto;
}

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

static void call_js(ring_port *p, uint32_t n) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, self, arg, result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_reference_value(env, p->self, &self);
  napi_create_uint32(env, n, &arg);
  napi_status st = napi_make_callback(env, p->async, self, cb, 1, &arg, &result);
  if (st != napi_ok) {
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

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  ring_port *p = h->data;
  if (p == NULL || p->closed || status < 0) return;
  /* A bounded number of batches per wake-up, so the control socket is never starved;
   * the poll is level-triggered and fires again while frames are left. */
  for (uint32_t round = 0; round < p->max_rounds && !p->closed; round++) {
    uint32_t n = collect(p);
    if (n == 0) break;
    p->stats[ST_BATCHES]++;
    memset(p->verdicts, 0, n);
    p->tx_cursor = 0;
    p->in_batch = 1;
    call_js(p, n);
    p->in_batch = 0;
    if (p->closed) return; /* JS closed the port: the ring is gone */
    flush_verdicts(p, n);
    release_rx(p, n);
    kick(p);
    if (n < p->batch) break;
  }
}

static void free_poll(uv_handle_t *h) { free(h); }

static void port_close(ring_port *p) {
  if (p->closed) return;
  p->closed = 1;
  if (p->poll) {
    uv_poll_stop(p->poll);
    p->poll->data = NULL;
    uv_close((uv_handle_t *)p->poll, free_poll);
    p->poll = NULL;
  }
  if (p->map) munmap(p->map, p->map_len);
  p->map = NULL;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
}

/*
 * dp -n N fan-out: a classic BPF program that picks the member socket from the packet's
 * IP addresses only (source XOR destination, folded): symmetric, so both directions of a
 * flow go to the same worker, and the same for every fragment of a datagram, whose later
 * pieces carry no ports. Loads are relative to the network header (SKF_NET_OFF), so they
 * do not depend on where skb->data points; skb->protocol is the EtherType after the kernel
 * took a VLAN tag into metadata. Anything else (ARP, QinQ left in band) goes to member 0.
 * The kernel takes the result modulo the number of members.
 */
#define NET(o) ((__u32)(SKF_NET_OFF + (o)))
static struct sock_filter fanout_prog[] = {
  /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (__u32)(SKF_AD_OFF + SKF_AD_PROTOCOL)),
  /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 1, 0),
  /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 5, 34),
  /* 3 IPv4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(12)),
  /* 4 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(16)),
  /* 6 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 7 */ BPF_STMT(BPF_JMP | BPF_JA, 22),
  /* 8 IPv6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(8)),
  /* 9 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(12)),
  /* 11 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 12 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 13 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(16)),
  /* 14 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 15 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(20)),
  /* 17 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 18 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 19 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(24)),
  /* 20 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 21 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 22 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(28)),
  /* 23 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 24 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 25 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(32)),
  /* 26 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 27 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 28 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(36)),
  /* 29 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 30 fold */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 31 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
  /* 32 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 33 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 34 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 8),
  /* 35 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 36 */ BPF_STMT(BPF_RET | BPF_A, 0),
  /* 37 */ BPF_STMT(BPF_RET | BPF_K, 0),
};
static struct sock_fprog fanout_by_addresses = { .len = sizeof fanout_prog / sizeof fanout_prog[0], .filter = fanout_prog };

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERING", msg);
  return NULL;
}

static ring_port *port_of(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  void *data;
  napi_get_cb_info(env, info, argc, argv, NULL, &data);
  return data;
}

/* send(buf, len, cursor): an injected frame (TCP reset). Inside a batch, forwarded frames
 * before `cursor` are queued first, so the wire order is the order JS decided in. */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  ring_port *p = port_of(env, info, &argc, argv);
  napi_value ret;
  uint8_t *data = NULL;
  size_t blen = 0;
  uint32_t len = 0, cursor = 0;
  if (p->closed || argc < 2 || napi_get_buffer_info(env, argv[0], (void **)&data, &blen) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &len) != napi_ok || len > blen) {
    if (!p->closed) p->stats[ST_INJECT_ERRORS]++;
    napi_get_boolean(env, false, &ret);
    return ret;
  }
  if (argc >= 3) napi_get_value_uint32(env, argv[2], &cursor);
  if (p->in_batch && cursor > p->tx_cursor) flush_verdicts(p, cursor);
  int ok;
  if (!p->tx_ring) {
    kick(p); /* the forwarded frames decided before this one go first */
    ok = send(p->fd, data, len, MSG_DONTWAIT) == (ssize_t)len;
    if (ok) { p->stats[ST_TX]++; p->stats[ST_TX_BYTES] += len; }
    if (ok) p->stats[ST_INJECTED]++;
    else p->stats[ST_INJECT_ERRORS]++;
    napi_get_boolean(env, ok, &ret);
    return ret;
  }
  ok = tx_queue(p, data, len);
  if (ok) p->stats[ST_INJECTED]++;
  else p->stats[ST_INJECT_ERRORS]++;
  if (!p->in_batch) kick(p);
  napi_get_boolean(env, ok, &ret);
  return ret;
}

/* kernelStats(): folds PACKET_STATISTICS (which resets on read) into stats[kernelDrops]. */
static napi_value js_kernel_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  ring_port *p = port_of(env, info, &argc, NULL);
  if (!p->closed) {
    struct tpacket_stats ts;
    socklen_t sl = sizeof ts;
    if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &ts, &sl) == 0) p->stats[ST_KERNEL_DROPS] += ts.tp_drops;
  }
  napi_value ret;
  napi_get_undefined(env, &ret);
  return ret;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  ring_port *p = port_of(env, info, &argc, NULL);
  if (!p->closed) {
    napi_value ab;
    if (napi_get_reference_value(env, p->ring_ab, &ab) == napi_ok && ab != NULL) napi_detach_arraybuffer(env, ab);
    port_close(p);
  }
  napi_value ret;
  napi_get_undefined(env, &ret);
  return ret;
}

static void finalize_port(napi_env env, void *data, void *hint) {
  (void)hint;
  ring_port *p = data;
  port_close(p);
  napi_delete_reference(env, p->callback);
  napi_delete_reference(env, p->ring_ab);
  for (int i = 0; i < 3; i++) napi_delete_reference(env, p->keep[i]);
  napi_async_destroy(env, p->async);
  free(p->slots);
  free(p->mmsg);
  free(p->iov);
  free(p);
}

static void no_free(napi_env env, void *data, void *hint) { (void)env; (void)data; (void)hint; }

static int opt_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  bool has = false;
  napi_value v;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  napi_get_named_property(env, obj, name, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static napi_value typed(napi_env env, napi_typedarray_type type, size_t bytes, size_t elems, void **data, napi_ref *keep) {
  napi_value ab, arr;
  napi_create_arraybuffer(env, bytes, data, &ab);
  memset(*data, 0, bytes);
  napi_create_typedarray(env, type, elems, ab, 0, &arr);
  napi_create_reference(env, ab, 1, keep);
  return arr;
}

/*
 * open(iface, { frameSize, rxFrames, txFrames, batch, fanoutGroup?, maxRounds? }, onBatch)
 * → { ring, desc, verdicts, stats, outgoingFilter, send, close, kernelStats }
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) { napi_throw_type_error(env, "ERING", "open(iface, options, onBatch)"); return NULL; }
  char ifname[IF_NAMESIZE + 1];
  size_t iflen = 0;
  if (napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &iflen) != napi_ok || iflen == 0 || iflen >= IF_NAMESIZE) {
    napi_throw_type_error(env, "ERING", "iface must be an interface name");
    return NULL;
  }
  napi_valuetype cbt;
  napi_typeof(env, argv[2], &cbt);
  if (cbt != napi_function) { napi_throw_type_error(env, "ERING", "onBatch must be a function"); return NULL; }
  uint32_t frame_size = 2048, rx_frames = 4096, tx_frames = 2048, batch = 256, fanout = 0, max_rounds = 16, tx_ring = 1;
  int has_fanout = opt_u32(env, argv[1], "fanoutGroup", &fanout);
  opt_u32(env, argv[1], "frameSize", &frame_size);
  opt_u32(env, argv[1], "rxFrames", &rx_frames);
  opt_u32(env, argv[1], "txFrames", &tx_frames);
  opt_u32(env, argv[1], "batch", &batch);
  opt_u32(env, argv[1], "maxRounds", &max_rounds);
  opt_u32(env, argv[1], "txRing", &tx_ring);
  uint32_t qdisc_bypass = 0;
  opt_u32(env, argv[1], "qdiscBypass", &qdisc_bypass);
  long page = sysconf(_SC_PAGESIZE);
  if (frame_size < 256 || (frame_size & (frame_size - 1)) || batch == 0 || batch > 65536 || max_rounds == 0 ||
      rx_frames < batch || (tx_ring && tx_frames < 16)) {
    napi_throw_range_error(env, "ERING", "bad ring geometry (frameSize power of two >= 256, rxFrames >= batch, txFrames >= 16)");
    return NULL;
  }
  /* Blocks of at least a page and at least one frame, 64 KiB when frames are small. */
  uint32_t block = frame_size > 65536 ? frame_size : 65536;
  if (block < (uint32_t)page) block = (uint32_t)page;
  uint32_t per_block = block / frame_size;
  rx_frames = (rx_frames + per_block - 1) / per_block * per_block;
  tx_frames = tx_ring ? (tx_frames + per_block - 1) / per_block * per_block : 0;

  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return throw_errno(env, "if_nametoindex", errno);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); /* protocol 0: nothing arrives before bind */
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  int v = TPACKET_V2, one = 1;
  struct tpacket_req rx = { block, rx_frames / per_block, frame_size, rx_frames };
  struct tpacket_req tx = { block, tx_frames / per_block, frame_size, tx_frames };
  const char *step = NULL;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) step = "PACKET_VERSION";
  /* Loss mode: a TX frame the kernel refuses is skipped instead of blocking the ring. */
  else if (setsockopt(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof one) < 0) step = "PACKET_LOSS";
  else if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) < 0) step = "PACKET_RX_RING";
  else if (tx_ring && setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) < 0) step = "PACKET_TX_RING";
  if (step) { int e = errno; close(fd); return throw_errno(env, step, e); }
  /* sendmmsg mode: room for a few batches of skbs in flight, so a burst never hits EAGAIN. */
  int sndbuf = 4 << 20;
  if (!tx_ring && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  /* Frames go straight to the driver, skipping the qdisc layer (veth has noqueue anyway). */
  if (qdisc_bypass) setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  /* Older kernels lack it: then collect() drops PACKET_OUTGOING frames itself. */
  int ignore_outgoing = setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0;
  size_t map_len = (size_t)(rx_frames + tx_frames) * frame_size;
  uint8_t *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) { int e = errno; close(fd); return throw_errno(env, "mmap", e); }
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex };
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { int e = errno; munmap(map, map_len); close(fd); return throw_errno(env, "bind", e); }
  if (has_fanout) {
    /* The group's members are chosen by fanout_by_addresses (below), not PACKET_FANOUT_HASH:
     * the kernel's flow hash skips the ports of fragments, so a fragmented datagram would
     * land apart from the rest of its flow (and PACKET_FANOUT_FLAG_DEFRAG would hand the dp
     * reassembled datagrams it cannot forward). */
    int arg = (int)((fanout & 0xffff) | (PACKET_FANOUT_CBPF << 16));
    const char *fstep = NULL;
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) < 0) fstep = "PACKET_FANOUT";
    else if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &fanout_by_addresses, sizeof fanout_by_addresses) < 0) fstep = "PACKET_FANOUT_DATA";
    if (fstep) { int e = errno; munmap(map, map_len); close(fd); return throw_errno(env, fstep, e); }
  }

  ring_port *p = calloc(1, sizeof *p);
  p->slots = calloc(batch, sizeof *p->slots);
  p->env = env; p->fd = fd; p->map = map; p->map_len = map_len; p->frame_size = frame_size;
  p->rx_frames = rx_frames; p->tx_frames = tx_frames; p->batch = batch; p->max_rounds = max_rounds;
  p->tx_ring = tx_ring != 0;
  if (!p->tx_ring) {
    p->mmsg = calloc(batch, sizeof *p->mmsg);
    p->iov = calloc(batch, sizeof *p->iov);
    for (uint32_t i = 0; i < batch; i++) {
      p->mmsg[i].msg_hdr.msg_iov = &p->iov[i];
      p->mmsg[i].msg_hdr.msg_iovlen = 1;
    }
  }

  napi_value obj, ring, desc, verdicts, stats, name, b;
  napi_create_object(env, &obj);
  napi_create_external_arraybuffer(env, map, (size_t)rx_frames * frame_size, no_free, NULL, &ring);
  napi_create_reference(env, ring, 1, &p->ring_ab);
  desc = typed(env, napi_int32_array, (size_t)batch * 12, (size_t)batch * 3, (void **)&p->desc, &p->keep[0]);
  verdicts = typed(env, napi_uint8_array, batch, batch, (void **)&p->verdicts, &p->keep[1]);
  stats = typed(env, napi_float64_array, ST_COUNT * sizeof(double), ST_COUNT, (void **)&p->stats, &p->keep[2]);
  napi_get_boolean(env, !ignore_outgoing, &b);
  napi_property_descriptor props[] = {
    { "ring", NULL, NULL, NULL, NULL, ring, napi_enumerable, NULL },
    { "desc", NULL, NULL, NULL, NULL, desc, napi_enumerable, NULL },
    { "verdicts", NULL, NULL, NULL, NULL, verdicts, napi_enumerable, NULL },
    { "stats", NULL, NULL, NULL, NULL, stats, napi_enumerable, NULL },
    { "outgoingFilter", NULL, NULL, NULL, NULL, b, napi_enumerable, NULL },
    { "send", NULL, js_send, NULL, NULL, NULL, napi_default, p },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, p },
    { "kernelStats", NULL, js_kernel_stats, NULL, NULL, NULL, napi_default, p },
  };
  napi_define_properties(env, obj, sizeof props / sizeof props[0], props);
  napi_value fs;
  napi_create_uint32(env, frame_size, &fs);
  napi_set_named_property(env, obj, "frameSize", fs);
  napi_create_reference(env, argv[2], 1, &p->callback);
  napi_create_reference(env, obj, 0, &p->self);
  napi_create_string_utf8(env, "tollgate.packetRing", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->async);
  napi_wrap(env, obj, p, finalize_port, NULL, NULL);

  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  p->poll = malloc(sizeof *p->poll);
  uv_poll_init(loop, p->poll, fd);
  p->poll->data = p;
  uv_poll_start(p->poll, UV_READABLE, on_readable);
  return obj;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, js_open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  return exports;
}

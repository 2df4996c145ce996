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
#include "ring.h" /* first: it defines _GNU_SOURCE before any system header */
#include "napi_util.h"

/* Ring errors carry the code ERING (dp/io/ring-native.ts). */
static napi_value throw_errno(napi_env env, const char *what, int err) { return throw_errno_as(env, "ERING", what, err); }

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
  return undefined(env);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  ring_port *p = port_of(env, info, &argc, NULL);
  if (!p->closed) {
    napi_value ab;
    if (napi_get_reference_value(env, p->ring_ab, &ab) == napi_ok && ab != NULL) napi_detach_arraybuffer(env, ab);
    port_close(p);
  }
  return undefined(env);
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

static napi_value typed(napi_env env, napi_typedarray_type type, size_t bytes, size_t elems, void **data, napi_ref *keep) {
  napi_value ab, arr;
  napi_create_arraybuffer(env, bytes, data, &ab);
  memset(*data, 0, bytes);
  napi_create_typedarray(env, type, elems, ab, 0, &arr);
  napi_create_reference(env, ab, 1, keep);
  return arr;
}

/*
 * open(iface, { frameSize, rxFrames, txFrames, batch, fanoutGroup?, maxRounds?, txRing?, qdiscBypass?,
 *              coalesceUs?, busyFrames? }, onBatch)
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
  uint32_t qdisc_bypass = 0, coalesce_us = 0, busy_frames = 8;
  opt_u32(env, argv[1], "qdiscBypass", &qdisc_bypass);
  opt_u32(env, argv[1], "coalesceUs", &coalesce_us);
  opt_u32(env, argv[1], "busyFrames", &busy_frames);
  long page = sysconf(_SC_PAGESIZE);
  /* coalesceUs: at most dp/io/ring-port.ts RX_COALESCE_US_MAX, which the dp checks first. */
  if (frame_size < 256 || (frame_size & (frame_size - 1)) || batch == 0 || batch > 65536 || max_rounds == 0 ||
      rx_frames < batch || (tx_ring && tx_frames < 16) || coalesce_us > 10000) {
    napi_throw_range_error(env, "ERING", "bad ring geometry (frameSize power of two >= 256, rxFrames >= batch, txFrames >= 16, coalesceUs <= 10000)");
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
  p->coalesce_us = coalesce_us; p->busy_frames = busy_frames;
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

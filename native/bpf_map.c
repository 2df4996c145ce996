/*
 * bpf_map: the few bpf() syscalls the Tollgate dp needs to write the steering program's
 * fast-path verdict map (N-API, plain C, no libbpf).
 *
 * Every call that touches entries takes a batch: keys (and values) packed back to back
 * in one Uint8Array, a count, and an Int32Array that receives 0 or the errno per entry.
 * So one JS call covers a whole batch of adds or deletes and nothing is allocated per
 * entry. The syscalls themselves never sleep on a hash map (BPF_F_NO_PREALLOC is not
 * used, so updates take preallocated elements), which is why the dp may make them from
 * its packet loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "napi_util.h"

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* bpf_map errors carry no code (dp/fastpath/bpf-map-native.ts reads the errno text). */
static napi_value throw_errno(napi_env env, const char *what, int err) { return throw_errno_as(env, NULL, what, err); }

/* open(pathOrId): fd of a pinned map (string path) or of a map by id (number). */
static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, 1, argv, NULL, "bpf_map.open: 1 argument expected")) return NULL;
  napi_valuetype vt;
  NAPI_CALL(env, napi_typeof(env, argv[0], &vt));
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  long fd;
  if (vt == napi_string) {
    char path[512];
    size_t n;
    NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], path, sizeof path, &n));
    if (n >= sizeof path - 1) return throw_errno(env, "map path too long", ENAMETOOLONG);
    a.pathname = (uint64_t)(uintptr_t)path;
    fd = sys_bpf(BPF_OBJ_GET, &a);
    if (fd < 0) return throw_errno(env, path, errno);
  } else {
    uint32_t id;
    NAPI_CALL(env, napi_get_value_uint32(env, argv[0], &id));
    a.map_id = id;
    fd = sys_bpf(BPF_MAP_GET_FD_BY_ID, &a);
    if (fd < 0) return throw_errno(env, "map id", errno);
  }
  return num(env, (double)fd);
}

/* info(fd): { type, keySize, valueSize, maxEntries, id, name }. */
static napi_value js_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, 1, argv, NULL, "bpf_map.info: 1 argument expected")) return NULL;
  int32_t fd;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  struct bpf_map_info mi;
  memset(&mi, 0, sizeof mi);
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.info.bpf_fd = fd;
  a.info.info_len = sizeof mi;
  a.info.info = (uint64_t)(uintptr_t)&mi;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0) return throw_errno(env, "map info", errno);
  napi_value o, name;
  NAPI_CALL(env, napi_create_object(env, &o));
  napi_set_named_property(env, o, "type", num(env, mi.type));
  napi_set_named_property(env, o, "keySize", num(env, mi.key_size));
  napi_set_named_property(env, o, "valueSize", num(env, mi.value_size));
  napi_set_named_property(env, o, "maxEntries", num(env, mi.max_entries));
  napi_set_named_property(env, o, "id", num(env, mi.id));
  NAPI_CALL(env, napi_create_string_utf8(env, mi.name, strnlen(mi.name, sizeof mi.name), &name));
  napi_set_named_property(env, o, "name", name);
  return o;
}

/*
 * op(fd, cmd, keys, keySize, values, valueSize, n, flags, errs): n updates (cmd 0),
 * deletes (1), lookups (2, values written back) or lookup-and-deletes (3: the value as it
 * was when the entry went, so no count of the kernel's is lost between a read and a
 * delete). errs[i] = 0 or errno. Returns the number of entries that succeeded.
 */
static napi_value js_op(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!get_args(env, info, 9, 9, argv, NULL, "bpf_map.op: 9 arguments expected")) return NULL;
  int32_t fd, cmd;
  uint32_t ks, vs, n, flags;
  uint8_t *keys = NULL, *vals = NULL, *errs = NULL;
  size_t klen = 0, vlen = 0, elen = 0;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_int32(env, argv[1], &cmd));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &ks));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[5], &vs));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[6], &n));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[7], &flags));
  if (get_bytes(env, argv[2], &keys, &klen) || get_bytes(env, argv[4], &vals, &vlen) ||
      get_bytes(env, argv[8], &errs, &elen)) {
    napi_throw_type_error(env, NULL, "bpf_map.op: keys/values must be Uint8Array, errs Int32Array");
    return NULL;
  }
  if ((size_t)n * ks > klen || (cmd != 1 && (size_t)n * vs > vlen) || (size_t)n * 4 > elen) {
    napi_throw_range_error(env, NULL, "bpf_map.op: buffers shorter than n entries");
    return NULL;
  }
  int32_t *e = (int32_t *)errs;
  uint32_t ok = 0;
  for (uint32_t i = 0; i < n; i++) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = fd;
    a.key = (uint64_t)(uintptr_t)(keys + (size_t)i * ks);
    long r;
    if (cmd == 0) {
      a.value = (uint64_t)(uintptr_t)(vals + (size_t)i * vs);
      a.flags = flags;
      r = sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
    } else if (cmd == 1) {
      r = sys_bpf(BPF_MAP_DELETE_ELEM, &a);
    } else if (cmd == 3) {
      a.value = (uint64_t)(uintptr_t)(vals + (size_t)i * vs);
      r = sys_bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, &a);
    } else {
      a.value = (uint64_t)(uintptr_t)(vals + (size_t)i * vs);
      r = sys_bpf(BPF_MAP_LOOKUP_ELEM, &a);
    }
    e[i] = r < 0 ? errno : 0;
    if (r >= 0) ok++;
  }
  return num(env, ok);
}

/*
 * keys(fd, out, keySize, max): walks the map with BPF_MAP_GET_NEXT_KEY, writing up to
 * max keys into out; returns how many.
 */
static napi_value js_keys(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, 4, argv, NULL, "bpf_map.keys: 4 arguments expected")) return NULL;
  int32_t fd;
  uint32_t ks, max;
  uint8_t *out;
  size_t olen;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[2], &ks));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &max));
  if (get_bytes(env, argv[1], &out, &olen) || (size_t)max * ks > olen || ks == 0 || ks > 512) {
    napi_throw_range_error(env, NULL, "bpf_map.keys: bad buffer or key size");
    return NULL;
  }
  uint32_t n = 0;
  uint8_t *prev = NULL;
  while (n < max) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = fd;
    a.key = (uint64_t)(uintptr_t)prev;
    a.next_key = (uint64_t)(uintptr_t)(out + (size_t)n * ks);
    if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a) < 0) {
      if (errno == ENOENT) break;
      return throw_errno(env, "map get_next_key", errno);
    }
    prev = out + (size_t)n * ks;
    n++;
  }
  return num(env, n);
}

/* monoNs(): CLOCK_MONOTONIC in ns, the clock bpf_ktime_get_ns() reads (as a double: exact to 2^53 ns ≈ 104 days of uptime, then ns-rounded). */
static napi_value js_mono(napi_env env, napi_callback_info info) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return num(env, (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, 1, argv, NULL, "bpf_map.close: 1 argument expected")) return NULL;
  int32_t fd;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  if (fd >= 0) close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
    {"op", NULL, js_op, NULL, NULL, NULL, napi_default, NULL},
    {"keys", NULL, js_keys, NULL, NULL, NULL, napi_default, NULL},
    {"monoNs", NULL, js_mono, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

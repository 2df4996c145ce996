/*
 * napi_util.h: the N-API argument plumbing the addons share (packet_ring, bpf_map), so each
 * exported function states its arguments in one line instead of a dozen calls. Header-only
 * (static inline): each addon is its own shared object.
 */
#ifndef TOLLGATE_NAPI_UTIL_H
#define TOLLGATE_NAPI_UTIL_H
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <node_api.h>

/* Returns NULL (a pending JS exception) from the calling function when an N-API call fails. */
#define NAPI_CALL(env, call)                                                              \
  do {                                                                                    \
    if ((call) != napi_ok) {                                                              \
      napi_throw_error((env), NULL, "N-API call failed: " #call);                         \
      return NULL;                                                                        \
    }                                                                                     \
  } while (0)

/* Throws Error("<what>: <strerror(err)>") with `code` (NULL for none); returns NULL. */
static inline napi_value throw_errno_as(napi_env env, const char *code, const char *what, int err) {
  char msg[768]; /* room for a 511-byte path and the errno text */
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

/*
 * The call's arguments into argv (room for `max`) and its bound data; false, with a
 * TypeError `usage` thrown, when fewer than `min` were passed.
 */
static inline bool get_args(napi_env env, napi_callback_info info, size_t min, size_t max, napi_value *argv,
                            void **data, const char *usage) {
  size_t argc = max;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, data) != napi_ok || argc < min) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  return true;
}

static inline napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static inline napi_value boolean(napi_env env, bool v) {
  napi_value r;
  napi_get_boolean(env, v, &r);
  return r;
}

static inline napi_value undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

/* The bytes of a Uint8Array, Int32Array or Uint32Array; -1 for anything else. */
static inline int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type t;
  size_t n, off;
  void *d;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &t, &n, &d, &ab, &off) != napi_ok) return -1;
  size_t el = (t == napi_int32_array || t == napi_uint32_array) ? 4 : (t == napi_uint8_array ? 1 : 0);
  if (!el) return -1;
  *data = d;
  *len = n * el;
  return 0;
}

/* obj[name] as a u32 when it is a number; 0 (out untouched) when absent or not a number. */
static inline int opt_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  bool has = false;
  napi_value v;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  napi_get_named_property(env, obj, name, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}
#endif

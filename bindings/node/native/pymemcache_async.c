/*
 * pymemcache_async.c: the Node-API addon behind the binding's event-loop
 * *Async methods (getAsync, setAsync, deleteAsync, Batch#executeAsync).
 *
 * It owns one pmc_async (the library's non-blocking client, see
 * include/pymemcache.h) per Client and drives it from Node's own libuv loop
 * on the main thread: a uv_poll_t per descriptor that pmc_async_watches
 * names, one uv_timer_t for pmc_async_timeout_ms, pmc_async_step when either
 * fires, and every completion settles the Promise of its token. No thread is
 * started, no worker is held while a call waits for memcached.
 *
 * The library is the one koffi loaded (lib/ffi.js): load(path) dlopens that
 * very file and looks the functions up, so koffi and the addon share one copy
 * (a pmc_batch made through koffi is run here) and no link-time path is
 * baked into the addon. lib/addon.js compiles this file with the C compiler
 * on first use (or `npm run build-addon`).
 *
 * The loop is kept alive only while a call is in flight: the poll handles
 * and the timer are unref'd when nothing is pending.
 */
#define NAPI_VERSION 8
#include <dlfcn.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "pymemcache.h"

/* ---- the library's functions, looked up in the file koffi loaded ---------- */

#define PMC_REQUIRED_FUNCS(X)                                                  \
  X(pmc_async_new)                                                             \
  X(pmc_async_free)                                                            \
  X(pmc_async_get)                                                             \
  X(pmc_async_set)                                                             \
  X(pmc_async_delete)                                                          \
  X(pmc_async_watches)                                                         \
  X(pmc_async_timeout_ms)                                                      \
  X(pmc_async_step)                                                            \
  X(pmc_async_next)                                                            \
  X(pmc_async_pending)                                                         \
  X(pmc_completion_clear)                                                      \
  X(pmc_error_status)                                                          \
  X(pmc_error_message)                                                         \
  X(pmc_error_free)
#define PMC_OPTIONAL_FUNCS(X) X(pmc_async_batch)

#define DECLARE_FN(name) __typeof__(name) *name;
static struct {
  PMC_REQUIRED_FUNCS(DECLARE_FN)
  PMC_OPTIONAL_FUNCS(DECLARE_FN)
} api;
static int api_loaded;

/* Completions delivered (a counter the tests read: proof that the addon,
   not a worker thread, ran the calls). */
static uint64_t total_completed;

/* ---- errors ----------------------------------------------------------------- */

#define NAPI_CALL(env, call)                                                   \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      throw_last(env, #call);                                                  \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static void throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  napi_get_last_error_info(env, &info);
  char msg[512];
  snprintf(msg, sizeof msg, "pymemcache addon: %s failed: %s", what,
           info && info->error_message ? info->error_message : "?");
  napi_throw_error(env, NULL, msg);
}

/* ---- the engine: one pmc_async and its handles ------------------------------ */

enum op_kind { OP_GET = 1, OP_SET, OP_DELETE, OP_BATCH };

/* One in-flight call: its Promise. Free slots form a list through next_free. */
typedef struct slot {
  napi_deferred deferred;
  uint32_t next_free;
  uint8_t kind; /* enum op_kind; 0: free */
} slot;

struct engine;

/* A watched descriptor. dev/ino tell a socket from a later one that the
   library opened under the same number (a reconnect inside one step). */
typedef struct watcher {
  uv_poll_t handle;
  struct engine *eng;
  int fd;
  int events; /* PMC_WANT_* being polled for */
  dev_t dev;
  ino_t ino;
  int seen;
} watcher;

typedef struct engine {
  napi_env env;
  napi_ref self; /* weak while idle; strong while calls are in flight */
  napi_async_context actx;
  uv_loop_t *loop;
  pmc_async *a;
  uv_timer_t timer;
  int timer_armed;
  watcher **watchers;
  size_t n_watchers, cap_watchers;
  pmc_watch *scratch;
  size_t cap_scratch;
  slot *slots;
  uint32_t n_slots, free_head;
  size_t inflight; /* Promises not settled yet */
  int in_callback;
  int destroy_requested;
  int destroyed;
  uint64_t completed;
} engine;

#define NO_SLOT UINT32_MAX

static uint32_t slot_alloc(engine *e) {
  if (e->free_head == NO_SLOT) {
    uint32_t n = e->n_slots ? e->n_slots * 2 : 64;
    slot *s = realloc(e->slots, (size_t)n * sizeof *s);
    if (!s) return NO_SLOT;
    for (uint32_t i = e->n_slots; i < n; i++) {
      s[i].deferred = NULL;
      s[i].kind = 0;
      s[i].next_free = i + 1 < n ? i + 1 : NO_SLOT;
    }
    e->free_head = e->n_slots;
    e->slots = s;
    e->n_slots = n;
  }
  uint32_t i = e->free_head;
  e->free_head = e->slots[i].next_free;
  return i;
}

static void slot_release(engine *e, uint32_t i) {
  e->slots[i].kind = 0;
  e->slots[i].deferred = NULL;
  e->slots[i].next_free = e->free_head;
  e->free_head = i;
}

static void on_poll(uv_poll_t *h, int status, int events);
static void on_timer(uv_timer_t *t);

static void watcher_closed(uv_handle_t *h) { free(h->data); }

static void watcher_retire(watcher *w) {
  uv_poll_stop(&w->handle);
  uv_close((uv_handle_t *)&w->handle, watcher_closed);
}

static int to_uv_events(int ev) {
  return ((ev & PMC_WANT_READ) ? UV_READABLE : 0) |
         ((ev & PMC_WANT_WRITE) ? UV_WRITABLE : 0);
}

/* Keep the loop alive exactly while calls are in flight. */
static void set_liveness(engine *e) {
  int live = e->inflight > 0;
  for (size_t i = 0; i < e->n_watchers; i++) {
    if (live)
      uv_ref((uv_handle_t *)&e->watchers[i]->handle);
    else
      uv_unref((uv_handle_t *)&e->watchers[i]->handle);
  }
  if (live)
    uv_ref((uv_handle_t *)&e->timer);
  else
    uv_unref((uv_handle_t *)&e->timer);
}

/* Bring the poll handles and the timer in line with what the library wants
   now. Called after every submit and every step, before control goes back
   to the loop (descriptors change on reconnect). */
static void sync_watches(engine *e) {
  if (!e->a) return;
  size_t n = api.pmc_async_watches(e->a, e->scratch, e->cap_scratch);
  if (n > e->cap_scratch) {
    size_t cap = n * 2;
    pmc_watch *s = realloc(e->scratch, cap * sizeof *s);
    if (s) {
      e->scratch = s;
      e->cap_scratch = cap;
    }
    n = api.pmc_async_watches(e->a, e->scratch, e->cap_scratch);
    if (n > e->cap_scratch) n = e->cap_scratch;
  }
  for (size_t i = 0; i < e->n_watchers; i++) e->watchers[i]->seen = 0;
  for (size_t k = 0; k < n; k++) {
    int fd = e->scratch[k].fd;
    int ev = e->scratch[k].events & (PMC_WANT_READ | PMC_WANT_WRITE);
    if (fd < 0 || ev == 0) continue;
    struct stat st;
    int have_stat = fstat(fd, &st) == 0;
    watcher *w = NULL;
    for (size_t i = 0; i < e->n_watchers; i++) {
      if (e->watchers[i]->fd == fd && !e->watchers[i]->seen) {
        w = e->watchers[i];
        break;
      }
    }
    if (w && have_stat && (w->dev != st.st_dev || w->ino != st.st_ino)) {
      /* Another socket under the old number: drop the old handle (its
         registration went with the old socket). */
      watcher_retire(w);
      for (size_t i = 0; i < e->n_watchers; i++) {
        if (e->watchers[i] == w) {
          e->watchers[i] = e->watchers[--e->n_watchers];
          break;
        }
      }
      w = NULL;
    }
    if (!w) {
      if (e->n_watchers == e->cap_watchers) {
        size_t cap = e->cap_watchers ? e->cap_watchers * 2 : 4;
        watcher **ws = realloc(e->watchers, cap * sizeof *ws);
        if (!ws) continue;
        e->watchers = ws;
        e->cap_watchers = cap;
      }
      w = calloc(1, sizeof *w);
      if (!w) continue;
      if (uv_poll_init(e->loop, &w->handle, fd) != 0) {
        free(w);
        continue;
      }
      w->handle.data = w;
      w->eng = e;
      w->fd = fd;
      w->events = 0;
      if (have_stat) {
        w->dev = st.st_dev;
        w->ino = st.st_ino;
      }
      e->watchers[e->n_watchers++] = w;
    }
    w->seen = 1;
    if (w->events != ev) {
      w->events = ev;
      uv_poll_start(&w->handle, to_uv_events(ev), on_poll);
    }
  }
  for (size_t i = 0; i < e->n_watchers;) {
    if (!e->watchers[i]->seen) {
      watcher_retire(e->watchers[i]);
      e->watchers[i] = e->watchers[--e->n_watchers];
    } else {
      i++;
    }
  }
  int t = api.pmc_async_timeout_ms(e->a);
  if (t < 0) {
    if (e->timer_armed) uv_timer_stop(&e->timer);
    e->timer_armed = 0;
  } else {
    uv_timer_start(&e->timer, on_timer, (uint64_t)t, 0);
    e->timer_armed = 1;
  }
  set_liveness(e);
}

/* The reference to the JS object is strong while anything is in flight, so
   a Client dropped with calls pending still settles them. */
static void inflight_add(engine *e, int delta) {
  size_t before = e->inflight;
  e->inflight = (size_t)((long long)e->inflight + delta);
  uint32_t rc;
  if (before == 0 && e->inflight > 0) napi_reference_ref(e->env, e->self, &rc);
  if (before > 0 && e->inflight == 0) napi_reference_unref(e->env, e->self, &rc);
}

static napi_value make_result(napi_env env, int status, const char *message,
                              const uint8_t *value, size_t value_len,
                              uint32_t flags, int with_value) {
  napi_value r, v;
  if (!message && !with_value) {
    napi_create_int32(env, status, &r);
    return r;
  }
  napi_create_object(env, &r);
  napi_create_int32(env, status, &v);
  napi_set_named_property(env, r, "status", v);
  if (message) {
    napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, r, "message", v);
  }
  if (with_value) {
    void *data = NULL;
    napi_create_buffer_copy(env, value_len, value_len ? (const void *)value : "",
                            &data, &v);
    napi_set_named_property(env, r, "value", v);
    napi_create_uint32(env, flags, &v);
    napi_set_named_property(env, r, "flags", v);
  }
  return r;
}

/* Settle the Promise of every completed call. */
static void drain(engine *e) {
  napi_env env = e->env;
  pmc_completion c;
  memset(&c, 0, sizeof c);
  while (e->a && api.pmc_async_next(e->a, &c)) {
    uint64_t token = c.token;
    if (token < e->n_slots && e->slots[token].kind != 0) {
      slot *s = &e->slots[token];
      const char *message = NULL;
      if (c.status >= 10)
        message = c.error ? api.pmc_error_message(c.error) : NULL;
      int with_value = s->kind == OP_GET && c.status == PMC_OK;
      napi_value r = make_result(env, c.status, message ? message : (c.status >= 10 ? "" : NULL),
                                 c.value, c.value_len, c.flags, with_value);
      napi_resolve_deferred(env, s->deferred, r);
      slot_release(e, (uint32_t)token);
      e->completed++;
      total_completed++;
      inflight_add(e, -1);
    }
    api.pmc_completion_clear(&c);
  }
}

static void engine_destroy(engine *e);

/* A descriptor or the timer fired: step, settle, re-arm; Promise reactions
   run when the callback scope closes. */
static void run_step(engine *e, int fd, int events) {
  napi_env env = e->env;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_value resource = NULL;
  napi_get_reference_value(env, e->self, &resource);
  if (!resource) napi_create_object(env, &resource);
  napi_callback_scope cs;
  int scoped = napi_open_callback_scope(env, resource, e->actx, &cs) == napi_ok;
  e->in_callback++;
  if (e->a) {
    api.pmc_async_step(e->a, fd, events, NULL);
    drain(e);
    sync_watches(e);
  }
  if (scoped) napi_close_callback_scope(env, cs);
  e->in_callback--;
  /* close() called by a Promise reaction just now: done here, in a scope. */
  if (e->destroy_requested && e->in_callback == 0) engine_destroy(e);
  napi_close_handle_scope(env, hs);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  watcher *w = h->data;
  int ev = 0;
  if (status < 0) {
    ev = PMC_WANT_READ | PMC_WANT_WRITE;
  } else {
    if (events & UV_READABLE) ev |= PMC_WANT_READ;
    if (events & UV_WRITABLE) ev |= PMC_WANT_WRITE;
    if (events & UV_DISCONNECT) ev |= PMC_WANT_READ;
  }
  run_step(w->eng, w->fd, ev);
}

static void on_timer(uv_timer_t *t) {
  engine *e = t->data;
  e->timer_armed = 0;
  run_step(e, -1, 0);
}

static void engine_memory_free(uv_handle_t *h) {
  engine *e = h->data;
  free(e->slots);
  free(e->watchers);
  free(e->scratch);
  free(e);
}

/* Free the pmc_async (closing its sockets), stop and close the handles; the
   memory goes when the timer's close callback runs. Calls still in flight
   are settled with status -1 (the JS side makes that a ClosedError) when
   `settle` is set (not from a finalizer). */
static void engine_teardown(engine *e, int settle) {
  if (e->destroyed) return;
  e->destroyed = 1;
  for (size_t i = 0; i < e->n_watchers; i++) watcher_retire(e->watchers[i]);
  e->n_watchers = 0;
  if (e->a) {
    api.pmc_async_free(e->a);
    e->a = NULL;
  }
  for (uint32_t i = 0; i < e->n_slots; i++) {
    if (e->slots[i].kind == 0) continue;
    if (settle) {
      napi_value r = make_result(e->env, -1, "the client was closed with the call in flight",
                                 NULL, 0, 0, 0);
      napi_resolve_deferred(e->env, e->slots[i].deferred, r);
    }
    slot_release(e, i);
  }
  e->inflight = 0;
  if (e->actx) {
    napi_async_destroy(e->env, e->actx);
    e->actx = NULL;
  }
  uv_timer_stop(&e->timer);
  uv_close((uv_handle_t *)&e->timer, engine_memory_free);
}

/* close() from JS: the wrap goes, the reference goes, the engine goes. */
static void engine_destroy(engine *e) {
  napi_env env = e->env;
  napi_value self = NULL;
  if (e->self) {
    napi_get_reference_value(env, e->self, &self);
    if (self) napi_remove_wrap(env, self, NULL);
    napi_delete_reference(env, e->self);
    e->self = NULL;
  }
  engine_teardown(e, 1);
}

static void engine_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  engine *e = data;
  if (e->self) {
    napi_delete_reference(env, e->self);
    e->self = NULL;
  }
  engine_teardown(e, 0);
}

/* ---- JS functions ----------------------------------------------------------- */

static engine *this_engine(napi_env env, napi_callback_info info, size_t *argc,
                           napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_error(env, NULL, "pymemcache addon: the engine is closed");
    return NULL;
  }
  engine *e = data;
  if (e->destroy_requested || !e->a) {
    napi_throw_error(env, NULL, "pymemcache addon: the engine is closed");
    return NULL;
  }
  return e;
}

/* Bytes of a Buffer or Uint8Array argument, and the length to use (lenv:
   at most the buffer's; the binding passes a one-byte buffer for an empty
   key or value so that the pointer is never NULL). */
static int get_bytes_n(napi_env env, napi_value v, napi_value lenv, const uint8_t **p,
                       size_t *len);
static int get_bytes(napi_env env, napi_value v, const uint8_t **p, size_t *len) {
  bool is = false;
  void *data = NULL;
  if (napi_is_buffer(env, v, &is) == napi_ok && is) {
    if (napi_get_buffer_info(env, v, &data, len) != napi_ok) return 0;
    *p = data;
    return 1;
  }
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type t;
    size_t n;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v, &t, &n, &data, &ab, &off) != napi_ok ||
        t != napi_uint8_array)
      return 0;
    *p = data;
    *len = n;
    return 1;
  }
  napi_throw_type_error(env, NULL, "pymemcache addon: expected a Buffer");
  return 0;
}

static int get_bytes_n(napi_env env, napi_value v, napi_value lenv, const uint8_t **p,
                       size_t *len) {
  size_t have = 0;
  if (!get_bytes(env, v, p, &have)) return 0;
  uint32_t want = 0;
  if (napi_get_value_uint32(env, lenv, &want) != napi_ok || want > have) {
    napi_throw_range_error(env, NULL, "pymemcache addon: length beyond the buffer");
    return 0;
  }
  *len = want;
  return 1;
}

static uint64_t get_u64(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    uint64_t r = 0;
    bool lossless;
    napi_get_value_bigint_uint64(env, v, &r, &lossless);
    return r;
  }
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d > 0 ? (uint64_t)d : 0;
}

static int64_t get_i64(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  int64_t r = 0;
  if (t == napi_bigint) {
    bool lossless;
    napi_get_value_bigint_int64(env, v, &r, &lossless);
  } else {
    napi_get_value_int64(env, v, &r);
  }
  return r;
}

static uint32_t get_u32(napi_env env, napi_value v) {
  uint32_t r = 0;
  napi_get_value_uint32(env, v, &r);
  return r;
}

/* A submitted call: its Promise, settled now with the submit's error, or
   later by its completion. */
typedef struct submission {
  engine *e;
  uint32_t token;
  napi_value promise;
} submission;

static int submit_begin(napi_env env, engine *e, int kind, submission *s) {
  s->e = e;
  s->token = slot_alloc(e);
  if (s->token == NO_SLOT) {
    napi_throw_error(env, NULL, "pymemcache addon: out of memory");
    return 0;
  }
  if (napi_create_promise(env, &e->slots[s->token].deferred, &s->promise) != napi_ok) {
    slot_release(e, s->token);
    throw_last(env, "napi_create_promise");
    return 0;
  }
  e->slots[s->token].kind = (uint8_t)kind;
  return 1;
}

static napi_value submit_end(napi_env env, submission *s, pmc_status st, pmc_error *err) {
  engine *e = s->e;
  if (st != PMC_OK) {
    /* Refused at submit (bad key, value too large...): nothing queued. */
    const char *msg = err ? api.pmc_error_message(err) : NULL;
    napi_value r = make_result(env, st, msg ? msg : "", NULL, 0, 0, 0);
    napi_resolve_deferred(env, e->slots[s->token].deferred, r);
    slot_release(e, s->token);
    if (err) api.pmc_error_free(err);
    return s->promise;
  }
  if (err) api.pmc_error_free(err);
  inflight_add(e, 1);
  sync_watches(e);
  return s->promise;
}

/* get and delete: (key, keyLen, timeoutMs) -> Promise. */
static napi_value submit_key_op(napi_env env, napi_callback_info info, int kind) {
  size_t argc = 3;
  napi_value argv[3];
  engine *e = this_engine(env, info, &argc, argv);
  if (!e) return NULL;
  const uint8_t *key;
  size_t klen;
  if (argc < 3 || !get_bytes_n(env, argv[0], argv[1], &key, &klen)) return NULL;
  uint32_t timeout = get_u32(env, argv[2]);
  submission s;
  if (!submit_begin(env, e, kind, &s)) return NULL;
  pmc_error *err = NULL;
  pmc_status st = kind == OP_GET
                      ? api.pmc_async_get(e->a, key, klen, s.token, timeout, &err)
                      : api.pmc_async_delete(e->a, key, klen, s.token, timeout, &err);
  return submit_end(env, &s, st, err);
}

/* engine.get(key, keyLen, timeoutMs) -> Promise<status | {status, value,
   flags} | {status, message}> */
static napi_value js_get(napi_env env, napi_callback_info info) {
  return submit_key_op(env, info, OP_GET);
}

/* engine.delete(key, keyLen, timeoutMs) -> Promise<status | {status, message}> */
static napi_value js_delete(napi_env env, napi_callback_info info) {
  return submit_key_op(env, info, OP_DELETE);
}

/* engine.set(key, keyLen, value, valueLen, flags, expire, timeoutMs) ->
   Promise */
static napi_value js_set(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  engine *e = this_engine(env, info, &argc, argv);
  if (!e) return NULL;
  const uint8_t *key, *value;
  size_t klen, vlen;
  if (argc < 7 || !get_bytes_n(env, argv[0], argv[1], &key, &klen) ||
      !get_bytes_n(env, argv[2], argv[3], &value, &vlen))
    return NULL;
  uint32_t flags = get_u32(env, argv[4]);
  int64_t expire = get_i64(env, argv[5]);
  uint32_t timeout = get_u32(env, argv[6]);
  submission s;
  if (!submit_begin(env, e, OP_SET, &s)) return NULL;
  pmc_error *err = NULL;
  pmc_status st = api.pmc_async_set(e->a, key, klen, value, vlen, flags,
                                    expire, s.token, timeout, &err);
  return submit_end(env, &s, st, err);
}

/* engine.batch(batchAddress, timeoutMs) -> Promise; the caller keeps the
   pmc_batch alive and untouched until it settles. */
static napi_value js_batch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  engine *e = this_engine(env, info, &argc, argv);
  if (!e) return NULL;
  if (!api.pmc_async_batch) {
    napi_throw_error(env, NULL, "pymemcache addon: the library has no pmc_async_batch");
    return NULL;
  }
  if (argc < 2) return NULL;
  pmc_batch *b = (pmc_batch *)(uintptr_t)get_u64(env, argv[0]);
  uint32_t timeout = get_u32(env, argv[1]);
  submission s;
  if (!submit_begin(env, e, OP_BATCH, &s)) return NULL;
  pmc_error *err = NULL;
  pmc_status st = api.pmc_async_batch(e->a, b, s.token, timeout, &err);
  /* A batch whose every command was refused before sending (a bad key, a
     value too large) completes at submit, with no socket to watch: its
     completion waits, so pmc_async_timeout_ms is 0 and submit_end's
     sync_watches arms the timer to step at once. */
  return submit_end(env, &s, st, err);
}

/* engine.close(): settles what is in flight with status -1, frees the client. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) return NULL;
  engine *e = data;
  if (e->in_callback) {
    e->destroy_requested = 1;
    return NULL;
  }
  engine_destroy(e);
  return NULL;
}

static napi_value set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, name, n);
  return obj;
}

/* engine.stats() -> {inflight, pending, watchers, completed} */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  engine *e = this_engine(env, info, &argc, NULL);
  if (!e) return NULL;
  napi_value r;
  NAPI_CALL(env, napi_create_object(env, &r));
  set_num(env, r, "inflight", (double)e->inflight);
  set_num(env, r, "pending", (double)api.pmc_async_pending(e->a));
  set_num(env, r, "watchers", (double)e->n_watchers);
  set_num(env, r, "completed", (double)e->completed);
  return r;
}

/* new AsyncEngine(servers: string[], optionsAddress: bigint (0: none)) */
static napi_value js_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (!api_loaded) {
    napi_throw_error(env, NULL, "pymemcache addon: load(libraryPath) first");
    return NULL;
  }
  bool is_array = false;
  if (argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "pymemcache addon: servers must be an array of strings");
    return NULL;
  }
  uint32_t n = 0;
  NAPI_CALL(env, napi_get_array_length(env, argv[0], &n));
  char **servers = calloc(n ? n : 1, sizeof *servers);
  if (!servers) {
    napi_throw_error(env, NULL, "pymemcache addon: out of memory");
    return NULL;
  }
  int ok = 1;
  for (uint32_t i = 0; i < n && ok; i++) {
    napi_value v;
    size_t len = 0;
    ok = napi_get_element(env, argv[0], i, &v) == napi_ok &&
         napi_get_value_string_utf8(env, v, NULL, 0, &len) == napi_ok &&
         (servers[i] = malloc(len + 1)) != NULL &&
         napi_get_value_string_utf8(env, v, servers[i], len + 1, &len) == napi_ok;
  }
  const pmc_options *opts = (const pmc_options *)(uintptr_t)get_u64(env, argv[1]);
  pmc_async *a = NULL;
  pmc_error *err = NULL;
  pmc_status st = PMC_OK;
  if (ok) st = api.pmc_async_new((const char *const *)servers, n, opts, &a, &err);
  for (uint32_t i = 0; i < n; i++) free(servers[i]);
  free(servers);
  if (!ok) {
    throw_last(env, "reading the servers");
    return NULL;
  }
  if (st != PMC_OK) {
    /* A JS Error with .status: the binding falls back to worker threads
       for a client the non-blocking API does not take. */
    napi_value msg, error, code;
    const char *m = err ? api.pmc_error_message(err) : "pmc_async_new failed";
    napi_create_string_utf8(env, m ? m : "pmc_async_new failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_create_int32(env, st, &code);
    napi_set_named_property(env, error, "status", code);
    if (err) api.pmc_error_free(err);
    napi_throw(env, error);
    return NULL;
  }
  engine *e = calloc(1, sizeof *e);
  if (!e) {
    api.pmc_async_free(a);
    napi_throw_error(env, NULL, "pymemcache addon: out of memory");
    return NULL;
  }
  e->env = env;
  e->a = a;
  e->free_head = NO_SLOT;
  napi_get_uv_event_loop(env, &e->loop);
  uv_timer_init(e->loop, &e->timer);
  e->timer.data = e;
  uv_unref((uv_handle_t *)&e->timer);
  napi_value name;
  napi_create_string_utf8(env, "pymemcache:async", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &e->actx);
  if (napi_wrap(env, self, e, engine_finalize, NULL, &e->self) != napi_ok) {
    engine_teardown(e, 0);
    throw_last(env, "napi_wrap");
    return NULL;
  }
  return self;
}

/* load(libraryPath) -> { batch: boolean }: dlopen the file koffi loaded and
   look up the functions; throws naming a missing one (an older library). */
static napi_value js_load(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len = 0;
  if (argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "pymemcache addon: load(path): a string");
    return NULL;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    char msg[4400];
    snprintf(msg, sizeof msg, "pymemcache addon: dlopen %s: %s", path, dlerror());
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
#define LOOKUP_REQUIRED(name)                                                  \
  *(void **)(&api.name) = dlsym(h, #name);                                     \
  if (!api.name) {                                                             \
    char msg[4400];                                                            \
    snprintf(msg, sizeof msg,                                                  \
             "pymemcache addon: %s has no " #name                              \
             " (a library without the non-blocking API)",                      \
             path);                                                            \
    napi_throw_error(env, NULL, msg);                                          \
    return NULL;                                                               \
  }
#define LOOKUP_OPTIONAL(name) *(void **)(&api.name) = dlsym(h, #name);
  PMC_REQUIRED_FUNCS(LOOKUP_REQUIRED)
  PMC_OPTIONAL_FUNCS(LOOKUP_OPTIONAL)
  api_loaded = 1;
  napi_value r, b;
  NAPI_CALL(env, napi_create_object(env, &r));
  napi_get_boolean(env, api.pmc_async_batch != NULL, &b);
  napi_set_named_property(env, r, "batch", b);
  return r;
}

/* completed() -> completions delivered by every engine of this process. */
static napi_value js_completed(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  NAPI_CALL(env, napi_create_double(env, (double)total_completed, &r));
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"get", NULL, js_get, NULL, NULL, NULL, napi_default, NULL},
      {"set", NULL, js_set, NULL, NULL, NULL, napi_default, NULL},
      {"delete", NULL, js_delete, NULL, NULL, NULL, napi_default, NULL},
      {"batch", NULL, js_batch, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, fn;
  NAPI_CALL(env, napi_define_class(env, "AsyncEngine", NAPI_AUTO_LENGTH, js_new, NULL,
                                   sizeof methods / sizeof methods[0], methods, &cls));
  NAPI_CALL(env, napi_set_named_property(env, exports, "AsyncEngine", cls));
  NAPI_CALL(env, napi_create_function(env, "load", NAPI_AUTO_LENGTH, js_load, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "load", fn));
  NAPI_CALL(env, napi_create_function(env, "completed", NAPI_AUTO_LENGTH, js_completed, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, exports, "completed", fn));
  return exports;
}

NAPI_MODULE(pymemcache_async, init)

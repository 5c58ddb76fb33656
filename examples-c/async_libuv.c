/*
 * async_libuv.c: the non-blocking API (pmc_async_*) driven by a libuv loop
 * on one thread.
 *
 * A uv_poll_t per descriptor that pmc_async_watches names (re-asked after
 * every submit and every step: a reconnect gives a new descriptor, which
 * may even reuse the old number), a uv_timer_t armed with
 * pmc_async_timeout_ms, pmc_async_step when either fires, and the
 * completions collected by token. The loop runs while anything is pending:
 * with nothing pending every handle is stopped, so uv_run returns.
 *
 *  1. 1,000 sets in flight, then 1,000 gets and 100 misses in flight: every
 *     value checked against its token (value and flags derive from it).
 *  2. deletes in flight, then the deleted keys miss.
 *  3. a server that accepts but never answers: the get times out
 *     (PMC_TIMEOUT) through the timer while gets to the live server
 *     complete.
 *  4. a private memcached killed with gets in flight: each gets its error,
 *     none is lost or delivered twice; restarted, the next gets work on a
 *     new connection (a new socket for the poll handles).
 *
 * Usage: async_libuv STATE_DIR   (the ctest fixture's directory)
 */
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "test_util.h"

#define N_OPS 1000
#define N_MISSES 100
#define MAX_TOKENS (N_OPS + N_MISSES)

/* ---- the loop driver: everything a program needs to run pmc_async on uv --- */

/* One watched descriptor. dev/ino tell a socket from a later one that got
   the same number inside one step. */
typedef struct watch_handle {
  uv_poll_t poll;
  struct driver *d;
  int fd;
  int events;
  dev_t dev;
  ino_t ino;
  int seen;
} watch_handle;

typedef struct driver {
  uv_loop_t *loop;
  pmc_async *a;
  uv_timer_t timer;
  watch_handle *handles[16];
  size_t n_handles;
  /* Called for every completion (it must not free the driver). */
  void (*on_completion)(struct driver *d, const pmc_completion *c);
  void *user;
  unsigned long steps;
} driver;

static void on_poll(uv_poll_t *p, int status, int events);
static void on_timer(uv_timer_t *t);

static void handle_closed(uv_handle_t *h) { free(h->data); }

static void handle_drop(watch_handle *w) {
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, handle_closed);
}

/* Bring the poll handles and the timer in line with pmc_async_watches and
   pmc_async_timeout_ms; with nothing pending, stop everything. */
static void driver_rewatch(driver *d) {
  pmc_watch want[16];
  size_t n = pmc_async_pending(d->a) ? pmc_async_watches(d->a, want, 16) : 0;
  CHECK(n <= 16);
  for (size_t i = 0; i < d->n_handles; i++) d->handles[i]->seen = 0;
  for (size_t k = 0; k < n; k++) {
    struct stat st;
    CHECK(fstat(want[k].fd, &st) == 0);
    watch_handle *w = NULL;
    for (size_t i = 0; i < d->n_handles; i++) {
      watch_handle *h = d->handles[i];
      if (h->fd == want[k].fd && h->dev == st.st_dev && h->ino == st.st_ino) w = h;
    }
    if (!w) {
      /* A descriptor we do not watch yet. A handle on the same number for
         an older socket is dropped first (libuv takes one handle per fd). */
      for (size_t i = 0; i < d->n_handles; i++) {
        if (d->handles[i]->fd == want[k].fd) {
          handle_drop(d->handles[i]);
          d->handles[i] = d->handles[--d->n_handles];
          break;
        }
      }
      CHECK(d->n_handles < 16);
      w = calloc(1, sizeof *w);
      CHECK(w != NULL);
      CHECK(uv_poll_init(d->loop, &w->poll, want[k].fd) == 0);
      w->poll.data = w;
      w->d = d;
      w->fd = want[k].fd;
      w->dev = st.st_dev;
      w->ino = st.st_ino;
      d->handles[d->n_handles++] = w;
    }
    w->seen = 1;
    if (w->events != want[k].events) {
      int uv_events = ((want[k].events & PMC_WANT_READ) ? UV_READABLE : 0) |
                      ((want[k].events & PMC_WANT_WRITE) ? UV_WRITABLE : 0);
      CHECK(uv_poll_start(&w->poll, uv_events, on_poll) == 0);
      w->events = want[k].events;
    }
  }
  for (size_t i = 0; i < d->n_handles;) {
    if (!d->handles[i]->seen) {
      handle_drop(d->handles[i]);
      d->handles[i] = d->handles[--d->n_handles];
    } else {
      i++;
    }
  }
  int ms = pmc_async_timeout_ms(d->a);
  if (ms < 0 || pmc_async_pending(d->a) == 0)
    uv_timer_stop(&d->timer);
  else
    CHECK(uv_timer_start(&d->timer, on_timer, (uint64_t)ms, 0) == 0);
}

/* Step, hand every completion over, re-arm. */
static void driver_step(driver *d, int fd, int events) {
  CHECK_OK(pmc_async_step(d->a, fd, events, NULL));
  d->steps++;
  pmc_completion c;
  memset(&c, 0, sizeof c);
  while (pmc_async_next(d->a, &c)) {
    d->on_completion(d, &c);
    pmc_completion_clear(&c);
    CHECK(c.value == NULL && c.error == NULL); /* cleared: zeroed */
  }
  driver_rewatch(d);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  watch_handle *w = p->data;
  int ev = PMC_WANT_READ | PMC_WANT_WRITE; /* an error: let the step find out */
  if (status == 0) {
    ev = ((events & UV_READABLE) ? PMC_WANT_READ : 0) |
         ((events & UV_WRITABLE) ? PMC_WANT_WRITE : 0);
  }
  driver_step(w->d, w->fd, ev);
}

static void on_timer(uv_timer_t *t) { driver_step(t->data, -1, 0); }

static void driver_init(driver *d, uv_loop_t *loop, pmc_async *a,
                        void (*on_completion)(driver *, const pmc_completion *),
                        void *user) {
  memset(d, 0, sizeof *d);
  d->loop = loop;
  d->a = a;
  d->on_completion = on_completion;
  d->user = user;
  CHECK(uv_timer_init(loop, &d->timer) == 0);
  d->timer.data = d;
}

/* Run the loop until nothing is pending (call after submitting). */
static void driver_run(driver *d) {
  driver_rewatch(d);
  CHECK(uv_run(d->loop, UV_RUN_DEFAULT) == 0);
  CHECK_UINT(pmc_async_pending(d->a), 0);
}

static void driver_close(driver *d) {
  for (size_t i = 0; i < d->n_handles; i++) handle_drop(d->handles[i]);
  d->n_handles = 0;
  uv_close((uv_handle_t *)&d->timer, NULL);
  uv_run(d->loop, UV_RUN_DEFAULT); /* the close callbacks */
}

/* ---- what the program checks ----------------------------------------------- */

/* Token layout: the operation in the high bits, the key's index below. */
enum { OP_SET = 1, OP_GET = 2, OP_DEL = 3 };
#define TOKEN(op, i) (((uint64_t)(op) << 32) | (uint64_t)(i))
#define TOKEN_OP(t) ((int)((t) >> 32))
#define TOKEN_INDEX(t) ((size_t)((t)&0xffffffffu))

typedef struct tally {
  unsigned seen[MAX_TOKENS]; /* completions per key index, this phase */
  size_t done;
  size_t by_status[100];
  int expect_deleted; /* phase 2: gets of deleted keys must miss */
} tally;

static void key_of(size_t i, char *out, size_t cap) {
  snprintf(out, cap, "k%zu", i);
}

/* The value of key i: "value-<i>-" then i % 200 filler bytes, binary-safe
   (a NUL in the middle). */
static size_t value_of(size_t i, char *out, size_t cap) {
  int n = snprintf(out, cap, "value-%zu-", i);
  size_t len = (size_t)n + i % 200;
  CHECK(len <= cap);
  for (size_t j = (size_t)n; j < len; j++) out[j] = (char)('a' + j % 26);
  if (len > (size_t)n + 3) out[n + 1] = '\0';
  return len;
}

static void check_completion(driver *d, const pmc_completion *c) {
  tally *t = d->user;
  size_t i = TOKEN_INDEX(c->token);
  CHECK(i < MAX_TOKENS);
  t->seen[i]++;
  CHECK_UINT(t->seen[i], 1); /* never twice */
  t->done++;
  CHECK(c->status >= 0 && c->status < 100);
  t->by_status[c->status]++;
  switch (TOKEN_OP(c->token)) {
  case OP_SET:
    CHECK_STATUS(c->status, PMC_OK);
    break;
  case OP_DEL:
    CHECK_STATUS(c->status, PMC_OK);
    break;
  case OP_GET:
    if (i >= N_OPS || (t->expect_deleted && i % 10 == 0)) {
      CHECK_STATUS(c->status, PMC_MISS);
      CHECK(c->value == NULL);
    } else {
      char want[512];
      size_t len = value_of(i, want, sizeof want);
      CHECK_STATUS(c->status, PMC_OK);
      CHECK_MEM(c->value, c->value_len, want, len);
      CHECK_UINT(c->flags, (uint32_t)i * 7u);
    }
    break;
  default:
    FAIL("unknown token %llu", (unsigned long long)c->token);
  }
}

static pmc_async *new_async(const char *server, uint32_t timeout_ms) {
  pmc_options *o = pmc_options_new();
  CHECK(o != NULL);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "async_libuv.%ld.", (long)getpid());
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, timeout_ms, NULL));
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 2000, NULL));
  const char *servers[] = {server};
  pmc_async *a = NULL;
  pmc_error *err = NULL;
  pmc_status st = pmc_async_new(servers, 1, o, &a, &err);
  if (st != PMC_OK) FAIL("pmc_async_new: %s", err ? pmc_error_message(err) : "?");
  CHECK(err == NULL && a != NULL);
  pmc_options_free(o);
  return a;
}

static void phase_sets_gets(uv_loop_t *loop, const char *server) {
  pmc_async *a = new_async(server, 5000);
  tally *t = calloc(1, sizeof *t);
  CHECK(t != NULL);
  driver d;
  driver_init(&d, loop, a, check_completion, t);

  /* 1,000 sets submitted at once: nothing is sent until the loop runs. */
  char key[32], value[512];
  for (size_t i = 0; i < N_OPS; i++) {
    key_of(i, key, sizeof key);
    size_t vlen = value_of(i, value, sizeof value);
    CHECK_OK(pmc_async_set(a, BYTES(key), (const uint8_t *)value, vlen, (uint32_t)i * 7u, 0,
                           TOKEN(OP_SET, i), 0, NULL));
  }
  CHECK_UINT(pmc_async_pending(a), N_OPS);
  driver_run(&d);
  CHECK_UINT(t->done, N_OPS);
  CHECK_UINT(t->by_status[PMC_OK], N_OPS);

  /* 1,000 gets and 100 misses in flight; values checked by token. */
  memset(t, 0, sizeof *t);
  for (size_t i = 0; i < MAX_TOKENS; i++) {
    key_of(i, key, sizeof key);
    CHECK_OK(pmc_async_get(a, BYTES(key), TOKEN(OP_GET, i), 0, NULL));
  }
  driver_run(&d);
  CHECK_UINT(t->done, MAX_TOKENS);
  CHECK_UINT(t->by_status[PMC_OK], N_OPS);
  CHECK_UINT(t->by_status[PMC_MISS], N_MISSES);
  printf("1000 sets, then 1000 gets + 100 misses in flight: all values match their tokens "
         "(%lu steps)\n", d.steps);

  /* Every tenth key deleted (in flight together), then all read again. */
  memset(t, 0, sizeof *t);
  for (size_t i = 0; i < N_OPS; i += 10) {
    key_of(i, key, sizeof key);
    CHECK_OK(pmc_async_delete(a, BYTES(key), TOKEN(OP_DEL, i), 0, NULL));
  }
  driver_run(&d);
  CHECK_UINT(t->done, N_OPS / 10);
  memset(t, 0, sizeof *t);
  t->expect_deleted = 1;
  for (size_t i = 0; i < N_OPS; i++) {
    key_of(i, key, sizeof key);
    CHECK_OK(pmc_async_get(a, BYTES(key), TOKEN(OP_GET, i), 0, NULL));
  }
  driver_run(&d);
  CHECK_UINT(t->by_status[PMC_MISS], N_OPS / 10);
  CHECK_UINT(t->by_status[PMC_OK], N_OPS - N_OPS / 10);

  /* A bad key is refused at submit: nothing queued. */
  pmc_error *err = NULL;
  CHECK_STATUS(pmc_async_get(a, BYTES("bad key"), 1, 0, &err), PMC_ILLEGAL_INPUT);
  CHECK(err != NULL);
  pmc_error_free(err);
  CHECK_UINT(pmc_async_pending(a), 0);

  driver_close(&d);
  pmc_async_free(a);
  free(t);
}

/* A server that never answers: its get times out by the timer while the
   live server's gets complete (two clients, one loop). */
typedef struct timeout_tally {
  int timeouts, hits;
  long long when_ms;
} timeout_tally;

static void count_timeout(driver *d, const pmc_completion *c) {
  timeout_tally *t = d->user;
  if (c->status == PMC_TIMEOUT) {
    CHECK_UINT(c->token, 42);
    CHECK(c->error != NULL);
    t->timeouts++;
    t->when_ms = test_now_ms();
  } else {
    CHECK_STATUS(c->status, PMC_OK);
    t->hits++;
  }
}

static void phase_timeout(uv_loop_t *loop, const char *server) {
  char silent_addr[64];
  int silent = test_socket_silent(silent_addr, sizeof silent_addr, 8);
  pmc_async *hung = new_async(silent_addr, 5000);
  pmc_async *live = new_async(server, 5000);
  timeout_tally th = {0, 0, 0}, tl = {0, 0, 0};
  driver dh, dl;
  driver_init(&dh, loop, hung, count_timeout, &th);
  driver_init(&dl, loop, live, count_timeout, &tl);
  long long start = test_now_ms();
  CHECK_OK(pmc_async_get(hung, BYTES("k1"), 42, 300, NULL)); /* its own 300 ms */
  for (size_t i = 1; i <= 50; i++) CHECK_OK(pmc_async_get(live, BYTES("k1"), i, 0, NULL));
  driver_rewatch(&dh);
  driver_rewatch(&dl);
  CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0);
  CHECK(th.timeouts == 1 && th.hits == 0);
  CHECK(tl.timeouts == 0 && tl.hits == 50);
  long long took = th.when_ms - start;
  CHECK(took >= 290 && took < 3000);
  printf("a silent server's get: PMC_TIMEOUT after %lld ms, while 50 gets completed\n", took);
  driver_close(&dh);
  driver_close(&dl);
  pmc_async_free(hung);
  pmc_async_free(live);
  close(silent);
}

/* A private memcached killed with gets in flight, then restarted. */
typedef struct kill_tally {
  unsigned seen[64];
  int ok, failed;
} kill_tally;

static void count_kill(driver *d, const pmc_completion *c) {
  kill_tally *t = d->user;
  CHECK(c->token < 64);
  CHECK_UINT(++t->seen[c->token], 1);
  if (c->status == PMC_OK || c->status == PMC_MISS) {
    t->ok++;
  } else {
    CHECK(c->status >= 20 && c->status <= 24); /* a connection error */
    CHECK(c->error != NULL);
    CHECK_CONTAINS(pmc_error_message(c->error), pmc_status_str(c->status));
    t->failed++;
  }
}

static void phase_kill(uv_loop_t *loop) {
  /* SIGPIPE keeps its default action (exit): writes to the killed server
     must not raise it (the library sends with MSG_NOSIGNAL). */
  test_memcached m;
  test_memcached_start(&m, NULL);
  pmc_async *a = new_async(m.addr, 5000);
  kill_tally t;
  memset(&t, 0, sizeof t);
  driver d;
  driver_init(&d, loop, a, count_kill, &t);
  /* Connected and working first. */
  CHECK_OK(pmc_async_set(a, BYTES("x"), BYTES("1"), 0, 0, 0, 0, NULL));
  driver_run(&d);
  CHECK_UINT(t.ok, 1);
  memset(&t, 0, sizeof t);
  /* 32 gets submitted, the server killed, 32 more: the first 32 may have
     been answered already (a submit may write at once), the last 32 can
     only fail. */
  for (uint64_t i = 0; i < 32; i++) CHECK_OK(pmc_async_get(a, BYTES("x"), i, 0, NULL));
  test_memcached_kill(&m);
  for (uint64_t i = 32; i < 64; i++) CHECK_OK(pmc_async_get(a, BYTES("x"), i, 0, NULL));
  driver_run(&d);
  CHECK_UINT(t.ok + t.failed, 64);
  CHECK(t.failed >= 32);
  printf("server killed with 64 gets in flight: %d failed with connection errors, %d completed\n",
         t.failed, t.ok);
  /* Back again: a new connection (a new socket for the poll handles). */
  test_memcached_restart(&m, NULL);
  memset(&t, 0, sizeof t);
  for (uint64_t i = 0; i < 64; i++) CHECK_OK(pmc_async_get(a, BYTES("x"), i, 0, NULL));
  driver_run(&d);
  if (t.failed) {
    /* The first use may still meet the dead connection: once more. */
    memset(&t, 0, sizeof t);
    for (uint64_t i = 0; i < 64; i++) CHECK_OK(pmc_async_get(a, BYTES("x"), i, 0, NULL));
    driver_run(&d);
  }
  CHECK_UINT(t.ok, 64);
  printf("restarted: 64 gets on a new connection\n");
  driver_close(&d);
  pmc_async_free(a);
  test_memcached_stop(&m);
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  uv_loop_t loop;
  CHECK(uv_loop_init(&loop) == 0);
  phase_sets_gets(&loop, env.server);
  phase_timeout(&loop, env.server);
  phase_kill(&loop);
  CHECK(uv_loop_close(&loop) == 0); /* every handle closed */
  printf("async_libuv: ok\n");
  return 0;
}

/*
 * async_edge.c: the non-blocking client's edges through the C surface.
 *
 *  - timeouts: operations on a server that accepts but never answers
 *    complete with PMC_TIMEOUT after their own timeout_ms, while a live
 *    server's operations submitted beside them complete at once;
 *  - cancellation: cancelled operations deliver nothing, the others keep
 *    their values (replies stay matched);
 *  - a private memcached killed with operations in flight: every token
 *    completes exactly once (a value or a connection error), none hangs;
 *    after a restart new operations succeed;
 *  - a batch (pmc_async_batch), read back with pmc_batch_result;
 *  - pmc_async_free with operations and a batch in flight (nothing leaks;
 *    the batch comes back unrun); NULL handles.
 *
 * Usage: async_edge STATE_DIR
 */
#include "test_util.h"

#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define MAX_DONE 4096

typedef struct done_list {
  size_t n;
  uint64_t token[MAX_DONE];
  pmc_status status[MAX_DONE];
  long ms[MAX_DONE]; /* when it completed (now_ms()) */
  int value_ok[MAX_DONE];
} done_list;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A value is "ok" when it reads "v<token mod 1000>". */
static int value_matches(const pmc_completion *c) {
  char want[32];
  snprintf(want, sizeof want, "v%llu", (unsigned long long)(c->token % 1000));
  return c->value && c->value_len == strlen(want) && memcmp(c->value, want, c->value_len) == 0;
}

/* Drive `a` with poll(2) until nothing is pending (failing after
   `limit_ms`), recording every completion in `d`. */
static void drive(pmc_async *a, done_list *d, long limit_ms) {
  long start = now_ms();
  d->n = 0;
  while (pmc_async_pending(a) > 0) {
    if (now_ms() - start > limit_ms)
      FAIL("%zu operations still pending after %ld ms", pmc_async_pending(a), limit_ms);
    pmc_watch w[4];
    struct pollfd p[4];
    size_t n = pmc_async_watches(a, w, 4);
    CHECK(n <= 4);
    for (size_t i = 0; i < n; i++) {
      p[i].fd = w[i].fd;
      p[i].events = (short)(((w[i].events & PMC_WANT_READ) ? POLLIN : 0) |
                            ((w[i].events & PMC_WANT_WRITE) ? POLLOUT : 0));
      p[i].revents = 0;
    }
    int t = pmc_async_timeout_ms(a);
    if (t < 0 || t > 100)
      t = 100;
    CHECK(poll(p, (nfds_t)n, t) >= 0);
    CHECK_OK(pmc_async_step(a, -1, PMC_WANT_READ | PMC_WANT_WRITE, NULL));
    pmc_completion c;
    while (pmc_async_next(a, &c)) {
      CHECK(d->n < MAX_DONE);
      d->token[d->n] = c.token;
      d->status[d->n] = c.status;
      d->ms[d->n] = now_ms();
      d->value_ok[d->n] = value_matches(&c);
      if (c.status >= 10) {
        CHECK(c.error != NULL);
        CHECK_STATUS(pmc_error_status(c.error), c.status);
        CHECK(strlen(pmc_error_message(c.error)) > 0);
      } else {
        CHECK(c.error == NULL);
      }
      d->n++;
      pmc_completion_clear(&c);
      CHECK(c.value == NULL && c.error == NULL && c.token == 0);
    }
  }
}

static pmc_async *async_for(const char *const *servers, size_t n, uint32_t timeout_ms) {
  pmc_options *o = pmc_options_new();
  char prefix[64]; /* the fixture's servers are shared */
  snprintf(prefix, sizeof prefix, "async_edge.%d.", (int)getpid());
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, timeout_ms, NULL));
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 2000, NULL));
  pmc_async *a = NULL;
  CHECK_OK(pmc_async_new(servers, n, o, &a, NULL));
  pmc_options_free(o);
  return a;
}

static void store_values(pmc_async *a, unsigned n) {
  char key[32], value[32];
  for (unsigned i = 0; i < n; i++) {
    snprintf(key, sizeof key, "e%u", i);
    snprintf(value, sizeof value, "v%u", i);
    CHECK_OK(pmc_async_set(a, BYTES(key), value, strlen(value), 0, 0, i, 0, NULL));
  }
  done_list *d = malloc(sizeof *d);
  drive(a, d, 10000);
  CHECK_UINT(d->n, n);
  for (size_t i = 0; i < d->n; i++)
    CHECK_STATUS(d->status[i], PMC_OK);
  free(d);
}

static void timeouts(const char *live) {
  char silent[64];
  int fd = test_socket_silent(silent, sizeof silent, 16);
  const char *one[] = {silent};
  pmc_async *a = async_for(one, 1, 10000);
  const char *other[] = {live};
  pmc_async *b = async_for(other, 1, 10000);
  done_list *d = malloc(sizeof *d);
  /* Two timeouts on the silent server, 150 and 400 ms. */
  long t0 = now_ms();
  CHECK_OK(pmc_async_get(a, BYTES("x"), 1, 150, NULL));
  CHECK_OK(pmc_async_get(a, BYTES("y"), 2, 400, NULL));
  CHECK_UINT(pmc_async_pending(a), 2);
  int t = pmc_async_timeout_ms(a);
  CHECK(t > 50 && t <= 150);
  drive(a, d, 5000);
  CHECK_UINT(d->n, 2);
  CHECK_UINT(d->token[0], 1);
  CHECK_STATUS(d->status[0], PMC_TIMEOUT);
  CHECK(d->ms[0] - t0 >= 140 && d->ms[0] - t0 < 1000);
  CHECK_UINT(d->token[1], 2);
  CHECK_STATUS(d->status[1], PMC_TIMEOUT);
  CHECK(d->ms[1] - t0 >= 390 && d->ms[1] - t0 < 1500);
  CHECK(pmc_async_timeout_ms(a) == -1);
  /* The live server's operations are not held up by anything. */
  CHECK_OK(pmc_async_get(b, BYTES("async_edge.nothing"), 3, 0, NULL));
  drive(b, d, 5000);
  CHECK_UINT(d->n, 1);
  CHECK_STATUS(d->status[0], PMC_MISS);
  free(d);
  pmc_async_free(a);
  pmc_async_free(b);
  close(fd);
}

static void cancellation(const char *server) {
  const char *one[] = {server};
  pmc_async *a = async_for(one, 1, 10000);
  store_values(a, 60);
  char key[32];
  for (unsigned i = 0; i < 60; i++) {
    snprintf(key, sizeof key, "e%u", i);
    CHECK_OK(pmc_async_get(a, BYTES(key), i, 0, NULL));
  }
  /* Some requests are written before the cancels, some after. */
  CHECK_OK(pmc_async_step(a, -1, PMC_WANT_WRITE, NULL));
  size_t cancelled = 0;
  for (unsigned i = 0; i < 60; i += 4)
    cancelled += pmc_async_cancel(a, i);
  CHECK_UINT(cancelled, 15);
  CHECK_UINT(pmc_async_cancel(a, 9999), 0);
  CHECK_UINT(pmc_async_pending(a), 45);
  done_list *d = malloc(sizeof *d);
  drive(a, d, 10000);
  CHECK_UINT(d->n, 45);
  for (size_t i = 0; i < d->n; i++) {
    CHECK(d->token[i] % 4 != 0);
    CHECK_STATUS(d->status[i], PMC_OK);
    CHECK(d->value_ok[i]);
  }
  free(d);
  pmc_async_free(a);
}

static void killed_server(void) {
  test_memcached mc;
  test_memcached_start(&mc, NULL);
  const char *one[] = {mc.addr};
  pmc_async *a = async_for(one, 1, 10000);
  store_values(a, 200);
  char key[32];
  /* 2,000 gets: the first 200 answered; then the server is stopped (so it
     cannot answer the rest before it dies), 1,800 more are written, and it
     is killed with them in flight. */
  done_list *first = malloc(sizeof *first);
  done_list *d = malloc(sizeof *d);
  for (unsigned round = 0; round < 10; round++) {
    if (round == 1) {
      drive(a, first, 10000);
      CHECK_UINT(first->n, 200);
      for (size_t i = 0; i < first->n; i++) CHECK(first->status[i] == PMC_OK && first->value_ok[i]);
      test_memcached_pause(&mc);
    }
    for (unsigned i = 0; i < 200; i++) {
      snprintf(key, sizeof key, "e%u", i);
      CHECK_OK(pmc_async_get(a, BYTES(key), round * 1000 + i, 0, NULL));
    }
  }
  free(first);
  CHECK_OK(pmc_async_step(a, -1, PMC_WANT_READ | PMC_WANT_WRITE, NULL));
  test_memcached_kill(&mc);
  drive(a, d, 10000);
  CHECK_UINT(d->n, 1800);
  static unsigned char seen[10000];
  memset(seen, 0, sizeof seen);
  size_t errors = 0;
  for (size_t i = 0; i < d->n; i++) {
    CHECK(d->token[i] < 10000 && !seen[d->token[i]]);
    seen[d->token[i]] = 1;
    if (d->status[i] == PMC_OK) {
      CHECK(d->value_ok[i]); /* never another token's value */
    } else {
      CHECK(d->status[i] == PMC_UNEXPECTED_CLOSE || d->status[i] == PMC_IO_ERROR);
      errors++;
    }
  }
  CHECK_UINT(errors, 1800); /* every get in flight at the kill */
  test_memcached_restart(&mc, NULL);
  CHECK_OK(pmc_async_set(a, BYTES("e7"), BYTES("v7"), 0, 0, 7, 0, NULL));
  CHECK_OK(pmc_async_get(a, BYTES("e7"), 7, 0, NULL));
  drive(a, d, 10000);
  CHECK_UINT(d->n, 2);
  CHECK_STATUS(d->status[0], PMC_OK);
  CHECK_STATUS(d->status[1], PMC_OK);
  CHECK(d->value_ok[1]);
  free(d);
  pmc_async_free(a);
  test_memcached_stop(&mc);
}

static void batch(const char *server) {
  const char *one[] = {server};
  pmc_async *a = async_for(one, 1, 10000);
  pmc_batch *b = NULL;
  CHECK_OK(pmc_batch_new(&b, NULL));
  CHECK_OK(pmc_batch_set(b, BYTES("async_edge.b1"), BYTES("one"), 5, 0, NULL));
  CHECK_OK(pmc_batch_get(b, BYTES("async_edge.b1"), NULL));
  CHECK_OK(pmc_batch_get(b, BYTES("async_edge.none"), NULL));
  CHECK_OK(pmc_batch_delete(b, BYTES("async_edge.b1"), NULL));
  CHECK_OK(pmc_async_batch(a, b, 99, 0, NULL));
  CHECK_STATUS(pmc_async_batch(a, b, 99, 0, NULL), PMC_INVALID_ARGUMENT); /* in flight */
  CHECK_UINT(pmc_async_pending(a), 1);
  done_list *d = malloc(sizeof *d);
  drive(a, d, 10000);
  CHECK_UINT(d->n, 1);
  CHECK_UINT(d->token[0], 99);
  CHECK_STATUS(d->status[0], PMC_OK);
  pmc_op_result r;
  CHECK_OK(pmc_batch_result(b, 0, &r, NULL));
  CHECK_STATUS(r.status, PMC_OK);
  CHECK_OK(pmc_batch_result(b, 1, &r, NULL));
  CHECK_STATUS(r.status, PMC_OK);
  CHECK_MEM(r.value, r.value_len, "one", 3);
  CHECK_UINT(r.flags, 5);
  CHECK_OK(pmc_batch_result(b, 2, &r, NULL));
  CHECK_STATUS(r.status, PMC_MISS);
  CHECK_OK(pmc_batch_result(b, 3, &r, NULL));
  CHECK_STATUS(r.status, PMC_OK);

  /* Cancelled: it comes back with its commands and no results. */
  CHECK_OK(pmc_async_batch(a, b, 100, 0, NULL));
  CHECK_UINT(pmc_async_cancel(a, 100), 1);
  CHECK_UINT(pmc_batch_len(b), 4);
  CHECK_STATUS(pmc_batch_result(b, 0, &r, NULL), PMC_INVALID_ARGUMENT);
  drive(a, d, 10000);
  CHECK_UINT(d->n, 0);

  /* Freed with a batch and gets in flight: nothing leaks, the batch is
     usable again. */
  CHECK_OK(pmc_async_batch(a, b, 101, 0, NULL));
  CHECK_OK(pmc_async_get(a, BYTES("async_edge.b1"), 102, 0, NULL));
  CHECK_OK(pmc_async_step(a, -1, PMC_WANT_WRITE, NULL));
  pmc_async_free(a);
  CHECK_UINT(pmc_batch_len(b), 4);
  free(d);
  pmc_batch_free(b);
}

static void null_handles(void) {
  pmc_completion zero;
  memset(&zero, 0, sizeof zero);
  pmc_completion_clear(&zero);
  pmc_completion_clear(NULL);
  pmc_async_free(NULL);
  CHECK_UINT(pmc_async_watches(NULL, NULL, 0), 0);
  CHECK(pmc_async_timeout_ms(NULL) == -1);
  CHECK_UINT(pmc_async_pending(NULL), 0);
  CHECK_UINT(pmc_async_cancel(NULL, 1), 0);
  CHECK(pmc_async_next(NULL, &zero) == 0);
  CHECK_STATUS(pmc_async_step(NULL, -1, 0, NULL), PMC_NULL_ARGUMENT);
  pmc_async *a = NULL;
  pmc_error *err = NULL;
  CHECK_STATUS(pmc_async_new(NULL, 0, NULL, &a, &err), PMC_CONFIG_ERROR);
  pmc_error_free(err);
  const char *bad[] = {"no-port-here:"};
  CHECK_STATUS(pmc_async_new(bad, 1, NULL, &a, NULL), PMC_CONFIG_ERROR);
  CHECK(a == NULL);
  /* Values are bytes: options with compression are refused, not ignored;
     the mock is not supported. */
  const char *one[] = {"127.0.0.1:1"};
  pmc_options *o = pmc_options_new();
  CHECK_STATUS(pmc_options_set_compression(o, true, 0, NULL), PMC_OK);
  CHECK_STATUS(pmc_async_new(one, 1, o, &a, &err), PMC_CONFIG_ERROR);
  CHECK(a == NULL);
  CHECK(strstr(pmc_error_message(err), "compression") != NULL);
  pmc_error_free(err);
  CHECK_STATUS(pmc_options_set_compression(o, false, 0, NULL), PMC_OK);
  CHECK_STATUS(pmc_options_set_mock(o, true, NULL), PMC_OK);
  CHECK_STATUS(pmc_async_new(one, 1, o, &a, NULL), PMC_CONFIG_ERROR);
  CHECK(a == NULL);
  /* TLS and authentication are refused by the core, its message reaching C. */
  CHECK_STATUS(pmc_options_set_mock(o, false, NULL), PMC_OK);
  CHECK_STATUS(pmc_options_set_tls_insecure_no_verify_testing_only(o, true, NULL), PMC_OK);
  CHECK_STATUS(pmc_async_new(one, 1, o, &a, &err), PMC_CONFIG_ERROR);
  CHECK(a == NULL);
  CHECK(strstr(pmc_error_message(err), "TLS and authentication are not supported") != NULL);
  pmc_error_free(err);
  CHECK_STATUS(pmc_options_set_tls(o, false, NULL), PMC_OK);
  CHECK_STATUS(pmc_options_set_auth(o, "user", "secret", NULL), PMC_OK);
  CHECK_STATUS(pmc_async_new(one, 1, o, &a, &err), PMC_CONFIG_ERROR);
  CHECK(a == NULL);
  CHECK(strstr(pmc_error_message(err), "TLS and authentication are not supported") != NULL);
  pmc_error_free(err);
  pmc_options_free(o);
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  null_handles();
  timeouts(env.server);
  cancellation(env.socket);
  batch(env.server);
  killed_server();
  printf("async_edge: timeouts, cancellation, killed server, batch: ok\n");
  return 0;
}

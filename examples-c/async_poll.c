/*
 * async_poll.c: the non-blocking client driven by poll(2) on one thread.
 *
 * 1,000 sets, then 1,000 gets and 100 gets of missing keys, all in flight
 * at once on one connection to the fixture's memcached: the loop asks
 * which descriptors to watch (pmc_async_watches) and until when
 * (pmc_async_timeout_ms), polls, steps the client on what is ready
 * (pmc_async_step) and takes the completions (pmc_async_next), checking
 * each value by its token. The library starts no thread; nothing here
 * blocks except poll(2). The client's per-server metrics
 * (pmc_async_metrics_snapshot, read with the pmc_metrics_* accessors)
 * count the 1,100 gets exactly: requests, hits and misses; then
 * pmc_async_metrics_reset zeroes them.
 *
 * Usage: async_poll STATE_DIR
 */
#include "test_util.h"

#include <poll.h>
#include <unistd.h>

#define N 1000
#define MISSES 100

static void key_of(char *buf, size_t size, unsigned i) {
  snprintf(buf, size, "k%u", i);
}

static void value_of(char *buf, size_t size, unsigned i) {
  snprintf(buf, size, "value %u %.*s", i, (int)(i % 40), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

/* Counter `which` of server 0 of a fresh snapshot of `a`'s metrics. */
static uint64_t metric(const pmc_async *a, pmc_metric which) {
  pmc_metrics *m = NULL;
  uint64_t v = 0;
  CHECK_OK(pmc_async_metrics_snapshot(a, &m, NULL));
  CHECK_UINT(pmc_metrics_server_count(m), 1);
  CHECK_OK(pmc_metrics_get(m, 0, which, &v, NULL));
  pmc_metrics_free(m);
  return v;
}

/* Run the loop until nothing is pending; hand each completion to `seen`. */
static void run_loop(pmc_async *a, void (*seen)(const pmc_completion *, void *), void *ctx) {
  pmc_watch watches[8];
  struct pollfd fds[8];
  while (pmc_async_pending(a) > 0) {
    size_t n = pmc_async_watches(a, watches, 8);
    CHECK(n <= 8);
    for (size_t i = 0; i < n; i++) {
      fds[i].fd = watches[i].fd;
      fds[i].events = (short)(((watches[i].events & PMC_WANT_READ) ? POLLIN : 0) |
                              ((watches[i].events & PMC_WANT_WRITE) ? POLLOUT : 0));
      fds[i].revents = 0;
    }
    int ready = poll(fds, (nfds_t)n, pmc_async_timeout_ms(a));
    CHECK(ready >= 0);
    if (ready == 0) {
      CHECK_OK(pmc_async_step(a, -1, 0, NULL)); /* a deadline passed */
    }
    for (size_t i = 0; i < n; i++) {
      if (fds[i].revents == 0)
        continue;
      int ev = 0;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
        ev |= PMC_WANT_READ;
      if (fds[i].revents & (POLLOUT | POLLHUP | POLLERR))
        ev |= PMC_WANT_WRITE;
      CHECK_OK(pmc_async_step(a, fds[i].fd, ev, NULL));
    }
    pmc_completion c;
    while (pmc_async_next(a, &c)) {
      seen(&c, ctx);
      pmc_completion_clear(&c);
    }
  }
}

typedef struct tally {
  unsigned stored, hits, misses;
  unsigned char got[N + MISSES];
} tally;

static void on_set(const pmc_completion *c, void *ctx) {
  tally *t = ctx;
  CHECK_STATUS(c->status, PMC_OK);
  CHECK(c->token < N);
  CHECK(c->error == NULL && c->value == NULL);
  t->stored++;
}

static void on_get(const pmc_completion *c, void *ctx) {
  tally *t = ctx;
  CHECK(c->token < N + MISSES);
  CHECK(!t->got[c->token]); /* each token once */
  t->got[c->token] = 1;
  if (c->token >= N) {
    CHECK_STATUS(c->status, PMC_MISS);
    CHECK(c->value == NULL);
    t->misses++;
    return;
  }
  char want[80];
  value_of(want, sizeof want, (unsigned)c->token);
  CHECK_STATUS(c->status, PMC_OK);
  CHECK_MEM(c->value, c->value_len, want, strlen(want));
  CHECK_UINT(c->flags, c->token % 7);
  t->hits++;
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);

  /* Keys under a prefix of this process: the fixture's server is shared. */
  char prefix[64];
  snprintf(prefix, sizeof prefix, "async_poll.%d.", (int)getpid());
  pmc_options *o = pmc_options_new();
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 10000, NULL)); /* per operation */
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 5000, NULL));
  CHECK_OK(pmc_options_set_no_delay(o, true, NULL));
  const char *servers[] = {env.server};
  pmc_async *a = NULL;
  CHECK_OK(pmc_async_new(servers, 1, o, &a, NULL));
  pmc_options_free(o);
  CHECK_UINT(pmc_async_watches(a, NULL, 0), 0); /* nothing connected yet */
  CHECK(pmc_async_timeout_ms(a) == -1);

  tally t;
  memset(&t, 0, sizeof t);
  char key[32], value[80];
  for (unsigned i = 0; i < N; i++) {
    key_of(key, sizeof key, i);
    value_of(value, sizeof value, i);
    CHECK_OK(pmc_async_set(a, BYTES(key), BYTES(value), i % 7, 0, i, 0, NULL));
  }
  CHECK_UINT(pmc_async_pending(a), N);
  run_loop(a, on_set, &t);
  CHECK_UINT(t.stored, N);
  CHECK_UINT(metric(a, PMC_METRIC_REQUESTS), N);
  CHECK_UINT(metric(a, PMC_METRIC_CONNECTIONS_OPENED), 1);
  CHECK_OK(pmc_async_metrics_reset(a, NULL));
  CHECK_UINT(metric(a, PMC_METRIC_REQUESTS), 0);

  /* 1,100 gets in flight on one connection, in one loop. */
  for (unsigned i = 0; i < N + MISSES; i++) {
    if (i < N)
      key_of(key, sizeof key, i);
    else
      snprintf(key, sizeof key, "missing%u", i);
    CHECK_OK(pmc_async_get(a, BYTES(key), i, 0, NULL));
  }
  CHECK_UINT(pmc_async_pending(a), N + MISSES);
  CHECK_UINT(pmc_async_watches(a, NULL, 0), 1); /* one server, one socket */
  run_loop(a, on_get, &t);
  CHECK_UINT(t.hits, N);
  CHECK_UINT(t.misses, MISSES);

  /* The metrics count each get once: a hit or a miss, no error. */
  pmc_metrics *m = NULL;
  CHECK_OK(pmc_async_metrics_snapshot(a, &m, NULL));
  CHECK_UINT(pmc_metrics_server_count(m), 1);
  CHECK(strcmp(pmc_metrics_server_name(m, 0), env.server) == 0);
  static const struct {
    pmc_metric which;
    uint64_t want;
  } expect[] = {
      {PMC_METRIC_REQUESTS, N + MISSES},      {PMC_METRIC_HITS, N},
      {PMC_METRIC_MISSES, MISSES},            {PMC_METRIC_TIMEOUTS, 0},
      {PMC_METRIC_CONNECTION_ERRORS, 0},      {PMC_METRIC_SERVER_ERRORS, 0},
      {PMC_METRIC_PROTOCOL_ERRORS, 0},        {PMC_METRIC_LATENCY_COUNT, N + MISSES},
      {PMC_METRIC_IN_USE, 0},                 {PMC_METRIC_PEAK_IN_USE, 1},
      {PMC_METRIC_CONNECTIONS_OPENED, 0},
  };
  for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
    uint64_t v = 0;
    CHECK_OK(pmc_metrics_get(m, 0, expect[i].which, &v, NULL));
    CHECK_UINT(v, expect[i].want);
  }
  uint64_t sent = 0, received = 0, p99 = 0;
  CHECK_OK(pmc_metrics_get(m, 0, PMC_METRIC_BYTES_SENT, &sent, NULL));
  CHECK_OK(pmc_metrics_get(m, 0, PMC_METRIC_BYTES_RECEIVED, &received, NULL));
  CHECK(sent > 0 && received > sent);
  CHECK_OK(pmc_metrics_latency_us(m, 0, 0.99, &p99, NULL));
  CHECK(p99 > 0);
  char *text = NULL;
  size_t len = 0;
  CHECK_OK(pmc_metrics_prometheus(m, &text, &len, NULL));
  CHECK_CONTAINS(text, "pymemcache_misses_total{server=\"");
  pmc_string_free(text);
  pmc_metrics_free(m);
  CHECK_STATUS(pmc_async_metrics_snapshot(NULL, &m, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_async_metrics_reset(NULL, NULL), PMC_NULL_ARGUMENT);
  printf("async_poll: metrics %u requests %u hits %u misses, p99 %llu us\n", N + MISSES, N,
         MISSES, (unsigned long long)p99);

  /* A bad key is refused at once; nothing is queued. */
  pmc_error *err = NULL;
  CHECK_STATUS(pmc_async_get(a, BYTES("bad key"), 1, 0, &err), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_error_status(err), PMC_ILLEGAL_INPUT);
  pmc_error_free(err);
  CHECK_UINT(pmc_async_pending(a), 0);

  /* Clean up the keys. */
  for (unsigned i = 0; i < N; i++) {
    key_of(key, sizeof key, i);
    CHECK_OK(pmc_async_delete(a, BYTES(key), i, 0, NULL));
  }
  run_loop(a, on_set, &t);
  pmc_async_free(a);
  printf("async_poll: %u sets, %u hits, %u misses, %u deletes through poll(2)\n", N, t.hits,
         t.misses, t.stored - N);
  return 0;
}

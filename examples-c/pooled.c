/*
 * pooled.c: a client with a pool of connections (pymemcache's
 * PooledClient).
 *
 * With pmc_options_set_use_pooling, each command checks a connection out of
 * a pool and returns it, so threads sharing the handle run in parallel. The
 * pool's counts are visible with pmc_client_pool_stats; its size limit, the
 * wait for a free connection, idle expiry and pmc_client_pool_clear are
 * exercised here.
 *
 * Usage: pooled STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

typedef struct pool_opts {
  size_t max_size;
  uint32_t timeout_ms, idle_timeout_ms;
} pool_opts;

static pmc_client *pooled_client(const char *server, pool_opts p) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_use_pooling(o, true, NULL));
  CHECK_OK(pmc_options_set_max_pool_size(o, p.max_size, NULL));
  CHECK_OK(pmc_options_set_pool_timeout_ms(o, p.timeout_ms, NULL));
  CHECK_OK(pmc_options_set_pool_idle_timeout_ms(o, p.idle_timeout_ms, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 10000, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

static pmc_pool_stats pool_stats(pmc_client *c) {
  pmc_pool_stats s;
  memset(&s, 0xff, sizeof s);
  CHECK_OK(pmc_client_pool_stats(c, &s, NULL));
  return s;
}

/* ---- many threads, one pooled handle ------------------------------------------ */

#define THREADS 6
#define ROUNDS 60

typedef struct worker {
  pmc_client *client;
  int id;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  char key[32], val[48];
  for (int i = 0; i < ROUNDS; i++) {
    pmc_value v = {0};
    snprintf(key, sizeof key, "pool.%ld.t%d", (long)getpid(), w->id);
    snprintf(val, sizeof val, "thread %d round %d", w->id, i);
    CHECK_OK(pmc_set(w->client, BYTES(key), BYTES(val), 0, 0, PMC_REPLY_WAIT, NULL));
    CHECK_OK(pmc_get(w->client, BYTES(key), &v, NULL));
    CHECK_VALUE_STR(&v, val);
    pmc_value_free(&v);
  }
  return NULL;
}

static void shared_pool(const char *server) {
  pool_opts p = {0, 0, 0}; /* unbounded, as pymemcache */
  pmc_client *c = pooled_client(server, p);
  pthread_t t[THREADS];
  worker w[THREADS];
  pmc_pool_stats s = pool_stats(c);

  /* Nothing is made before the first command. */
  CHECK_UINT(s.created, 0);
  CHECK_UINT(s.in_use, 0);
  CHECK_UINT(s.free, 0);

  for (int i = 0; i < THREADS; i++) {
    w[i].client = c;
    w[i].id = i;
    if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
      FAIL("pthread_create failed");
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);

  /* At most one connection per thread was ever needed; all are back. */
  s = pool_stats(c);
  CHECK(s.created >= 1 && s.created <= THREADS);
  CHECK_UINT(s.in_use, 0);
  CHECK_UINT(s.destroyed, 0);
  CHECK_UINT(s.free, s.created);

  /* pool_clear closes the free connections; the next command makes one. */
  CHECK_OK(pmc_client_pool_clear(c, NULL));
  s = pool_stats(c);
  CHECK_UINT(s.free, 0);
  CHECK_UINT(s.destroyed, s.created);
  {
    char *ver = NULL;
    uint64_t made = s.created;
    CHECK_OK(pmc_version(c, &ver, NULL));
    pmc_string_free(ver);
    s = pool_stats(c);
    CHECK_UINT(s.created, made + 1);
    CHECK_UINT(s.free, 1);
  }
  /* close on a pooled client also empties the pool. */
  CHECK_OK(pmc_close(c, NULL));
  CHECK_UINT(pool_stats(c).free, 0);
  pmc_client_free(c);
}

/* ---- errors and idle connections -------------------------------------------------- */

static void errors_and_idle(const char *server) {
  pool_opts p = {4, 0, 0}, idle = {4, 0, 300};
  pmc_client *c = pooled_client(server, p), *single = test_client(server, NULL);
  pmc_pool_stats s;
  pmc_value v = {0};
  size_t big_len = 2 * 1024 * 1024;
  uint8_t *big = calloc(big_len, 1);
  CHECK(big != NULL);

  /* A single-server client has no pool: stats are refused, clear is the
     same as close. */
  CHECK_STATUS(pmc_client_pool_stats(single, &s, NULL), PMC_INVALID_ARGUMENT);
  CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "pool");
  CHECK_OK(pmc_client_pool_clear(single, NULL));
  pmc_client_free(single);

  CHECK_OK(pmc_set(c, BYTES("pool-k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL));
  s = pool_stats(c);
  CHECK_UINT(s.created, 1);

  /* Illegal input sends nothing: the connection is kept. */
  CHECK_STATUS(pmc_get(c, BYTES("bad key"), &v, NULL), PMC_ILLEGAL_INPUT);
  s = pool_stats(c);
  CHECK_UINT(s.destroyed, 0);
  CHECK_UINT(s.free, 1);

  /* An error from the server destroys the connection it happened on. */
  CHECK_STATUS(pmc_set(c, BYTES("pool-big"), big, big_len, 0, 0, PMC_REPLY_WAIT, NULL),
               PMC_SERVER_ERROR);
  s = pool_stats(c);
  CHECK_UINT(s.destroyed, 1);
  CHECK_UINT(s.free, 0);
  free(big);

  /* The next command makes a new connection. */
  CHECK_OK(pmc_get(c, BYTES("pool-k"), &v, NULL));
  pmc_value_free(&v);
  s = pool_stats(c);
  CHECK_UINT(s.created, 2);
  CHECK_UINT(s.free, 1);
  pmc_client_free(c);

  /* A connection idle longer than the idle timeout is dropped at the next
     checkout, and a new one is made. */
  c = pooled_client(server, idle);
  CHECK_OK(pmc_get(c, BYTES("pool-k"), &v, NULL));
  pmc_value_free(&v);
  s = pool_stats(c);
  CHECK_UINT(s.created, 1);
  CHECK_UINT(s.free, 1);
  test_sleep_ms(800);
  CHECK_UINT(pool_stats(c).destroyed, 0); /* only a checkout expires them */
  CHECK_OK(pmc_get(c, BYTES("pool-k"), &v, NULL));
  pmc_value_free(&v);
  s = pool_stats(c);
  CHECK_UINT(s.destroyed, 1);
  CHECK_UINT(s.created, 2);
  CHECK_UINT(s.free, 1);
  pmc_client_free(c);
}

/* ---- a full pool ----------------------------------------------------------------- */

typedef struct getter {
  pmc_client *client;
  pmc_status status;
} getter;

static void *get_in_thread(void *arg) {
  getter *g = arg;
  pmc_value v = {0};
  g->status = pmc_get(g->client, BYTES("gated"), &v, NULL);
  pmc_value_free(&v);
  return NULL;
}

typedef struct releaser {
  fake_server *fake;
  int count;
  long delay_ms;
} releaser;

static void *release_later(void *arg) {
  releaser *r = arg;
  test_sleep_ms(r->delay_ms);
  for (int i = 0; i < r->count; i++)
    fake_server_release(r->fake);
  return NULL;
}

/* Wait until the pool has `n` connections checked out. */
static void wait_in_use(pmc_client *c, size_t n) {
  long long deadline = test_now_ms() + 10000;
  while (pool_stats(c).in_use != n) {
    if (test_now_ms() > deadline)
      FAIL("the pool never had %zu connections in use", n);
    test_sleep_ms(5);
  }
}

static void full_pool(void) {
  fake_server fake; /* answers each get only when released */
  pool_opts no_wait = {1, 0, 0}, wait = {1, 5000, 0};
  pmc_client *c;
  pthread_t t, r;
  getter g;
  releaser rel;
  pmc_value v = {0};
  long long t0, elapsed;

  fake_server_start(&fake, FAKE_GATED);

  /* max 1 connection, no waiting: while one command runs, another fails
     at once with PMC_POOL_EXHAUSTED. */
  c = pooled_client(fake.addr, no_wait);
  g.client = c;
  if (pthread_create(&t, NULL, get_in_thread, &g) != 0)
    FAIL("pthread_create failed");
  wait_in_use(c, 1);
  t0 = test_now_ms();
  CHECK_STATUS(pmc_get(c, BYTES("other"), &v, NULL), PMC_POOL_EXHAUSTED);
  CHECK_LAST_ERROR(PMC_POOL_EXHAUSTED, NULL);
  elapsed = test_now_ms() - t0;
  if (elapsed > 2000)
    FAIL("PMC_POOL_EXHAUSTED took %lld ms; expected at once", elapsed);

  fake_server_release(&fake);
  pthread_join(t, NULL);
  CHECK_STATUS(g.status, PMC_MISS); /* the fake server answers END */
  CHECK_UINT(pool_stats(c).in_use, 0);
  pmc_client_free(c); /* closes its connection: the fake server moves on */

  /* max 1 connection, waiting up to 5 s: the second command waits for the
     first to finish, then runs on the same connection. */
  c = pooled_client(fake.addr, wait);
  g.client = c;
  if (pthread_create(&t, NULL, get_in_thread, &g) != 0)
    FAIL("pthread_create failed");
  wait_in_use(c, 1);
  rel.fake = &fake;
  rel.count = 2; /* one for each get */
  rel.delay_ms = 300;
  if (pthread_create(&r, NULL, release_later, &rel) != 0)
    FAIL("pthread_create failed");
  t0 = test_now_ms();
  CHECK_STATUS(pmc_get(c, BYTES("other"), &v, NULL), PMC_MISS);
  elapsed = test_now_ms() - t0;
  pthread_join(t, NULL);
  pthread_join(r, NULL);
  CHECK_STATUS(g.status, PMC_MISS);
  if (elapsed < 250)
    FAIL("the second get did not wait for the pool (%lld ms)", elapsed);
  CHECK_UINT(pool_stats(c).created, 1);
  pmc_client_free(c);

  fake_server_stop(&fake);
}

/* Where a key lives is known without any connection, so neither a full
   pool nor an empty one matters to pmc_client_server_for_key (documented
   to return only PMC_OK, PMC_ILLEGAL_INPUT, PMC_NO_SERVERS or
   PMC_NULL_ARGUMENT). */
static void server_for_key_needs_no_connection(void) {
  fake_server fake;
  pool_opts one = {1, 0, 0};
  pmc_client *c;
  pthread_t t;
  getter g;
  char *where = NULL;

  fake_server_start(&fake, FAKE_GATED);
  c = pooled_client(fake.addr, one);
  g.client = c;
  if (pthread_create(&t, NULL, get_in_thread, &g) != 0)
    FAIL("pthread_create failed");
  wait_in_use(c, 1); /* the only connection is busy */
  {
    pmc_status st = pmc_client_server_for_key(c, BYTES("any"), &where, NULL);
    fake_server_release(&fake); /* let the other thread finish either way */
    pthread_join(t, NULL);
    if (st != PMC_OK)
      FAIL("pmc_client_server_for_key on a pooled client whose one connection "
           "is busy returned %s (\"%s\"), expected PMC_OK",
           pmc_status_str(st), pmc_last_error_message());
  }
  CHECK_STR(where, fake.addr);
  pmc_string_free(where);
  pmc_client_free(c);
  fake_server_stop(&fake);
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  shared_pool(env.server);
  errors_and_idle(env.server);
  full_pool();
  server_for_key_needs_no_connection();
  puts("pooled: ok");
  return 0;
}

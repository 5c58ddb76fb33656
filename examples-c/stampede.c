/*
 * stampede.c: one recompute, however many callers miss at once.
 *
 * When a popular item expires, every caller misses and recomputes it at
 * once (a "stampede" on the database behind the cache). pmc_get_or_lock
 * uses memcached's meta get to let exactly one caller win the recompute:
 *  - PMC_LEASE_HIT        a fresh value;
 *  - PMC_LEASE_MISS_WON   missing, you won: compute it and pmc_set it;
 *  - PMC_LEASE_MISS_BUSY  missing, someone else is computing: wait, ask again;
 *  - PMC_LEASE_STALE_WON  stale (pmc_invalidate), you won: serve the old
 *                         value, compute the new one and pmc_set it;
 *  - PMC_LEASE_STALE      stale, someone else is computing: serve the old
 *                         value.
 * Shown here: 8 threads hitting one expired key (exactly one recomputes,
 * the others get its value); 8 threads after pmc_invalidate (exactly one
 * recomputes, the others are served the stale value at once, without
 * waiting); and the same states through a batch (pmc_batch_get_or_lock,
 * pmc_batch_invalidate). All of it on a client of memcached, then on an
 * in-memory mock client (pmc_options_set_mock: the same leases, as
 * memcached's meta protocol gives them), a mock with compression, and a
 * fallback client (memcached first, then a mock).
 *
 * Usage: stampede STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

#define THREADS 8

static pmc_client *client;
static pthread_barrier_t start;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int recomputes, stale_served;
static char key[64];

/* The expensive computation the cache protects. */
static void recompute(const char *value) {
  pthread_mutex_lock(&lock);
  recomputes++;
  pthread_mutex_unlock(&lock);
  test_sleep_ms(100);
  CHECK_OK(pmc_set(client, BYTES(key), BYTES(value), 0, 300, PMC_REPLY_WAIT, NULL));
}

/* Read the key the stampede-safe way; returns the value seen (malloc'd). */
static void *reader(void *arg) {
  const char *fresh = arg;
  pthread_barrier_wait(&start);
  long long until = test_now_ms() + 10000;
  for (;;) {
    pmc_lease lease = PMC_LEASE_NONE;
    pmc_value v = {0};
    CHECK_OK(pmc_get_or_lock(client, BYTES(key), 30, 0, &lease, &v, NULL));
    switch (lease) {
    case PMC_LEASE_HIT:
      break;
    case PMC_LEASE_STALE:
      pthread_mutex_lock(&lock);
      stale_served++;
      pthread_mutex_unlock(&lock);
      break;
    case PMC_LEASE_MISS_WON:
    case PMC_LEASE_STALE_WON:
      pmc_value_free(&v);
      recompute(fresh);
      return strdup(fresh);
    case PMC_LEASE_MISS_BUSY:
      CHECK(v.data == NULL);
      CHECK(test_now_ms() < until);
      test_sleep_ms(10);
      continue;
    default:
      FAIL("unknown lease %d", (int)lease);
    }
    char *seen = strdup(v.data ? (const char *)v.data : "");
    pmc_value_free(&v);
    return seen;
  }
}

static void run_threads(const char *fresh, char **seen) {
  pthread_t t[THREADS];
  recomputes = stale_served = 0;
  CHECK(pthread_barrier_init(&start, NULL, THREADS) == 0);
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_create(&t[i], NULL, reader, (void *)fresh) == 0);
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_join(t[i], (void **)&seen[i]) == 0);
  pthread_barrier_destroy(&start);
}

static void expired_key(void) {
  char *seen[THREADS];
  /* Stored already expired: every reader misses. */
  CHECK_OK(pmc_set(client, BYTES(key), BYTES("old"), 0, -1, PMC_REPLY_WAIT, NULL));
  run_threads("v1", seen);
  CHECK_UINT(recomputes, 1);
  for (int i = 0; i < THREADS; i++) {
    CHECK_STR(seen[i], "v1");
    free(seen[i]);
  }
  printf("expired key: %d threads, %d recompute\n", THREADS, recomputes);
}

static void invalidated_key(void) {
  char *seen[THREADS];
  CHECK_OK(pmc_invalidate(client, BYTES(key), 30, NULL));
  run_threads("v2", seen);
  CHECK_UINT(recomputes, 1);
  int old = 0;
  for (int i = 0; i < THREADS; i++) {
    /* The winner returns the new value; the others were served the stale
       one (or, scheduled after the winner stored, the new one). */
    if (strcmp(seen[i], "v1") == 0)
      old++;
    else
      CHECK_STR(seen[i], "v2");
    free(seen[i]);
  }
  CHECK_UINT(old, stale_served);
  printf("invalidated key: %d recompute, %d served stale\n", recomputes, old);
  CHECK_STATUS(pmc_invalidate(client, BYTES("stampede.none"), 30, NULL),
               PMC_NOT_FOUND);
}

static void through_a_batch(void) {
  pmc_batch *b = NULL;
  pmc_op_result r;
  char k2[64];
  snprintf(k2, sizeof k2, "stampede.batch.%d", (int)getpid());
  pmc_delete(client, BYTES(k2), PMC_REPLY_WAIT, NULL);
  CHECK_OK(pmc_batch_new(&b, NULL));
  CHECK_OK(pmc_batch_get_or_lock(b, BYTES(k2), 30, 0, NULL));
  CHECK_OK(pmc_batch_get_or_lock(b, BYTES(k2), 30, 0, NULL));
  CHECK_OK(pmc_batch_get_or_lock(b, BYTES(key), 30, 0, NULL));
  CHECK_OK(pmc_batch_invalidate(b, BYTES(key), 30, NULL));
  CHECK_OK(pmc_batch_get_or_lock(b, BYTES(key), 30, 0, NULL));
  CHECK_OK(pmc_batch_get_or_lock(b, BYTES(key), 30, 0, NULL));
  CHECK_OK(pmc_batch_execute(client, b, NULL));
  CHECK_OK(pmc_batch_result(b, 0, &r, NULL));
  CHECK_UINT(r.lease, PMC_LEASE_MISS_WON);
  CHECK_OK(pmc_batch_result(b, 1, &r, NULL));
  CHECK_UINT(r.lease, PMC_LEASE_MISS_BUSY);
  CHECK_OK(pmc_batch_result(b, 2, &r, NULL));
  CHECK_UINT(r.lease, PMC_LEASE_HIT);
  CHECK_MEM(r.value, r.value_len, "v2", 2);
  CHECK(r.ttl > 0 && r.ttl <= 300);
  CHECK_OK(pmc_batch_result(b, 3, &r, NULL));
  CHECK_UINT(r.status, PMC_OK);
  CHECK_UINT(r.lease, PMC_LEASE_NONE);
  CHECK_OK(pmc_batch_result(b, 4, &r, NULL));
  CHECK_UINT(r.lease, PMC_LEASE_STALE_WON);
  CHECK_MEM(r.value, r.value_len, "v2", 2);
  CHECK_OK(pmc_batch_result(b, 5, &r, NULL));
  CHECK_UINT(r.lease, PMC_LEASE_STALE);
  pmc_batch_free(b);
}

/* Every scenario on `c` (which this takes and frees). */
static void run_all(pmc_client *c, const char *kind) {
  client = c;
  printf("-- %s\n", kind);
  expired_key();
  invalidated_key();
  through_a_batch();
  pmc_lease lease;
  CHECK_STATUS(pmc_get_or_lock(client, BYTES(key), 30, 0, NULL, NULL, NULL),
               PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_or_lock(client, BYTES("bad key"), 30, 0, &lease, NULL, NULL),
               PMC_ILLEGAL_INPUT);
  pmc_client_free(client);
  client = NULL;
}

/* An in-memory mock client, with compression if asked. */
static pmc_client *mock_client(bool compression) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  CHECK(o != NULL);
  CHECK_OK(pmc_options_set_mock(o, true, NULL));
  CHECK_OK(pmc_options_set_default_noreply(o, false, NULL));
  if (compression)
    CHECK_OK(pmc_options_set_compression(o, true, 1, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  snprintf(key, sizeof key, "hot.%d", (int)getpid());
  run_all(test_client_noreply(env.server, "stampede", false), "memcached");
  run_all(mock_client(false), "mock");
  run_all(mock_client(true), "mock with compression");
  pmc_client *both[2] = {test_client_noreply(env.server, "stampede-fb", false),
                         mock_client(false)};
  pmc_client *fallback = NULL;
  CHECK_OK(pmc_client_new_fallback(both, 2, &fallback, NULL));
  run_all(fallback, "fallback");
  printf("stampede: ok\n");
  return 0;
}

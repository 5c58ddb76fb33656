/*
 * failure_tracking.c: the hash client's mcrouter-style failure tracking.
 *
 * pmc_options_set_hash_failure_tracking replaces pymemcache's retry /
 * dead-server policy: after THRESHOLD consecutive connection failures a
 * server is soft-down and commands for its keys fail fast (PMC_IO_ERROR,
 * "marked down", no socket touched), or with fallback go to the key's next
 * server in rendezvous order. One command is let through as a probe after
 * a growing, jittered interval; a success brings the server back up.
 * Shown here:
 *  - a server killed: failures, then fail-fast calls (their latency);
 *  - pmc_client_node_state: state and counters of a server;
 *  - restarted: a probe brings it back;
 *  - pmc_options_set_hash_state_callback: the sequence of state changes;
 *  - fallback: the dead server's keys are served by their next server;
 *  - bad options refused with PMC_CONFIG_ERROR.
 *
 * Usage: failure_tracking
 */
#include "test_util.h"

#define NODES 3
#define THRESHOLD 2
/* The first probe comes 0.8-1.2 s after a server goes soft-down: long
   enough for the 20 fail-fast calls below even under valgrind on a busy
   machine (at 100 ms, CI saw a probe come due among them). */
#define INITIAL_MS 1000
#define MAX_MS 2000

static test_memcached servers[NODES];

/* The state changes of one server, as the callback reports them. */
typedef struct event {
  int from, to, cause;
} event;

typedef struct recorder {
  pthread_mutex_t lock;
  char server[320];
  event events[256];
  size_t n;
} recorder;

static void on_state(void *user, const char *server, int from, int to, int cause) {
  recorder *r = user;
  pthread_mutex_lock(&r->lock);
  if (strcmp(server, r->server) == 0 && r->n < 256)
    r->events[r->n++] = (event){from, to, cause};
  pthread_mutex_unlock(&r->lock);
}

static const char *state_name(int s) {
  switch (s) {
  case PMC_NODE_UP: return "up";
  case PMC_NODE_SOFT_DOWN: return "soft-down";
  case PMC_NODE_PROBING: return "probing";
  default: return "?";
  }
}

static pmc_client *tracked_client(bool fallback, recorder *r) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  for (int i = 0; i < NODES; i++)
    CHECK_OK(pmc_options_add_server(o, servers[i].addr, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 1000, NULL));
  CHECK_OK(pmc_options_set_hash_failure_tracking(o, THRESHOLD, INITIAL_MS, MAX_MS,
                                                 fallback, NULL));
  if (r != NULL)
    CHECK_OK(pmc_options_set_hash_state_callback(o, on_state, r, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

static pmc_node_health health(pmc_client *c, const char *server) {
  pmc_node_health h;
  CHECK_OK(pmc_client_node_state(c, server, &h, NULL));
  return h;
}

/* A key that lives on `server`, written into `key`. */
static void key_on(pmc_client *c, const char *server, char *key, size_t size) {
  for (int i = 0; i < 1000; i++) {
    char *name = NULL;
    snprintf(key, size, "ft:%d", i);
    CHECK_OK(pmc_client_server_for_key(c, BYTES(key), &name, NULL));
    bool here = strcmp(name, server) == 0;
    pmc_string_free(name);
    if (here)
      return;
  }
  FAIL("no key on %s", server);
}

/* Read `key` until `server` is in `state` (at most 5 s). */
static void drive_until(pmc_client *c, const char *key, const char *server, int state) {
  long long deadline = test_now_ms() + 5000;
  while (health(c, server).state != state) {
    pmc_value v = {0};
    if (test_now_ms() > deadline)
      FAIL("%s never became %s", server, state_name(state));
    (void)pmc_get(c, BYTES(key), &v, NULL);
    pmc_value_free(&v);
    test_sleep_ms(10);
  }
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void kill_and_restart(void) {
  recorder r = {.lock = PTHREAD_MUTEX_INITIALIZER};
  const char *victim = servers[0].addr;
  char key[64];
  pmc_client *c;
  pmc_node_health h;
  pmc_value v = {0};
  pmc_error *err = NULL;
  double max_us = 0;

  snprintf(r.server, sizeof r.server, "%s", victim);
  c = tracked_client(false, &r);
  key_on(c, victim, key, sizeof key);
  CHECK_OK(pmc_set(c, BYTES(key), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL));
  h = health(c, victim);
  CHECK_UINT(h.state, PMC_NODE_UP);

  /* Killed: THRESHOLD failures, then soft-down. */
  test_memcached_kill(&servers[0]);
  drive_until(c, key, victim, PMC_NODE_SOFT_DOWN);
  h = health(c, victim);
  CHECK(h.refusals >= THRESHOLD);
  CHECK_UINT(h.timeouts, 0);

  /* Fail fast: no socket touched, the message names the server. */
  for (int i = 0; i < 20; i++) {
    double t = now_us();
    pmc_status st = pmc_get(c, BYTES(key), &v, &err);
    double took = now_us() - t;
    CHECK_UINT(st, PMC_IO_ERROR);
    CHECK_UINT(pmc_error_status(err), PMC_IO_ERROR);
    CHECK_CONTAINS(pmc_error_message(err), "is marked down");
    CHECK_CONTAINS(pmc_error_message(err), victim);
    pmc_error_free(err);
    err = NULL;
    if (took > max_us)
      max_us = took;
  }
  printf("fail-fast: max %.1f us over 20 calls\n", max_us);

  /* Restarted: the next probe brings it back. */
  test_memcached_restart(&servers[0], NULL);
  drive_until(c, key, victim, PMC_NODE_UP);
  CHECK_OK(pmc_set(c, BYTES(key), BYTES("again"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, "again");
  pmc_value_free(&v);
  h = health(c, victim);
  CHECK_UINT(h.consecutive_failures, 0);

  /* The callback saw: up -> soft-down (refused), then probes, and finally
     probing -> up (success); each step starts where the last ended. */
  pthread_mutex_lock(&r.lock);
  CHECK(r.n >= 3);
  CHECK_UINT(r.events[0].from, PMC_NODE_UP);
  CHECK_UINT(r.events[0].to, PMC_NODE_SOFT_DOWN);
  CHECK_UINT(r.events[0].cause, PMC_NODE_CAUSE_REFUSED);
  for (size_t i = 1; i < r.n; i++)
    CHECK_UINT(r.events[i].from, r.events[i - 1].to);
  CHECK_UINT(r.events[r.n - 1].from, PMC_NODE_PROBING);
  CHECK_UINT(r.events[r.n - 1].to, PMC_NODE_UP);
  CHECK_UINT(r.events[r.n - 1].cause, PMC_NODE_CAUSE_SUCCESS);
  printf("states:");
  for (size_t i = 0; i < r.n; i++)
    printf(" %s->%s", state_name(r.events[i].from), state_name(r.events[i].to));
  printf("\n");
  pthread_mutex_unlock(&r.lock);
  pmc_client_free(c);
}

static void fallback(void) {
  const char *victim = servers[1].addr;
  char key[64];
  pmc_client *c = tracked_client(true, NULL);
  pmc_value v = {0};

  key_on(c, victim, key, sizeof key);
  test_memcached_kill(&servers[1]);
  drive_until(c, key, victim, PMC_NODE_SOFT_DOWN);
  /* Its keys now go to their next server; nothing fails. */
  CHECK_OK(pmc_set(c, BYTES(key), BYTES("moved"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, "moved");
  pmc_value_free(&v);
  pmc_client_free(c);
  test_memcached_restart(&servers[1], NULL);
}

static void bad_options(void) {
  pmc_options *o = pmc_options_new();
  pmc_error *err = NULL;
  pmc_client *c = NULL;
  pmc_node_health h;

  CHECK_STATUS(pmc_options_set_hash_failure_tracking(o, 0, 100, 400, false, &err),
               PMC_CONFIG_ERROR);
  CHECK_CONTAINS(pmc_error_message(err), "threshold");
  pmc_error_free(err);
  CHECK_STATUS(pmc_options_set_hash_failure_tracking(o, 3, 500, 100, false, &err),
               PMC_CONFIG_ERROR);
  CHECK_CONTAINS(pmc_error_message(err), "below the initial backoff");
  pmc_error_free(err);
  CHECK_STATUS(pmc_options_set_hash_failure_tracking(NULL, 3, 100, 400, false, NULL),
               PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_hash_state_callback(NULL, on_state, NULL, NULL),
               PMC_NULL_ARGUMENT);

  /* Without failure tracking there are no node states. */
  CHECK_OK(pmc_options_add_server(o, servers[2].addr, NULL));
  CHECK_OK(pmc_options_set_use_hash_client(o, true, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  CHECK_STATUS(pmc_client_node_state(c, servers[2].addr, &h, &err), PMC_INVALID_ARGUMENT);
  CHECK_CONTAINS(pmc_error_message(err), "failure tracking");
  pmc_error_free(err);
  CHECK_STATUS(pmc_client_node_state(c, NULL, &h, NULL), PMC_NULL_ARGUMENT);
  pmc_client_free(c);
  pmc_options_free(o);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < NODES; i++)
    test_memcached_start(&servers[i], NULL);
  kill_and_restart();
  fallback();
  bad_options();
  for (int i = 0; i < NODES; i++)
    test_memcached_stop(&servers[i]);
  printf("failure_tracking: ok\n");
  return 0;
}

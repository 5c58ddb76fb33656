/*
 * cas_retry.c: optimistic concurrency with gets + cas.
 *
 * The classic loop: read the value and its CAS unique, compute a new value,
 * store it only if nobody changed the item meanwhile, else start over. A
 * second client plays "somebody else" and changes the item once between
 * our gets and our cas, so the first attempt must end in PMC_EXISTS and the
 * second must succeed.
 *
 * Usage: cas_retry STATE_DIR
 */
#include "test_util.h"

/* Add `delta` to the decimal number stored at `key` with a gets/cas loop.
   `meddle` (may be NULL) runs between the gets and the cas of the first
   attempt. Returns the number of attempts; *exists counts PMC_EXISTS. */
static int add_with_cas(pmc_client *c, const char *key, long delta,
                        void (*meddle)(void *), void *arg, int *exists) {
  for (int attempt = 1; attempt <= 10; attempt++) {
    pmc_value v = {0};
    char next[32];
    pmc_status st;

    CHECK_OK(pmc_gets(c, BYTES(key), &v, NULL));
    CHECK(v.cas != 0);
    snprintf(next, sizeof next, "%ld", strtol((const char *)v.data, NULL, 10) + delta);
    if (attempt == 1 && meddle != NULL)
      meddle(arg);
    /* PMC_REPLY_DEFAULT: cas always waits unless told otherwise. */
    st = pmc_cas(c, BYTES(key), BYTES(next), v.cas, v.flags, 0, PMC_REPLY_DEFAULT, NULL);
    pmc_value_free(&v);
    if (st == PMC_OK)
      return attempt;
    CHECK_STATUS(st, PMC_EXISTS); /* anything else is a real error */
    (*exists)++;
  }
  FAIL("cas did not succeed in 10 attempts");
}

/* "Somebody else": another client (its own connection) sets the counter. */
typedef struct other {
  pmc_client *client;
  const char *key;
} other;

static void other_writer(void *arg) {
  other *o = arg;
  CHECK_OK(pmc_set(o->client, BYTES(o->key), BYTES("100"), 0, 0, PMC_REPLY_WAIT, NULL));
}

static void expect(pmc_client *c, const char *key, const char *want) {
  pmc_value v = {0};
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, want);
  pmc_value_free(&v);
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c, *c2;
  other o;
  int exists = 0, attempts;
  pmc_value v = {0}, stale = {0};

  test_env_load(&env, argc, argv);
  c = test_client(env.server, "cas");
  c2 = test_client(env.server, "cas"); /* same key prefix, other connection */

  /* Without interference: one attempt. */
  CHECK_OK(pmc_set(c, BYTES("counter"), BYTES("1"), 0, 0, PMC_REPLY_WAIT, NULL));
  attempts = add_with_cas(c, "counter", 1, NULL, NULL, &exists);
  CHECK(attempts == 1 && exists == 0);
  expect(c, "counter", "2");

  /* With one concurrent change: EXISTS once, then success on top of the
     other writer's value (100 + 5, not 2 + 5). */
  o.client = c2;
  o.key = "counter";
  attempts = add_with_cas(c, "counter", 5, other_writer, &o, &exists);
  CHECK(attempts == 2);
  CHECK(exists == 1);
  expect(c, "counter", "105");

  /* A stale CAS unique is refused and nothing is written... */
  CHECK_OK(pmc_gets(c, BYTES("counter"), &stale, NULL));
  CHECK_OK(pmc_set(c2, BYTES("counter"), BYTES("200"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_cas(c, BYTES("counter"), BYTES("stale"), stale.cas, 0, 0,
                       PMC_REPLY_WAIT, NULL), PMC_EXISTS);
  expect(c, "counter", "200");
  /* ...also when sent with noreply (PMC_OK: the outcome is unknown). */
  CHECK_OK(pmc_cas(c, BYTES("counter"), BYTES("stale"), stale.cas, 0, 0,
                   PMC_REPLY_NONE, NULL));
  expect(c, "counter", "200");

  /* A fresh CAS unique with noreply does store. */
  CHECK_OK(pmc_gets(c, BYTES("counter"), &v, NULL));
  CHECK_OK(pmc_cas(c, BYTES("counter"), BYTES("fresh"), v.cas, 3, 0,
                   PMC_REPLY_NONE, NULL));
  pmc_value_free(&v);
  CHECK_OK(pmc_get(c, BYTES("counter"), &v, NULL));
  CHECK_VALUE_STR(&v, "fresh");
  CHECK_UINT(v.flags, 3);
  pmc_value_free(&v);

  /* cas on a key that does not exist (any more): PMC_NOT_FOUND. */
  CHECK_STATUS(pmc_cas(c, BYTES("no-such-key"), BYTES("x"), 12345, 0, 0,
                       PMC_REPLY_WAIT, NULL), PMC_NOT_FOUND);
  CHECK_OK(pmc_delete(c, BYTES("counter"), PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_cas(c, BYTES("counter"), BYTES("x"), stale.cas, 0, 0,
                       PMC_REPLY_DEFAULT, NULL), PMC_NOT_FOUND);
  CHECK_STATUS(pmc_gets(c, BYTES("counter"), &v, NULL), PMC_MISS);
  pmc_value_free(&stale);

  pmc_client_free(c2);
  pmc_client_free(c);
  puts("cas_retry: ok");
  return 0;
}

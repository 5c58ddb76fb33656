/*
 * basic.c: the everyday commands against one memcached over TCP.
 *
 * set/get/add/replace/append/prepend/delete/touch, gat/gats, misses,
 * flags, expiry, version, and the three per-call reply modes.
 *
 * Usage: basic STATE_DIR   (the ctest fixture's directory; see test_util.h)
 */
#include "test_util.h"

/* Read `key` and compare it with `want` (NUL-terminated) and `flags`. */
static void expect_value(pmc_client *c, const char *key, const char *want,
                         uint32_t flags) {
  pmc_value v = {0};
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, want);
  CHECK_UINT(v.flags, flags);
  CHECK_UINT(v.cas, 0); /* plain get carries no CAS unique */
  pmc_value_free(&v);
}

static void expect_miss(pmc_client *c, const char *key) {
  /* On a miss the out-parameter is left exactly as it was. */
  pmc_value v = {(uint8_t *)"untouched", 9, 7, 8};
  CHECK_STATUS(pmc_get(c, BYTES(key), &v, NULL), PMC_MISS);
  CHECK(v.data == (uint8_t *)"untouched" && v.len == 9 && v.flags == 7 &&
        v.cas == 8);
}

static void storage_commands(pmc_client *c) {
  /* set, then get: value and flags come back. */
  CHECK_OK(pmc_set(c, BYTES("greeting"), BYTES("hello"), 0, 0, PMC_REPLY_WAIT, NULL));
  expect_value(c, "greeting", "hello", 0);

  /* set overwrites, flags are stored with the item (all 32 bits). */
  CHECK_OK(pmc_set(c, BYTES("greeting"), BYTES("hi"), 0xdeadbeefu, 0,
                   PMC_REPLY_WAIT, NULL));
  expect_value(c, "greeting", "hi", 0xdeadbeefu);
  CHECK_OK(pmc_set(c, BYTES("greeting"), BYTES("hi"), UINT32_MAX, 0,
                   PMC_REPLY_WAIT, NULL));
  expect_value(c, "greeting", "hi", UINT32_MAX);

  /* add stores only when the key is absent. */
  CHECK_STATUS(pmc_add(c, BYTES("greeting"), BYTES("nope"), 0, 0,
                       PMC_REPLY_WAIT, NULL), PMC_NOT_STORED);
  expect_value(c, "greeting", "hi", UINT32_MAX);
  CHECK_OK(pmc_add(c, BYTES("fresh"), BYTES("new"), 16, 0, PMC_REPLY_WAIT, NULL));
  expect_value(c, "fresh", "new", 16);

  /* replace stores only when the key exists. */
  CHECK_STATUS(pmc_replace(c, BYTES("absent"), BYTES("x"), 0, 0,
                           PMC_REPLY_WAIT, NULL), PMC_NOT_STORED);
  expect_miss(c, "absent");
  CHECK_OK(pmc_replace(c, BYTES("fresh"), BYTES("newer"), 2, 0, PMC_REPLY_WAIT, NULL));
  expect_value(c, "fresh", "newer", 2);

  /* append/prepend add bytes to an existing value and keep its flags. */
  CHECK_OK(pmc_append(c, BYTES("fresh"), BYTES("-tail"), 99, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_prepend(c, BYTES("fresh"), BYTES("head-"), 99, 0, PMC_REPLY_WAIT, NULL));
  expect_value(c, "fresh", "head-newer-tail", 2);
  CHECK_STATUS(pmc_append(c, BYTES("absent"), BYTES("x"), 0, 0, PMC_REPLY_WAIT, NULL),
               PMC_NOT_STORED);
  CHECK_STATUS(pmc_prepend(c, BYTES("absent"), BYTES("x"), 0, 0, PMC_REPLY_WAIT, NULL),
               PMC_NOT_STORED);
  expect_miss(c, "absent");

  /* delete: found once, then not found. */
  CHECK_OK(pmc_delete(c, BYTES("fresh"), PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_delete(c, BYTES("fresh"), PMC_REPLY_WAIT, NULL), PMC_NOT_FOUND);
  expect_miss(c, "fresh");
}

static void gets_and_gat(pmc_client *c) {
  pmc_value v = {0}, w = {0};

  CHECK_OK(pmc_set(c, BYTES("g"), BYTES("value-g"), 5, 0, PMC_REPLY_WAIT, NULL));

  /* gets carries a CAS unique; it changes when the item changes. */
  CHECK_OK(pmc_gets(c, BYTES("g"), &v, NULL));
  CHECK_VALUE_STR(&v, "value-g");
  CHECK_UINT(v.flags, 5);
  CHECK(v.cas != 0);
  CHECK_OK(pmc_set(c, BYTES("g"), BYTES("value-g2"), 5, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_gets(c, BYTES("g"), &w, NULL));
  CHECK(w.cas != 0 && w.cas != v.cas);
  pmc_value_free(&v);
  pmc_value_free(&w);

  /* gat reads and sets a new expiry; gats also gives the CAS unique. */
  CHECK_OK(pmc_gat(c, BYTES("g"), 0, &v, NULL));
  CHECK_VALUE_STR(&v, "value-g2");
  CHECK_UINT(v.flags, 5);
  CHECK_UINT(v.cas, 0);
  pmc_value_free(&v);
  CHECK_OK(pmc_gats(c, BYTES("g"), 0, &v, NULL));
  CHECK_VALUE_STR(&v, "value-g2");
  CHECK(v.cas != 0);
  pmc_value_free(&v);

  /* Misses of every retrieval command leave the out-parameter alone. */
  CHECK_STATUS(pmc_gets(c, BYTES("missing"), &v, NULL), PMC_MISS);
  CHECK_STATUS(pmc_gat(c, BYTES("missing"), 10, &v, NULL), PMC_MISS);
  CHECK_STATUS(pmc_gats(c, BYTES("missing"), 10, &v, NULL), PMC_MISS);
  CHECK(v.data == NULL && v.len == 0);
  expect_miss(c, "missing");

  /* touch on a missing key. */
  CHECK_STATUS(pmc_touch(c, BYTES("missing"), 10, PMC_REPLY_WAIT, NULL),
               PMC_NOT_FOUND);
}

/* Expiry: what set, touch and gat do to an item's lifetime. One sleep
   covers all cases. memcached's clock ticks once a second, so an item set
   to live N seconds lives between N-1 and N: the items that must still be
   there when touched get 2 seconds. */
static void expiry(pmc_client *c) {
  pmc_value v = {0};

  /* A negative expiry means "already expired". */
  CHECK_OK(pmc_set(c, BYTES("gone"), BYTES("x"), 0, -1, PMC_REPLY_WAIT, NULL));
  expect_miss(c, "gone");

  CHECK_OK(pmc_set(c, BYTES("short"), BYTES("1"), 0, 1, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_set(c, BYTES("touched-short"), BYTES("2"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_touch(c, BYTES("touched-short"), 1, PMC_REPLY_DEFAULT, NULL));
  CHECK_OK(pmc_set(c, BYTES("touched-long"), BYTES("3"), 0, 2, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_touch(c, BYTES("touched-long"), 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_set(c, BYTES("gat-long"), BYTES("4"), 0, 2, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_gat(c, BYTES("gat-long"), 3600, &v, NULL));
  CHECK_VALUE_STR(&v, "4");
  pmc_value_free(&v);
  CHECK_OK(pmc_set(c, BYTES("gats-short"), BYTES("5"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_gats(c, BYTES("gats-short"), 1, &v, NULL));
  pmc_value_free(&v);

  test_sleep_ms(2500);
  expect_miss(c, "short");
  expect_miss(c, "touched-short");
  expect_miss(c, "gats-short");
  expect_value(c, "touched-long", "3", 0); /* would be gone without touch */
  expect_value(c, "gat-long", "4", 0);     /* would be gone without gat */
}

/* PMC_REPLY_DEFAULT follows default_noreply (on unless changed) for storage
   commands and delete; PMC_REPLY_WAIT reports the outcome; PMC_REPLY_NONE
   sends noreply and reports PMC_OK whatever happened. */
static void reply_modes(pmc_client *noreply_client, pmc_client *waiting_client) {
  pmc_client *c = noreply_client;
  CHECK_OK(pmc_set(c, BYTES("rm"), BYTES("one"), 0, 0, PMC_REPLY_DEFAULT, NULL));
  expect_value(c, "rm", "one", 0); /* same connection: the set came first */

  /* add of an existing key: not stored, but only WAIT can tell. */
  CHECK_OK(pmc_add(c, BYTES("rm"), BYTES("two"), 0, 0, PMC_REPLY_DEFAULT, NULL));
  CHECK_OK(pmc_add(c, BYTES("rm"), BYTES("two"), 0, 0, PMC_REPLY_NONE, NULL));
  CHECK_STATUS(pmc_add(c, BYTES("rm"), BYTES("two"), 0, 0, PMC_REPLY_WAIT, NULL),
               PMC_NOT_STORED);
  expect_value(c, "rm", "one", 0);

  /* The same for replace/append/prepend of a missing key. */
  CHECK_OK(pmc_replace(c, BYTES("rm-missing"), BYTES("x"), 0, 0, PMC_REPLY_DEFAULT, NULL));
  CHECK_OK(pmc_append(c, BYTES("rm-missing"), BYTES("x"), 0, 0, PMC_REPLY_NONE, NULL));
  CHECK_OK(pmc_prepend(c, BYTES("rm-missing"), BYTES("x"), 0, 0, PMC_REPLY_DEFAULT, NULL));
  expect_miss(c, "rm-missing");

  /* delete of a missing key. */
  CHECK_OK(pmc_delete(c, BYTES("rm-missing"), PMC_REPLY_DEFAULT, NULL));
  CHECK_OK(pmc_delete(c, BYTES("rm-missing"), PMC_REPLY_NONE, NULL));
  CHECK_STATUS(pmc_delete(c, BYTES("rm-missing"), PMC_REPLY_WAIT, NULL), PMC_NOT_FOUND);

  /* touch follows default_noreply too (pymemcache's touch(noreply=None)). */
  CHECK_OK(pmc_touch(c, BYTES("rm-missing"), 0, PMC_REPLY_DEFAULT, NULL));
  CHECK_OK(pmc_touch(c, BYTES("rm-missing"), 0, PMC_REPLY_NONE, NULL));
  CHECK_STATUS(pmc_touch(c, BYTES("rm-missing"), 0, PMC_REPLY_WAIT, NULL), PMC_NOT_FOUND);

  /* A noreply delete really deletes. */
  CHECK_OK(pmc_delete(c, BYTES("rm"), PMC_REPLY_NONE, NULL));
  expect_miss(c, "rm");

  /* With default_noreply off, PMC_REPLY_DEFAULT waits. */
  c = waiting_client;
  CHECK_OK(pmc_set(c, BYTES("rm"), BYTES("one"), 0, 0, PMC_REPLY_DEFAULT, NULL));
  CHECK_STATUS(pmc_add(c, BYTES("rm"), BYTES("two"), 0, 0, PMC_REPLY_DEFAULT, NULL),
               PMC_NOT_STORED);
  CHECK_OK(pmc_add(c, BYTES("rm"), BYTES("two"), 0, 0, PMC_REPLY_NONE, NULL));
  CHECK_STATUS(pmc_replace(c, BYTES("rm-missing"), BYTES("x"), 0, 0,
                           PMC_REPLY_DEFAULT, NULL), PMC_NOT_STORED);
  CHECK_OK(pmc_delete(c, BYTES("rm"), PMC_REPLY_DEFAULT, NULL));
  CHECK_STATUS(pmc_delete(c, BYTES("rm"), PMC_REPLY_DEFAULT, NULL), PMC_NOT_FOUND);
  CHECK_STATUS(pmc_touch(c, BYTES("rm"), 0, PMC_REPLY_DEFAULT, NULL), PMC_NOT_FOUND);
}

static void version(pmc_client *c, const test_env *env) {
  char *v = NULL;
  CHECK_OK(pmc_version(c, &v, NULL));
  CHECK(v != NULL);
  if (env->version[0] != '\0')
    CHECK_STR(v, env->version); /* what `memcached --version` said */
  else
    CHECK(v[0] >= '0' && v[0] <= '9' && strchr(v, '.') != NULL);
  pmc_string_free(v);
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c, *waiting;
  test_env_load(&env, argc, argv);

  /* Keys get a per-process prefix, so the shared server is never a problem. */
  c = test_client(env.server, "basic");
  waiting = test_client_noreply(env.server, "basic", false);

  storage_commands(c);
  gets_and_gat(c);
  reply_modes(c, waiting);
  version(c, &env);
  expiry(c);

  pmc_client_free(waiting);
  pmc_client_free(c);
  puts("basic: ok");
  return 0;
}

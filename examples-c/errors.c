/*
 * errors.c: bad input and error handling.
 *
 *  - every pointer argument of every function set to NULL: a status (or a
 *    documented no-op / NULL / 0), never a crash;
 *  - bad reply modes, illegal keys, bytes keys, bad server addresses and
 *    option sets, key prefixes and their share of the 250-byte limit;
 *  - network failures: refused connections, a server that never answers
 *    (timeouts), a server that closes mid-reply or talks nonsense;
 *  - server-side refusals: values over the item size, unknown commands;
 *  - max_value_len in both directions, ignore_exc;
 *  - pmc_status_str for every code, and the free functions' edge cases.
 *
 * Usage: errors STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

static const char *server; /* the fixture's TCP memcached */

/* A client for `addr` with a read/write timeout (so a bug cannot hang the
   test) and otherwise default options. */
static pmc_client *client_for(const char *addr) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  CHECK_OK(pmc_options_add_server(o, addr, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 5000, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

/* ---- NULL arguments ----------------------------------------------------- */

static void null_arguments(void) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = test_client(server, "errors");
  const uint8_t *k1[1] = {(const uint8_t *)"k"}, *knull[1] = {NULL};
  const uint8_t *v1[1] = {(const uint8_t *)"v"}, *vnull[1] = {NULL};
  size_t l1[1] = {1}, n = 0;
  pmc_value v = {0};
  pmc_results *r = NULL;
  pmc_stats_list *s = NULL;
  pmc_item it;
  pmc_pool_stats ps;
  char *str = NULL;
  uint64_t nv = 0;
  const char *args[1] = {NULL};
  const char *name = NULL;
  const uint8_t *key = (const uint8_t *)"k";

  /* Options. */
  CHECK_STATUS(pmc_options_add_server(NULL, server, NULL), PMC_NULL_ARGUMENT);
  CHECK_LAST_ERROR(PMC_NULL_ARGUMENT, "opts");
  CHECK_STATUS(pmc_options_add_server(o, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_LAST_ERROR(PMC_NULL_ARGUMENT, "server");
  CHECK_STATUS(pmc_options_set_connect_timeout_ms(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_timeout_ms(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_no_delay(NULL, true, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_keepalive(NULL, true, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_ignore_exc(NULL, true, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_default_noreply(NULL, true, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_allow_unicode_keys(NULL, true, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_max_value_len(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_use_pooling(NULL, true, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_max_pool_size(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_pool_timeout_ms(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_pool_idle_timeout_ms(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_key_prefix(NULL, BYTES("p"), NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_key_prefix(o, NULL, 3, NULL), PMC_NULL_ARGUMENT);
  CHECK_OK(pmc_options_set_key_prefix(o, NULL, 0, NULL)); /* empty: no prefix */

  /* Client creation. */
  CHECK_STATUS(pmc_client_new(NULL, &c, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_new(o, NULL, NULL), PMC_NULL_ARGUMENT);

  /* Retrieval: client, key, out. */
  CHECK_STATUS(pmc_get(NULL, key, 1, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_LAST_ERROR(PMC_NULL_ARGUMENT, "client");
  CHECK_STATUS(pmc_get(c, NULL, 1, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_LAST_ERROR(PMC_NULL_ARGUMENT, "key");
  CHECK_STATUS(pmc_get(c, NULL, 0, &v, NULL), PMC_NULL_ARGUMENT); /* a key is never NULL */
  CHECK_STATUS(pmc_get(c, key, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets(NULL, key, 1, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets(c, NULL, 1, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets(c, key, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gat(NULL, key, 1, 0, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gat(c, NULL, 1, 0, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gat(c, key, 1, 0, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gats(NULL, key, 1, 0, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gats(c, NULL, 1, 0, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gats(c, key, 1, 0, NULL, NULL), PMC_NULL_ARGUMENT);

  /* Multi-key retrieval: client, keys, key_lens, keys[i], out. */
  CHECK_STATUS(pmc_get_many(NULL, k1, l1, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_many(c, NULL, l1, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_many(c, k1, NULL, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_many(c, knull, l1, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_many(c, k1, l1, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets_many(NULL, k1, l1, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets_many(c, NULL, l1, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets_many(c, k1, NULL, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets_many(c, knull, l1, 1, &r, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_gets_many(c, k1, l1, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK(r == NULL); /* never written on failure */

  /* Storage: client, key, value (NULL is fine only with length 0). */
  CHECK_STATUS(pmc_set(NULL, key, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set(c, NULL, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set(c, key, 1, NULL, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_LAST_ERROR(PMC_NULL_ARGUMENT, "value");
  CHECK_STATUS(pmc_add(NULL, key, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_add(c, NULL, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_add(c, key, 1, NULL, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_replace(NULL, key, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_replace(c, NULL, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_replace(c, key, 1, NULL, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_append(NULL, key, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_append(c, NULL, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_append(c, key, 1, NULL, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_prepend(NULL, key, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_prepend(c, NULL, 1, key, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_prepend(c, key, 1, NULL, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_cas(NULL, key, 1, key, 1, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_cas(c, NULL, 1, key, 1, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_cas(c, key, 1, NULL, 1, 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);

  /* set_many: client, keys, key_lens, values, value_lens, keys[i], values[i]. */
  CHECK_STATUS(pmc_set_many(NULL, k1, l1, v1, l1, 1, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_many(c, NULL, l1, v1, l1, 1, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_many(c, k1, NULL, v1, l1, 1, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_many(c, k1, l1, NULL, l1, 1, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_many(c, k1, l1, v1, NULL, 1, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_many(c, knull, l1, v1, l1, 1, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_many(c, k1, l1, vnull, l1, 1, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL), PMC_NULL_ARGUMENT);

  /* Keys only: delete, delete_many, incr, decr, touch. */
  CHECK_STATUS(pmc_delete(NULL, key, 1, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_delete(c, NULL, 1, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_delete_many(NULL, k1, l1, 1, PMC_REPLY_WAIT, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_delete_many(c, NULL, l1, 1, PMC_REPLY_WAIT, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_delete_many(c, k1, NULL, 1, PMC_REPLY_WAIT, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_delete_many(c, knull, l1, 1, PMC_REPLY_WAIT, &n, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_incr(NULL, key, 1, 1, PMC_REPLY_WAIT, &nv, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_incr(c, NULL, 1, 1, PMC_REPLY_WAIT, &nv, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_decr(NULL, key, 1, 1, PMC_REPLY_WAIT, &nv, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_decr(c, NULL, 1, 1, PMC_REPLY_WAIT, &nv, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_touch(NULL, key, 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_touch(c, NULL, 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);

  /* Server commands. */
  CHECK_STATUS(pmc_stats(NULL, NULL, 0, &s, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_stats(c, NULL, 0, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_stats(c, NULL, 1, &s, NULL), PMC_NULL_ARGUMENT);  /* args */
  CHECK_STATUS(pmc_stats(c, args, 1, &s, NULL), PMC_NULL_ARGUMENT);  /* args[0] */
  CHECK(s == NULL);
  CHECK_STATUS(pmc_version(NULL, &str, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_version(c, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_flush_all(NULL, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_cache_memlimit(NULL, 64, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_raw_command(NULL, BYTES("version"), BYTES("\r\n"), &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_raw_command(c, NULL, 7, BYTES("\r\n"), &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_raw_command(c, BYTES("version"), NULL, 2, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_raw_command(c, BYTES("version"), BYTES("\r\n"), NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_shutdown(NULL, false, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_quit(NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_close(NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_pool_stats(NULL, &ps, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_pool_stats(c, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_pool_clear(NULL, NULL), PMC_NULL_ARGUMENT);

  /* Hash, fallback and retrying clients. */
  CHECK_STATUS(pmc_options_set_use_hash_client(NULL, true, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_retry_attempts(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_retry_timeout_ms(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_dead_timeout_ms(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_add_server(NULL, server, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_remove_server(NULL, server, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_server_for_key(NULL, key, 1, &str, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_server_for_key(c, NULL, 1, &str, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_server_for_key(c, key, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  {
    pmc_client *list[1] = {NULL}, *made = NULL;
    CHECK_STATUS(pmc_client_new_fallback(NULL, 1, &made, NULL), PMC_NULL_ARGUMENT);
    CHECK_STATUS(pmc_client_new_fallback(list, 1, &made, NULL), PMC_NULL_ARGUMENT);
    CHECK_STATUS(pmc_client_new_retrying(NULL, 2, 0, NULL, 0, NULL, 0, &made, NULL), PMC_NULL_ARGUMENT);
    CHECK(made == NULL);
  }

  /* Typed values and serde. */
  CHECK_STATUS(pmc_options_set_compression(NULL, true, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_options_set_serde(NULL, NULL, NULL, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_OK(pmc_options_set_serde(o, NULL, NULL, NULL, NULL)); /* no callbacks: fine */
  CHECK_STATUS(pmc_buffer_set(NULL, key, 1, 0, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_text(NULL, key, 1, "t", 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_text(c, NULL, 1, "t", 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_text(c, key, 1, NULL, 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_text(NULL, key, 1, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_text(c, NULL, 1, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_text(c, key, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_int64(NULL, key, 1, 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_int64(c, NULL, 1, 1, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  {
    int64_t i64 = 0;
    CHECK_STATUS(pmc_get_int64(NULL, key, 1, &i64, NULL), PMC_NULL_ARGUMENT);
    CHECK_STATUS(pmc_get_int64(c, NULL, 1, &i64, NULL), PMC_NULL_ARGUMENT);
    CHECK_STATUS(pmc_get_int64(c, key, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  }
  CHECK_STATUS(pmc_set_json(NULL, key, 1, "1", 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_json(c, NULL, 1, "1", 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_set_json(c, key, 1, NULL, 0, PMC_REPLY_WAIT, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_json(NULL, key, 1, &str, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_json(c, NULL, 1, &str, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_get_json(c, key, 1, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK(str == NULL);

  /* Results and stats accessors. */
  CHECK_UINT(pmc_results_len(NULL), 0);
  CHECK_STATUS(pmc_results_at(NULL, 0, &it, NULL), PMC_NULL_ARGUMENT);
  {
    size_t n_items = 99;
    CHECK(pmc_results_items(NULL, &n_items) == NULL);
    CHECK_UINT(n_items, 0);
    CHECK(pmc_results_items(NULL, NULL) == NULL);
  }
  CHECK_UINT(pmc_stats_len(NULL), 0);
  CHECK_STATUS(pmc_stats_at(NULL, 0, &name, &name, &name, NULL), PMC_NULL_ARGUMENT);
  CHECK(pmc_stats_find(NULL, "pid") == NULL);
  CHECK_OK(pmc_stats(c, NULL, 0, &s, NULL));
  CHECK(pmc_stats_find(s, NULL) == NULL);
  CHECK_OK(pmc_stats_at(s, 0, NULL, NULL, NULL, NULL)); /* outs are optional */
  CHECK_OK(pmc_get_many(c, k1, l1, 1, &r, NULL));
  CHECK_STATUS(pmc_results_at(r, 0, NULL, NULL), PMC_NULL_ARGUMENT);

  /* Indices out of range. */
  CHECK_STATUS(pmc_results_at(r, pmc_results_len(r), &it, NULL), PMC_INVALID_ARGUMENT);
  CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "out of range");
  CHECK_STATUS(pmc_results_at(r, (size_t)-1, &it, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_stats_at(s, pmc_stats_len(s), &name, NULL, NULL, NULL), PMC_INVALID_ARGUMENT);
  CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "out of range");
  CHECK_STATUS(pmc_stats_at(s, SIZE_MAX, NULL, NULL, NULL, NULL), PMC_INVALID_ARGUMENT);

  /* Every free function accepts NULL. */
  pmc_value_free(NULL);
  pmc_results_free(NULL);
  pmc_stats_free(NULL);
  pmc_string_free(NULL);
  pmc_client_free(NULL);
  pmc_options_free(NULL);

  /* None of the above broke the client. */
  CHECK_OK(pmc_set(c, BYTES("still-fine"), BYTES("yes"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("still-fine"), &v, NULL));
  CHECK_VALUE_STR(&v, "yes");

  /* pmc_value_free zeroes the value, so freeing twice is harmless; so is
     freeing a value that was never filled. */
  pmc_value_free(&v);
  CHECK(v.data == NULL && v.len == 0 && v.flags == 0 && v.cas == 0);
  pmc_value_free(&v);
  pmc_value_free(&v);

  pmc_results_free(r);
  pmc_stats_free(s);
  pmc_client_free(c);
  pmc_options_free(o);
}

/* ---- bad arguments -------------------------------------------------------- */

static void bad_reply_modes(void) {
  pmc_client *c = test_client(server, "errors");
  CHECK_STATUS(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, 3, NULL), PMC_INVALID_ARGUMENT);
  CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "reply mode");
  CHECK_STATUS(pmc_add(c, BYTES("k"), BYTES("v"), 0, 0, -1, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_replace(c, BYTES("k"), BYTES("v"), 0, 0, 99, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_append(c, BYTES("k"), BYTES("v"), 0, 0, 3, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_prepend(c, BYTES("k"), BYTES("v"), 0, 0, 3, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_cas(c, BYTES("k"), BYTES("v"), 1, 0, 0, 3, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_delete(c, BYTES("k"), 3, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_incr(c, BYTES("k"), 1, 3, NULL, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_decr(c, BYTES("k"), 1, 3, NULL, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_touch(c, BYTES("k"), 0, 3, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_flush_all(c, 0, 3, NULL), PMC_INVALID_ARGUMENT);
  {
    const uint8_t *k[1] = {(const uint8_t *)"k"};
    size_t l[1] = {1}, n = 99;
    CHECK_STATUS(pmc_set_many(c, k, l, k, l, 1, 0, 0, 3, NULL, &n, NULL), PMC_INVALID_ARGUMENT);
    CHECK_STATUS(pmc_delete_many(c, k, l, 1, INT32_MIN, &n, NULL), PMC_INVALID_ARGUMENT);
    CHECK_UINT(n, 99);
  }
  /* Nothing was stored by any of them. */
  {
    pmc_value v = {0};
    CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_MISS);
  }
  pmc_client_free(c);
}

/* One illegal key through every keyed command: PMC_ILLEGAL_INPUT and
   nothing is sent. */
static void expect_illegal(pmc_client *c, const uint8_t *key, size_t len,
                           const char *what) {
  pmc_value v = {0};
  pmc_results *r = NULL;
  const uint8_t *keys[2] = {(const uint8_t *)"legal", key};
  size_t lens[2] = {5, len}, n = 99;
  uint64_t nv = 7;
  pmc_status st;

  CHECK_STATUS(pmc_get(c, key, len, &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_LAST_ERROR(PMC_ILLEGAL_INPUT, what);
  CHECK_STATUS(pmc_gets(c, key, len, &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_gat(c, key, len, 0, &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_gats(c, key, len, 0, &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_set(c, key, len, BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_set(c, key, len, BYTES("v"), 0, 0, PMC_REPLY_NONE, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_add(c, key, len, BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_replace(c, key, len, BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_append(c, key, len, BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_prepend(c, key, len, BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_cas(c, key, len, BYTES("v"), 1, 0, 0, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_delete(c, key, len, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_incr(c, key, len, 1, PMC_REPLY_WAIT, &nv, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_decr(c, key, len, 1, PMC_REPLY_WAIT, &nv, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_touch(c, key, len, 0, PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  CHECK_UINT(nv, 7);

  /* In a batch, one illegal key stops the whole batch before anything is
     sent: "legal" is neither stored nor deleted. */
  CHECK_STATUS(pmc_get_many(c, keys, lens, 2, &r, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_gets_many(c, keys, lens, 2, &r, NULL), PMC_ILLEGAL_INPUT);
  CHECK(r == NULL);
  st = pmc_delete(c, BYTES("legal"), PMC_REPLY_WAIT, NULL); /* start without it */
  CHECK(st == PMC_OK || st == PMC_NOT_FOUND);
  CHECK_STATUS(pmc_set_many(c, keys, lens, keys, lens, 2, 0, 0, PMC_REPLY_WAIT, NULL, &n, NULL),
               PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_get(c, BYTES("legal"), &v, NULL), PMC_MISS);
  CHECK_OK(pmc_set(c, BYTES("legal"), BYTES("here"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_delete_many(c, keys, lens, 2, PMC_REPLY_WAIT, &n, NULL), PMC_ILLEGAL_INPUT);
  CHECK_UINT(n, 99);
  CHECK_OK(pmc_get(c, BYTES("legal"), &v, NULL));
  CHECK_VALUE_STR(&v, "here");
  pmc_value_free(&v);
}

/* memcached reads an expiry as 32 bits: wider values would mean another
   time, so they are refused before anything is sent. */
static void expiry_range(void) {
  pmc_client *c = test_client(server, "errors");
  pmc_value v = {0};
  CHECK_OK(pmc_set(c, BYTES("exp"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_set(c, BYTES("exp"), BYTES("x"), 0, INT64_C(4294967296), PMC_REPLY_WAIT, NULL),
               PMC_ILLEGAL_INPUT);
  CHECK_LAST_ERROR(PMC_ILLEGAL_INPUT, "-2147483648..=2147483647");
  CHECK_STATUS(pmc_set(c, BYTES("exp"), BYTES("x"), 0, INT64_MIN, PMC_REPLY_NONE, NULL),
               PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_touch(c, BYTES("exp"), INT64_C(2147483648), PMC_REPLY_WAIT, NULL),
               PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_gat(c, BYTES("exp"), INT64_MAX, &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_flush_all(c, INT64_C(-2147483649), PMC_REPLY_WAIT, NULL), PMC_ILLEGAL_INPUT);
  /* The edges are sent as they are. */
  CHECK_OK(pmc_touch(c, BYTES("exp"), INT64_C(2147483647), PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("exp"), &v, NULL));
  CHECK_VALUE_STR(&v, "v");
  pmc_value_free(&v);
  pmc_client_free(c);
}

static void illegal_keys(void) {
  pmc_client *c = test_client(server, NULL); /* no prefix: exact lengths */
  uint8_t long_key[251];
  pmc_value v = {0};

  expect_illegal(c, BYTES("has space"), "whitespace");
  expect_illegal(c, BYTES("has\nnewline"), "whitespace");
  expect_illegal(c, BYTES("has\r\nget x"), "whitespace");
  expect_illegal(c, BYTES("tab\there"), "whitespace");
  expect_illegal(c, (const uint8_t *)"vt\x0b", 3, "whitespace");
  expect_illegal(c, (const uint8_t *)"ff\x0c", 3, "whitespace");
  expect_illegal(c, (const uint8_t *)"nul\0byte", 8, "null");
  expect_illegal(c, (const uint8_t *)"", 0, "empty");

  /* 250 bytes is the longest legal key; 251 is too long. */
  memset(long_key, 'x', sizeof long_key);
  CHECK_OK(pmc_set(c, long_key, 250, BYTES("long"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, long_key, 250, &v, NULL));
  CHECK_VALUE_STR(&v, "long");
  pmc_value_free(&v);
  expect_illegal(c, long_key, 251, "too long");

  /* The connection was never disturbed. */
  CHECK_OK(pmc_get(c, long_key, 250, &v, NULL));
  pmc_value_free(&v);
  pmc_client_free(c);
}

/* C keys are bytes, checked as pymemcache checks bytes keys: every byte but
   ASCII whitespace and NUL is sent as it is, whatever allow_unicode_keys
   says (pymemcache applies it to str keys only). */
static void bytes_keys(void) {
  static const char *const keys[] = {
      "caf\xc3\xa9",  /* "café" in UTF-8 */
      "ctl\x01key", "\x1ckey", "del\x7fkey",
      "caf\xe9",       /* not UTF-8 */
      "\xff\xfe",
      "no\xc2\xa0" "break", /* U+00A0 */
      "wide\xe3\x80\x80space", /* U+3000 */
  };
  pmc_client *strict = test_client(server, "errors");
  pmc_options *o = pmc_options_new();
  pmc_client *relaxed = NULL;
  pmc_value v = {0};
  char prefix[64];

  snprintf(prefix, sizeof prefix, "errors.%ld.", (long)getpid());
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_allow_unicode_keys(o, true, NULL));
  CHECK_OK(pmc_client_new(o, &relaxed, NULL));
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char value[16];
    snprintf(value, sizeof value, "v%u", (unsigned)i);
    CHECK_OK(pmc_set(strict, BYTES(keys[i]), BYTES(value), 0, 0, PMC_REPLY_WAIT, NULL));
    /* Both clients have the same prefix: the other one reads it back. */
    CHECK_OK(pmc_get(relaxed, BYTES(keys[i]), &v, NULL));
    CHECK_VALUE_STR(&v, value);
    pmc_value_free(&v);
    CHECK_OK(pmc_delete(relaxed, BYTES(keys[i]), PMC_REPLY_WAIT, NULL));
  }
  /* With a prefix the empty key is the prefix itself, as in pymemcache. */
  CHECK_OK(pmc_set(strict, (const uint8_t *)"", 0, BYTES("bare"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(relaxed, (const uint8_t *)"", 0, &v, NULL));
  CHECK_VALUE_STR(&v, "bare");
  pmc_value_free(&v);
  CHECK_OK(pmc_delete(strict, (const uint8_t *)"", 0, PMC_REPLY_WAIT, NULL));

  pmc_client_free(relaxed);
  pmc_client_free(strict);
  pmc_options_free(o);
}

/* ---- configuration -------------------------------------------------------- */

static void bad_configuration(void) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  static const char *const bad[] = {"", "localhost", "host:", "host:99999",
                                    "host:port", "[::1]11211", ":11211",
                                    "a b:1"};

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_STATUS(pmc_options_add_server(o, bad[i], NULL), PMC_CONFIG_ERROR);
    CHECK_LAST_ERROR(PMC_CONFIG_ERROR, NULL);
  }
  /* Not UTF-8. */
  CHECK_STATUS(pmc_options_add_server(o, "\xff\xfe:11211", NULL), PMC_INVALID_ARGUMENT);

  /* None of those was added: no servers at all. */
  CHECK_STATUS(pmc_client_new(o, &c, NULL), PMC_CONFIG_ERROR);
  CHECK_LAST_ERROR(PMC_CONFIG_ERROR, "no server");
  CHECK(c == NULL);

  /* Well-formed addresses of every kind are accepted... */
  CHECK_OK(pmc_options_add_server(o, "127.0.0.1:11211", NULL));
  CHECK_OK(pmc_options_add_server(o, "[::1]:11212", NULL));
  CHECK_OK(pmc_options_add_server(o, "cache-2.example:11211", NULL));
  CHECK_OK(pmc_options_add_server(o, "/run/memcached/memcached.sock", NULL));
  /* ...but not the same server twice. */
  CHECK_OK(pmc_options_add_server(o, "127.0.0.1:11211", NULL));
  CHECK_STATUS(pmc_client_new(o, &c, NULL), PMC_CONFIG_ERROR);
  CHECK_LAST_ERROR(PMC_CONFIG_ERROR, "127.0.0.1:11211");
  CHECK(c == NULL);
  pmc_options_free(o);

  /* A key prefix must itself be a legal key. */
  o = pmc_options_new();
  CHECK_OK(pmc_options_add_server(o, "/tmp/unused.sock", NULL));
  CHECK_STATUS(pmc_options_set_key_prefix(o, BYTES("a b"), NULL), PMC_CONFIG_ERROR);
  CHECK_STATUS(pmc_options_set_key_prefix(o, BYTES("a\nb"), NULL), PMC_CONFIG_ERROR);
  /* The other options take any value; all of them work together. */
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 100, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 100, NULL));
  CHECK_OK(pmc_options_set_no_delay(o, true, NULL));
  CHECK_OK(pmc_options_set_keepalive(o, true, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL)); /* no connection yet: nothing fails */
  pmc_client_free(c);
  pmc_options_free(o);
}

/* no_delay and keepalive really reach the socket: commands still work. */
static void socket_options(void) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  pmc_value v = {0};
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_no_delay(o, true, NULL));
  CHECK_OK(pmc_options_set_keepalive(o, true, NULL));
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 2000, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o); /* the client keeps its own copy */
  CHECK_OK(pmc_set(c, BYTES("errors-sockopt"), BYTES("ok"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("errors-sockopt"), &v, NULL));
  CHECK_VALUE_STR(&v, "ok");
  pmc_value_free(&v);
  pmc_client_free(c);
}

/* ---- reconnect backoff ------------------------------------------------------- */

/* A client of `kind` ("single" or "pooled") for `addr` with the backoff given
   (initial_ms < 0: the default). */
static pmc_client *backoff_client(const char *addr, bool pooled, int initial_ms,
                                  int max_ms) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  CHECK_OK(pmc_options_add_server(o, addr, NULL));
  CHECK_OK(pmc_options_set_use_pooling(o, pooled, NULL));
  if (initial_ms >= 0)
    CHECK_OK(pmc_options_set_reconnect_backoff_ms(o, (uint32_t)initial_ms,
                                                  (uint32_t)max_ms, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

/* Calls `c` as fast as it can for `ms` against a refused port; counts the
   calls and the real connect attempts (the failures whose message does not
   say the backoff stopped them). */
static void hammer(pmc_client *c, long long ms, long *calls, long *attempts) {
  long long end = test_now_ms() + ms;
  pmc_value v = {0};
  *calls = *attempts = 0;
  while (test_now_ms() < end) {
    pmc_error *e = NULL;
    CHECK_STATUS(pmc_get(c, BYTES("k"), &v, &e), PMC_IO_ERROR);
    CHECK(e != NULL);
    if (strstr(pmc_error_message(e), "reconnect backoff") == NULL) (*attempts)++;
    pmc_error_free(e);
    (*calls)++;
  }
}

static void reconnect_backoff(void) {
  char addr[64];
  int fd = test_socket_refusing(addr, sizeof addr);
  pmc_value v = {0};
  pmc_error *e = NULL;
  long calls, attempts;

  for (int pooled = 0; pooled <= 1; pooled++) {
    /* Default: after a refused connect, the next call fails at once with
       the same status, naming the server and the backoff. */
    /* The default window is 10 ms: on a loaded machine (valgrind, other
       work) the second call may start after it, so a fresh client tries
       again, up to 5 times; one pair inside the window must show it. */
    pmc_client *c = NULL;
    bool seen = false;
    for (int attempt = 0; attempt < 5 && !seen; attempt++) {
      if (c != NULL) pmc_client_free(c);
      c = backoff_client(addr, pooled, -1, 0);
      CHECK_STATUS(pmc_get(c, BYTES("k"), &v, &e), PMC_IO_ERROR);
      CHECK(strstr(pmc_error_message(e), "backoff") == NULL);
      pmc_error_free(e);
      CHECK_STATUS(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, &e),
                   PMC_IO_ERROR);
      CHECK_CONTAINS(pmc_error_message(e), addr);
      seen = strstr(pmc_error_message(e),
                    "not retried: reconnect backoff after 1 failed connect") != NULL;
      pmc_error_free(e);
    }
    if (!seen) FAIL("%s client: no call inside the default backoff window in 5 tries",
                    pooled ? "pooled" : "single");

    /* 1.5 s of calls: thousands of calls, a handful of connects (10 ms
       doubling to 1 s: 10+20+...+640 ms, about 8 attempts). */
    hammer(c, 1500, &calls, &attempts);
    if (calls < 1000 || attempts > 10)
      FAIL("%s client: %ld calls, %ld connect attempts in 1.5 s (want >= 1000, <= 10)",
           pooled ? "pooled" : "single", calls, attempts);
    printf("errors: %s client, default backoff: %ld calls, %ld connects in 1.5 s\n",
           pooled ? "pooled" : "single", calls, attempts);
    pmc_client_free(c);

    /* Off: every call connects (pymemcache's behaviour). */
    c = backoff_client(addr, pooled, 0, 0);
    hammer(c, 100, &calls, &attempts);
    CHECK(calls > 0 && attempts == calls);
    pmc_client_free(c);

    /* The window ends: after it the next call tries again. */
    c = backoff_client(addr, pooled, 50, 50);
    CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_IO_ERROR);
    CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_IO_ERROR);
    CHECK_LAST_ERROR(PMC_IO_ERROR, "backoff");
    test_sleep_ms(70);
    CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_IO_ERROR);
    CHECK(strstr(pmc_last_error_message(), "backoff") == NULL);
    pmc_client_free(c);
  }

  /* A bad window. */
  {
    pmc_options *o = pmc_options_new();
    CHECK_STATUS(pmc_options_set_reconnect_backoff_ms(o, 100, 10, &e),
                 PMC_INVALID_ARGUMENT);
    CHECK_CONTAINS(pmc_error_message(e), "below initial_ms");
    pmc_error_free(e);
    CHECK_STATUS(pmc_options_set_reconnect_backoff_ms(NULL, 1, 1, NULL), PMC_NULL_ARGUMENT);
    pmc_options_free(o);
  }
  close(fd);
}

/* ---- the network ------------------------------------------------------------ */

static void connection_refused(void) {
  char addr[64];
  int fd = test_socket_refusing(addr, sizeof addr);
  pmc_client *c = client_for(addr);
  pmc_options *o;
  pmc_value v = {0};
  pmc_results *r = NULL;
  const uint8_t *k[1] = {(const uint8_t *)"k"};
  size_t l[1] = {1};
  char *ver = NULL;

  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_IO_ERROR);
  CHECK_LAST_ERROR(PMC_IO_ERROR, addr); /* the message names the server */
  CHECK_STATUS(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_NONE, NULL), PMC_IO_ERROR);
  CHECK_STATUS(pmc_version(c, &ver, NULL), PMC_IO_ERROR);
  CHECK(ver == NULL);
  pmc_client_free(c);

  /* ignore_exc: retrievals read as misses, other commands still fail and
     illegal keys are still reported. */
  o = pmc_options_new();
  CHECK_OK(pmc_options_add_server(o, addr, NULL));
  CHECK_OK(pmc_options_set_ignore_exc(o, true, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_MISS);
  CHECK_STATUS(pmc_gets(c, BYTES("k"), &v, NULL), PMC_MISS);
  CHECK_STATUS(pmc_gat(c, BYTES("k"), 0, &v, NULL), PMC_MISS);
  CHECK_OK(pmc_get_many(c, k, l, 1, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 0);
  pmc_results_free(r);
  CHECK_STATUS(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_IO_ERROR);
  CHECK_STATUS(pmc_get(c, BYTES("bad key"), &v, NULL), PMC_ILLEGAL_INPUT);
  pmc_client_free(c);
  close(fd);
}

static void timeouts(void) {
  char addr[64];
  int fd = test_socket_silent(addr, sizeof addr, 8);
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  pmc_value v = {0};
  long long t0, elapsed;

  CHECK_OK(pmc_options_add_server(o, addr, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 200, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);

  /* The kernel accepts the connection; nobody ever answers. */
  t0 = test_now_ms();
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_TIMEOUT);
  elapsed = test_now_ms() - t0;
  CHECK_LAST_ERROR(PMC_TIMEOUT, addr);
  if (elapsed < 150 || elapsed > 10000)
    FAIL("timeout after %lld ms, expected about 200 ms", elapsed);
  /* Again (a new connection): the same. */
  CHECK_STATUS(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_TIMEOUT);
  pmc_client_free(c);
  close(fd);
}

/* Two clients whose connections (made or pending) fill the accept queue
   of a listener with backlog 0, so that the kernel drops the next SYN.
   Each either connects and times out reading, or times out connecting. */
static void fill_accept_queue(const char *addr, pmc_client *fillers[2]) {
  pmc_value v = {0};
  for (int i = 0; i < 2; i++) {
    pmc_options *fo = pmc_options_new();
    CHECK_OK(pmc_options_add_server(fo, addr, NULL));
    CHECK_OK(pmc_options_set_connect_timeout_ms(fo, 100, NULL));
    CHECK_OK(pmc_options_set_timeout_ms(fo, 50, NULL));
    CHECK_OK(pmc_client_new(fo, &fillers[i], NULL));
    pmc_options_free(fo);
    CHECK(pmc_get(fillers[i], BYTES("k"), &v, NULL) == PMC_TIMEOUT);
  }
}

/* The deadline bounds a whole call, whatever the per-step timeouts allow:
   a silent server (5 s read timeout, 200 ms deadline), and a connect that
   hangs (full accept queue, 5 s connect timeout, 300 ms deadline). The
   upper bounds leave room for valgrind; the timeouts are far above them. */
static void deadline(void) {
  char addr[64], full[64];
  int fd = test_socket_silent(addr, sizeof addr, 8);
  int full_fd = test_socket_silent(full, sizeof full, 0);
  pmc_client *c = NULL, *fillers[2];
  pmc_value v = {0};
  long long t0, elapsed;
  pmc_options *o = pmc_options_new();

  CHECK_STATUS(pmc_options_set_deadline_ms(NULL, 1, NULL), PMC_NULL_ARGUMENT);
  CHECK_OK(pmc_options_add_server(o, addr, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 5000, NULL));
  CHECK_OK(pmc_options_set_deadline_ms(o, 200, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  t0 = test_now_ms();
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_TIMEOUT);
  elapsed = test_now_ms() - t0;
  CHECK_LAST_ERROR(PMC_TIMEOUT, "deadline");
  if (elapsed < 190 || elapsed > 2000)
    FAIL("deadline of 200 ms ended the call after %lld ms", elapsed);
  pmc_client_free(c);

  fill_accept_queue(full, fillers);
  o = pmc_options_new();
  CHECK_OK(pmc_options_add_server(o, full, NULL));
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 5000, NULL));
  CHECK_OK(pmc_options_set_deadline_ms(o, 300, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  t0 = test_now_ms();
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_TIMEOUT);
  elapsed = test_now_ms() - t0;
  CHECK_LAST_ERROR(PMC_TIMEOUT, "connect");
  if (elapsed < 250 || elapsed > 2000)
    FAIL("deadline of 300 ms ended the connect after %lld ms", elapsed);
  pmc_client_free(c);
  for (int i = 0; i < 2; i++)
    pmc_client_free(fillers[i]);
  close(full_fd);
  close(fd);
}

/* A listener whose accept queue is full: the kernel drops new SYNs, so a
   connect hangs until the connect timeout. */
static void connect_timeout(void) {
  char addr[64];
  int fd = test_socket_silent(addr, sizeof addr, 0);
  pmc_client *fillers[2];
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  pmc_value v = {0};
  long long t0, elapsed;

  fill_accept_queue(addr, fillers);
  CHECK_OK(pmc_options_add_server(o, addr, NULL));
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 300, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  t0 = test_now_ms();
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_TIMEOUT);
  elapsed = test_now_ms() - t0;
  CHECK_LAST_ERROR(PMC_TIMEOUT, "connect");
  if (elapsed < 250 || elapsed > 10000)
    FAIL("connect timeout after %lld ms, expected about 300 ms", elapsed);
  pmc_client_free(c);
  for (int i = 0; i < 2; i++)
    pmc_client_free(fillers[i]);
  close(fd);
}

static void misbehaving_servers(void) {
  fake_server f;
  pmc_client *c;
  pmc_value v = {0};

  /* The server closes in the middle of a value. */
  fake_server_start(&f, FAKE_CLOSE_MID_VALUE);
  c = client_for(f.addr);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_UNEXPECTED_CLOSE);
  CHECK_LAST_ERROR(PMC_UNEXPECTED_CLOSE, f.addr);
  CHECK(v.data == NULL);
  /* The next command reconnects (and meets the same fate). */
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_UNEXPECTED_CLOSE);
  pmc_client_free(c);
  fake_server_stop(&f);

  /* The server talks nonsense. */
  fake_server_start(&f, FAKE_GARBAGE);
  c = client_for(f.addr);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_UNKNOWN_ERROR);
  CHECK_LAST_ERROR(PMC_UNKNOWN_ERROR, "HELLO THERE");
  CHECK_STATUS(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_UNKNOWN_ERROR);
  CHECK_STATUS(pmc_delete(c, BYTES("k"), PMC_REPLY_WAIT, NULL), PMC_UNKNOWN_ERROR);
  CHECK_STATUS(pmc_incr(c, BYTES("k"), 1, PMC_REPLY_WAIT, NULL, NULL), PMC_UNKNOWN_ERROR);
  pmc_client_free(c);
  fake_server_stop(&f);

  /* The server announces a 999999999-byte value: refused by max_value_len
     (64 MiB by default) before anything is allocated. */
  fake_server_start(&f, FAKE_HUGE_VALUE);
  c = client_for(f.addr);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_TOO_LARGE);
  CHECK_LAST_ERROR(PMC_TOO_LARGE, "999999999");
  pmc_client_free(c);
  fake_server_stop(&f);
}

/* ---- the server says no ------------------------------------------------------- */

static void server_refusals(void) {
  pmc_client *c = client_for(server);
  size_t big_len = 2 * 1024 * 1024; /* the fixture runs memcached -I 1m */
  uint8_t *big = calloc(big_len, 1);
  pmc_value v = {0};
  char *ver = NULL;
  CHECK(big != NULL);

  CHECK_STATUS(pmc_set(c, BYTES("errors-too-big"), big, big_len, 0, 0, PMC_REPLY_WAIT, NULL),
               PMC_SERVER_ERROR);
  CHECK_LAST_ERROR(PMC_SERVER_ERROR, "object too large for cache"); /* the server's words */
  CHECK_LAST_ERROR(PMC_SERVER_ERROR, server);
  CHECK_OK(pmc_version(c, &ver, NULL)); /* usable afterwards */
  pmc_string_free(ver);
  CHECK_STATUS(pmc_get(c, BYTES("errors-too-big"), &v, NULL), PMC_MISS);
  free(big);

  /* A command the server does not know. */
  CHECK_STATUS(pmc_raw_command(c, BYTES("no_such_command"), BYTES("\r\n"), &v, NULL),
               PMC_UNKNOWN_COMMAND);
  CHECK_LAST_ERROR(PMC_UNKNOWN_COMMAND, "ERROR");
  CHECK(v.data == NULL);
  /* raw_command refuses what would break the protocol. */
  CHECK_STATUS(pmc_raw_command(c, BYTES("version\r\nversion"), BYTES("\r\n"), &v, NULL),
               PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_raw_command(c, BYTES(""), BYTES("\r\n"), &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_STATUS(pmc_raw_command(c, BYTES("version"), BYTES(""), &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_OK(pmc_raw_command(c, BYTES("version"), BYTES("\r\n"), &v, NULL));
  pmc_value_free(&v);

  /* stats arguments with whitespace. */
  {
    const char *args[1] = {"settings now"};
    pmc_stats_list *s = NULL;
    CHECK_STATUS(pmc_stats(c, args, 1, &s, NULL), PMC_ILLEGAL_INPUT);
    CHECK(s == NULL);
  }
  pmc_client_free(c);
}

static void max_value_len(void) {
  pmc_options *o = pmc_options_new();
  pmc_client *small = NULL, *normal = test_client(server, "errors");
  uint8_t buf[200];
  pmc_value v = {0};
  char prefix[64];

  memset(buf, 'm', sizeof buf);
  snprintf(prefix, sizeof prefix, "errors.%ld.", (long)getpid());
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_max_value_len(o, 100, NULL));
  CHECK_OK(pmc_client_new(o, &small, NULL));
  pmc_options_free(o);

  /* Sending: 100 bytes is fine, 101 is refused before anything is sent. */
  CHECK_OK(pmc_set(small, BYTES("mvl"), buf, 100, 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_set(small, BYTES("mvl"), buf, 101, 0, 0, PMC_REPLY_WAIT, NULL), PMC_TOO_LARGE);
  CHECK_LAST_ERROR(PMC_TOO_LARGE, "101");
  CHECK_STATUS(pmc_append(small, BYTES("mvl"), buf, 101, 0, 0, PMC_REPLY_NONE, NULL), PMC_TOO_LARGE);
  CHECK_OK(pmc_get(small, BYTES("mvl"), &v, NULL));
  CHECK_VALUE(&v, buf, 100);
  pmc_value_free(&v);

  /* Receiving: a longer value stored by another client is refused... */
  CHECK_OK(pmc_set(normal, BYTES("mvl-long"), buf, 200, 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_get(small, BYTES("mvl-long"), &v, NULL), PMC_TOO_LARGE);
  CHECK_LAST_ERROR(PMC_TOO_LARGE, "200");
  CHECK(v.data == NULL);
  /* ...and the client reconnects for the next command. */
  CHECK_OK(pmc_get(small, BYTES("mvl"), &v, NULL));
  CHECK_VALUE(&v, buf, 100);
  pmc_value_free(&v);

  pmc_client_free(small);
  pmc_client_free(normal);
}

/* ---- key prefixes ------------------------------------------------------------- */

static void key_prefix(void) {
  pmc_options *o = pmc_options_new();
  pmc_client *pre = NULL, *plain = test_client(server, NULL);
  char prefix[64], full[320];
  uint8_t key[251], long_prefix[251];
  size_t plen;
  pmc_value v = {0};
  pmc_results *r = NULL;
  pmc_item it;
  const uint8_t *keys[1];
  size_t lens[1];

  /* The prefix buffer need not be NUL-terminated: only `len` bytes count. */
  snprintf(prefix, sizeof prefix, "pfx%ld:XXXX", (long)getpid());
  plen = strlen(prefix) - 4;
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_key_prefix(o, (const uint8_t *)prefix, plen, NULL));
  CHECK_OK(pmc_client_new(o, &pre, NULL));

  /* The item is stored under prefix + key. */
  CHECK_OK(pmc_set(pre, BYTES("item"), BYTES("prefixed"), 0, 0, PMC_REPLY_WAIT, NULL));
  snprintf(full, sizeof full, "%.*sitem", (int)plen, prefix);
  CHECK_OK(pmc_get(plain, BYTES(full), &v, NULL));
  CHECK_VALUE_STR(&v, "prefixed");
  pmc_value_free(&v);

  /* Results report the key as the caller gave it, without the prefix. */
  keys[0] = (const uint8_t *)"item";
  lens[0] = 4;
  CHECK_OK(pmc_get_many(pre, keys, lens, 1, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 1);
  CHECK_OK(pmc_results_at(r, 0, &it, NULL));
  CHECK_MEM(it.key, it.key_len, "item", 4);
  pmc_results_free(r);

  /* The prefix counts toward the 250-byte limit. */
  memset(key, 'k', sizeof key);
  CHECK_OK(pmc_set(pre, key, 250 - plen, BYTES("fits"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(pre, key, 250 - plen, &v, NULL));
  CHECK_VALUE_STR(&v, "fits");
  pmc_value_free(&v);
  CHECK_STATUS(pmc_get(pre, key, 251 - plen, &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_LAST_ERROR(PMC_ILLEGAL_INPUT, "too long");
  CHECK_STATUS(pmc_set(pre, key, 251 - plen, BYTES("no"), 0, 0, PMC_REPLY_WAIT, NULL),
               PMC_ILLEGAL_INPUT);
  pmc_client_free(pre);

  /* A 250-byte prefix is legal, but leaves no room for any key. */
  memset(long_prefix, 'p', sizeof long_prefix);
  CHECK_OK(pmc_options_set_key_prefix(o, long_prefix, 250, NULL));
  CHECK_OK(pmc_client_new(o, &pre, NULL));
  CHECK_STATUS(pmc_get(pre, BYTES("k"), &v, NULL), PMC_ILLEGAL_INPUT);
  pmc_client_free(pre);
  /* A 251-byte prefix is not. */
  CHECK_STATUS(pmc_options_set_key_prefix(o, long_prefix, 251, NULL), PMC_CONFIG_ERROR);

  /* An empty prefix removes it. */
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(""), NULL));
  CHECK_OK(pmc_client_new(o, &pre, NULL));
  CHECK_OK(pmc_get(pre, BYTES(full), &v, NULL));
  CHECK_VALUE_STR(&v, "prefixed");
  pmc_value_free(&v);
  CHECK_OK(pmc_set(pre, key, 250, BYTES("all mine"), 0, 0, PMC_REPLY_WAIT, NULL));
  pmc_client_free(pre);

  pmc_client_free(plain);
  pmc_options_free(o);
}

/* ---- status names ---------------------------------------------------------------- */

static void status_names(void) {
  static const struct {
    pmc_status code;
    const char *name;
  } all[] = {
      {PMC_OK, "PMC_OK"},
      {PMC_MISS, "PMC_MISS"},
      {PMC_NOT_STORED, "PMC_NOT_STORED"},
      {PMC_EXISTS, "PMC_EXISTS"},
      {PMC_NOT_FOUND, "PMC_NOT_FOUND"},
      {PMC_NULL_ARGUMENT, "PMC_NULL_ARGUMENT"},
      {PMC_INVALID_ARGUMENT, "PMC_INVALID_ARGUMENT"},
      {PMC_ILLEGAL_INPUT, "PMC_ILLEGAL_INPUT"},
      {PMC_CONFIG_ERROR, "PMC_CONFIG_ERROR"},
      {PMC_TOO_LARGE, "PMC_TOO_LARGE"},
      {PMC_TIMEOUT, "PMC_TIMEOUT"},
      {PMC_IO_ERROR, "PMC_IO_ERROR"},
      {PMC_UNEXPECTED_CLOSE, "PMC_UNEXPECTED_CLOSE"},
      {PMC_POOL_EXHAUSTED, "PMC_POOL_EXHAUSTED"},
      {PMC_NO_SERVERS, "PMC_NO_SERVERS"},
      {PMC_UNKNOWN_COMMAND, "PMC_UNKNOWN_COMMAND"},
      {PMC_CLIENT_ERROR, "PMC_CLIENT_ERROR"},
      {PMC_SERVER_ERROR, "PMC_SERVER_ERROR"},
      {PMC_UNKNOWN_ERROR, "PMC_UNKNOWN_ERROR"},
      {PMC_NOT_TEXT, "PMC_NOT_TEXT"},
      {PMC_NOT_INTEGER, "PMC_NOT_INTEGER"},
      {PMC_UNSUPPORTED_PICKLE, "PMC_UNSUPPORTED_PICKLE"},
      {PMC_CORRUPT_VALUE, "PMC_CORRUPT_VALUE"},
      {PMC_SERDE_CALLBACK, "PMC_SERDE_CALLBACK"},
      {PMC_PANIC, "PMC_PANIC"},
  };
  /* Values at the ends of the groups, never used (status-names.sh checks
     every code the header defines). */
  static const pmc_status not_codes[] = {9, 19, 29, 39, 49, 89, 91, 1000, -1,
                                         INT32_MIN, INT32_MAX};

  /* The documented grouping: soft outcomes below 10, errors from 10 up. */
  CHECK(PMC_OK == 0);
  for (size_t i = 1; i < sizeof all / sizeof all[0]; i++) {
    CHECK(all[i].code > all[i - 1].code); /* distinct */
    CHECK((all[i].code < 10) == (i <= 4));
  }
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    CHECK_STR(pmc_status_str(all[i].code), all[i].name);
  for (size_t i = 0; i < sizeof not_codes / sizeof not_codes[0]; i++)
    CHECK_STR(pmc_status_str(not_codes[i]), "PMC_UNKNOWN_STATUS");
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  server = env.server;

  status_names();
  null_arguments();
  bad_reply_modes();
  illegal_keys();
  bytes_keys();
  expiry_range();
  bad_configuration();
  socket_options();
  key_prefix();
  max_value_len();
  server_refusals();
  connection_refused();
  reconnect_backoff();
  timeouts();
  deadline();
  connect_timeout();
  misbehaving_servers();

  puts("errors: ok");
  return 0;
}

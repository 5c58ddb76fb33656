/*
 * batch.c: many commands in one round trip per server.
 *
 * A pmc_batch queues any mix of commands (pmc_batch_get, _gets, _gat,
 * _touch, _set, _add, _replace, _append, _prepend, _cas, _delete, _incr,
 * _decr, _get_or_lock, _invalidate, and the generic _meta), and
 * pmc_batch_execute runs them with one write and one read pass per server
 * over memcached's meta protocol. Every command gets its own result
 * (pmc_batch_result), in request order: a miss, a refusal or a bad key in
 * one does not fail the others. Shown here:
 *  - a mixed batch with hits, misses, refusals and an illegal key;
 *  - reusing a batch (pmc_batch_clear keeps its memory);
 *  - the generic meta command: flags as protocol tokens, reply parsed;
 *  - a hash client with one server down: only that server's commands fail;
 *  - a server without the meta protocol: PMC_UNKNOWN_COMMAND, no hang;
 *  - NULL arguments and out-of-range results.
 *
 * Usage: batch STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

/* `needle` occurs in the `len` bytes at `hay`. */
static bool has_bytes(const char *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(hay + i, needle, n) == 0)
      return true;
  return false;
}

static pmc_op_result result(pmc_batch *b, size_t i) {
  pmc_op_result r;
  memset(&r, 0, sizeof r);
  CHECK_OK(pmc_batch_result(b, i, &r, NULL));
  return r;
}

static void mixed(pmc_client *c) {
  pmc_batch *b = NULL;
  pmc_value v = {0};
  CHECK_OK(pmc_batch_new(&b, NULL));
  CHECK_UINT(pmc_batch_len(b), 0);

  CHECK_OK(pmc_set(c, BYTES("a"), BYTES("alpha"), 7, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_set(c, BYTES("n"), BYTES("10"), 0, 0, PMC_REPLY_WAIT, NULL));
  pmc_delete(c, BYTES("missing"), PMC_REPLY_WAIT, NULL);
  CHECK_OK(pmc_gets(c, BYTES("a"), &v, NULL));
  uint64_t cas = v.cas;
  pmc_value_free(&v);

  CHECK_OK(pmc_batch_get(b, BYTES("a"), NULL));                     /* 0 */
  CHECK_OK(pmc_batch_get(b, BYTES("missing"), NULL));               /* 1 */
  CHECK_OK(pmc_batch_gets(b, BYTES("a"), NULL));                    /* 2 */
  CHECK_OK(pmc_batch_set(b, BYTES("b"), BYTES("beta"), 3, 0, NULL)); /* 3 */
  CHECK_OK(pmc_batch_add(b, BYTES("a"), BYTES("x"), 0, 0, NULL));   /* 4 */
  CHECK_OK(pmc_batch_replace(b, BYTES("missing"), BYTES("x"), 0, 0, NULL)); /* 5 */
  CHECK_OK(pmc_batch_append(b, BYTES("a"), BYTES("-end"), NULL));   /* 6 */
  CHECK_OK(pmc_batch_prepend(b, BYTES("a"), BYTES("start-"), NULL)); /* 7 */
  CHECK_OK(pmc_batch_cas(b, BYTES("a"), BYTES("cas"), cas, 0, 0, NULL)); /* 8 */
  CHECK_OK(pmc_batch_incr(b, BYTES("n"), 5, NULL));                 /* 9 */
  CHECK_OK(pmc_batch_decr(b, BYTES("n"), 2, NULL));                 /* 10 */
  CHECK_OK(pmc_batch_incr(b, BYTES("missing"), 1, NULL));           /* 11 */
  CHECK_OK(pmc_batch_touch(b, BYTES("b"), 100, NULL));              /* 12 */
  CHECK_OK(pmc_batch_touch(b, BYTES("missing"), 100, NULL));        /* 13 */
  CHECK_OK(pmc_batch_get(b, BYTES("bad key"), NULL));               /* 14 */
  CHECK_OK(pmc_batch_gat(b, BYTES("a"), 100, NULL));                /* 15 */
  CHECK_OK(pmc_batch_delete(b, BYTES("b"), NULL));                  /* 16 */
  CHECK_OK(pmc_batch_delete(b, BYTES("missing"), NULL));            /* 17 */
  CHECK_UINT(pmc_batch_len(b), 18);
  /* No results before the batch ran. */
  pmc_op_result r;
  CHECK_STATUS(pmc_batch_result(b, 0, &r, NULL), PMC_INVALID_ARGUMENT);

  CHECK_OK(pmc_batch_execute(c, b, NULL));
  r = result(b, 0);
  CHECK_UINT(r.status, PMC_OK);
  CHECK_MEM(r.value, r.value_len, "alpha", 5);
  CHECK(r.value[r.value_len] == '\0');
  CHECK_UINT(r.flags, 7);
  CHECK(r.message == NULL);
  r = result(b, 1);
  CHECK_UINT(r.status, PMC_MISS);
  CHECK_UINT(r.value_len, 0);
  CHECK_STR((const char *)r.value, "");
  CHECK_UINT(result(b, 2).cas, cas);
  CHECK_UINT(result(b, 3).status, PMC_OK);
  CHECK_UINT(result(b, 4).status, PMC_NOT_STORED);
  CHECK_UINT(result(b, 5).status, PMC_NOT_STORED);
  CHECK_UINT(result(b, 6).status, PMC_OK);
  CHECK_UINT(result(b, 7).status, PMC_OK);
  CHECK_UINT(result(b, 8).status, PMC_EXISTS);
  CHECK_UINT(result(b, 9).number, 15);
  CHECK_UINT(result(b, 10).number, 13);
  CHECK_UINT(result(b, 11).status, PMC_NOT_FOUND);
  CHECK_UINT(result(b, 12).status, PMC_OK);
  CHECK_UINT(result(b, 13).status, PMC_NOT_FOUND);
  r = result(b, 14);
  CHECK_UINT(r.status, PMC_ILLEGAL_INPUT);
  CHECK(r.message != NULL);
  CHECK_CONTAINS(r.message, "PMC_ILLEGAL_INPUT");
  r = result(b, 15);
  CHECK_MEM(r.value, r.value_len, "start-alpha-end", 15);
  CHECK_UINT(result(b, 16).status, PMC_OK);
  CHECK_UINT(result(b, 17).status, PMC_NOT_FOUND);
  CHECK_STATUS(pmc_batch_result(b, 18, &r, NULL), PMC_INVALID_ARGUMENT);
  /* All results at once: the same structs, as an array. */
  size_t n = 0;
  const pmc_op_result *all = pmc_batch_results(b, &n);
  CHECK_UINT(n, 18);
  for (size_t i = 0; i < n; i++) {
    r = result(b, i);
    CHECK_UINT(all[i].status, r.status);
    CHECK(all[i].value == r.value && all[i].value_len == r.value_len);
  }

  /* Reuse: clear, queue again. */
  pmc_batch_clear(b);
  CHECK_UINT(pmc_batch_len(b), 0);
  CHECK(pmc_batch_results(b, &n) == NULL);
  CHECK_UINT(n, 0);
  CHECK_OK(pmc_batch_get(b, BYTES("b"), NULL));
  CHECK_OK(pmc_batch_execute(c, b, NULL));
  CHECK_UINT(result(b, 0).status, PMC_MISS);
  pmc_batch_free(b);
}

static void generic_meta(pmc_client *c) {
  pmc_batch *b = NULL;
  CHECK_OK(pmc_batch_new(&b, NULL));
  CHECK_OK(pmc_batch_meta(b, "ms", BYTES("m"), "F5 T100", BYTES("meta"), NULL));
  CHECK_OK(pmc_batch_meta(b, "mg", BYTES("m"), "v f t s", NULL, 0, NULL));
  CHECK_OK(pmc_batch_meta(b, "mg", BYTES("none"), "v", NULL, 0, NULL));
  CHECK_OK(pmc_batch_meta(b, "ma", BYTES("ctr"), "N0 J7 v", NULL, 0, NULL));
  CHECK_OK(pmc_batch_meta(b, "md", BYTES("m"), "q", NULL, 0, NULL)); /* refused */
  CHECK_STATUS(pmc_batch_meta(b, "mx", BYTES("m"), "", NULL, 0, NULL),
               PMC_INVALID_ARGUMENT);
  CHECK_OK(pmc_batch_execute(c, b, NULL));
  pmc_op_result r = result(b, 0);
  CHECK_STR(r.code, "HD");
  r = result(b, 1);
  CHECK_STR(r.code, "VA");
  CHECK_MEM(r.value, r.value_len, "meta", 4);
  CHECK_UINT(r.flags, 5);
  CHECK(r.meta_flags_len > 0);
  CHECK(has_bytes(r.meta_flags, r.meta_flags_len, "s4"));
  r = result(b, 2);
  CHECK_STR(r.code, "EN");
  CHECK_UINT(r.status, PMC_MISS);
  r = result(b, 3);
  CHECK_MEM(r.value, r.value_len, "7", 1);
  CHECK_UINT(result(b, 4).status, PMC_ILLEGAL_INPUT);
  pmc_batch_free(b);
}

static void hash_with_one_down(const char *server) {
  char down[64];
  int fd = test_socket_refusing(down, sizeof down);
  pmc_options *o = pmc_options_new();
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_add_server(o, down, NULL));
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 500, NULL));
  CHECK_OK(pmc_options_set_default_noreply(o, false, NULL));
  pmc_client *c = NULL;
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);

  pmc_batch *b = NULL;
  CHECK_OK(pmc_batch_new(&b, NULL));
  char key[32];
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "batch.hash.%d.%d", (int)getpid(), i);
    CHECK_OK(pmc_batch_set(b, BYTES(key), BYTES(key), 0, 60, NULL));
  }
  CHECK_OK(pmc_batch_execute(c, b, NULL));
  int ok = 0, failed = 0;
  for (int i = 0; i < 40; i++) {
    snprintf(key, sizeof key, "batch.hash.%d.%d", (int)getpid(), i);
    char *node = NULL;
    CHECK_OK(pmc_client_server_for_key(c, BYTES(key), &node, NULL));
    pmc_op_result r = result(b, (size_t)i);
    if (strcmp(node, down) == 0) {
      CHECK(r.status == PMC_IO_ERROR || r.status == PMC_TIMEOUT);
      failed++;
    } else {
      CHECK_UINT(r.status, PMC_OK);
      ok++;
    }
    pmc_string_free(node);
  }
  CHECK(ok > 0 && failed > 0);
  pmc_batch_free(b);
  pmc_client_free(c);
  close(fd);
}

static void server_without_meta(void) {
  fake_server f;
  fake_server_start(&f, FAKE_STORE); /* answers ERROR to what it does not know */
  pmc_client *c = test_client_noreply(f.addr, NULL, false);
  pmc_batch *b = NULL;
  CHECK_OK(pmc_batch_new(&b, NULL));
  CHECK_OK(pmc_batch_get(b, BYTES("k"), NULL));
  CHECK_OK(pmc_batch_set(b, BYTES("k"), BYTES("v"), 0, 0, NULL));
  long long t = test_now_ms();
  CHECK_OK(pmc_batch_execute(c, b, NULL));
  CHECK(test_now_ms() - t < 2000);
  for (size_t i = 0; i < 2; i++) {
    pmc_op_result r = result(b, i);
    CHECK_UINT(r.status, PMC_UNKNOWN_COMMAND);
    CHECK_CONTAINS(r.message, "meta protocol");
  }
  pmc_batch_free(b);
  pmc_client_free(c);
  fake_server_stop(&f);
}

static void null_arguments(void) {
  pmc_error *e = NULL;
  CHECK_STATUS(pmc_batch_new(NULL, &e), PMC_NULL_ARGUMENT);
  CHECK_UINT(pmc_error_status(e), PMC_NULL_ARGUMENT);
  pmc_error_free(e);
  CHECK_STATUS(pmc_batch_get(NULL, BYTES("k"), NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_batch_execute(NULL, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_UINT(pmc_batch_len(NULL), 0);
  CHECK(pmc_batch_results(NULL, NULL) == NULL);
  pmc_batch_clear(NULL);
  pmc_batch_free(NULL);
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  pmc_client *c = test_client_noreply(env.server, "batch", false);
  mixed(c);
  generic_meta(c);
  pmc_client_free(c);
  hash_with_one_down(env.server);
  server_without_meta();
  null_arguments();
  printf("batch: ok\n");
  return 0;
}

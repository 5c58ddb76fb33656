/*
 * fallback_retry.c: clients made of clients.
 *
 * pmc_client_new_fallback (pymemcache's FallbackClient): writes go to the
 * first client, reads take each key from the first client that has it -
 * for moving to a new cluster while the old one is still warm.
 *
 * pmc_client_new_retrying (pymemcache's RetryingClient): each command is
 * tried up to N times for the error codes chosen.
 *
 * Both take ownership of the clients they wrap on success only: on any
 * error the caller still owns (and here frees) them, which valgrind checks.
 *
 * Usage: fallback_retry STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

static void expect(pmc_client *c, const char *key, const char *want) {
  pmc_value v = {0};
  if (want == NULL) {
    CHECK_STATUS(pmc_get(c, BYTES(key), &v, NULL), PMC_MISS);
    return;
  }
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, want);
  pmc_value_free(&v);
}

/* ---- fallback ------------------------------------------------------------ */

static void fallback(const test_env *env) {
  /* "old" is the TCP server, "new" the UNIX-socket one; a second plain
     client for each lets us look behind the fallback's back. */
  pmc_client *old_c = test_client(env->server, "fallback");
  pmc_client *new_c = test_client(env->socket, "fallback");
  pmc_client *old_view = test_client(env->server, "fallback");
  pmc_client *new_view = test_client(env->socket, "fallback");
  pmc_client *list[2], *fb = NULL;
  pmc_results *r = NULL;
  const uint8_t *k[4] = {(const uint8_t *)"only-old", (const uint8_t *)"only-new",
                         (const uint8_t *)"both", (const uint8_t *)"neither"};
  size_t kl[4] = {8, 8, 4, 7};
  const char *want[3] = {"old-1", "new-2", "new-3"};
  pmc_stats_list *s = NULL;
  bool saw_old = false, saw_new = false;

  CHECK_OK(pmc_set(old_view, BYTES("only-old"), BYTES("old-1"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_set(new_view, BYTES("only-new"), BYTES("new-2"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_set(old_view, BYTES("both"), BYTES("old-3"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_set(new_view, BYTES("both"), BYTES("new-3"), 0, 0, PMC_REPLY_WAIT, NULL));

  /* Refusals leave both clients with us. */
  list[0] = new_c;
  list[1] = new_c;
  CHECK_STATUS(pmc_client_new_fallback(list, 2, &fb, NULL), PMC_INVALID_ARGUMENT);
  CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "twice");
  CHECK_STATUS(pmc_client_new_fallback(list, 0, &fb, NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_client_new_fallback(NULL, 2, &fb, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_new_fallback(list, 2, NULL, NULL), PMC_NULL_ARGUMENT);
  list[1] = NULL;
  CHECK_STATUS(pmc_client_new_fallback(list, 2, &fb, NULL), PMC_NULL_ARGUMENT);
  CHECK(fb == NULL);
  expect(new_c, "only-new", "new-2"); /* still ours, still working */

  /* New first, old second. From here on the fallback owns both. */
  list[0] = new_c;
  list[1] = old_c;
  CHECK_OK(pmc_client_new_fallback(list, 2, &fb, NULL));

  /* Reads: key by key, the first client that has it. */
  expect(fb, "only-old", "old-1");
  expect(fb, "only-new", "new-2");
  expect(fb, "both", "new-3");
  expect(fb, "neither", NULL);
  CHECK_OK(pmc_get_many(fb, k, kl, 4, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 3);
  for (size_t i = 0; i < 3; i++) {
    pmc_item it;
    CHECK_OK(pmc_results_at(r, i, &it, NULL));
    CHECK_UINT(it.index, i);
    CHECK_MEM(it.value, it.value_len, want[i], strlen(want[i]));
  }
  pmc_results_free(r);

  /* Writes: the first client only. */
  CHECK_OK(pmc_set(fb, BYTES("written"), BYTES("w"), 0, 0, PMC_REPLY_WAIT, NULL));
  expect(new_view, "written", "w");
  expect(old_view, "written", NULL);
  CHECK_STATUS(pmc_delete(fb, BYTES("only-old"), PMC_REPLY_WAIT, NULL), PMC_NOT_FOUND);
  expect(old_view, "only-old", "old-1"); /* the delete went to "new" */

  /* stats: every client's servers. */
  CHECK_OK(pmc_stats(fb, NULL, 0, &s, NULL));
  for (size_t i = 0; i < pmc_stats_len(s); i++) {
    const char *srv;
    CHECK_OK(pmc_stats_at(s, i, &srv, NULL, NULL, NULL));
    saw_old = saw_old || strcmp(srv, env->server) == 0;
    saw_new = saw_new || strcmp(srv, env->socket) == 0;
  }
  CHECK(saw_old && saw_new);
  pmc_stats_free(s);

  pmc_client_free(fb); /* frees new_c and old_c too */
  pmc_client_free(old_view);
  pmc_client_free(new_view);
}

/* ---- retrying --------------------------------------------------------------- */

/* A retrying client around a plain client for `addr`. */
static pmc_client *retrying(const char *addr, uint32_t attempts, uint32_t delay_ms,
                            const pmc_status *retry_for, size_t n_retry_for,
                            const pmc_status *no_retry, size_t n_no_retry) {
  pmc_client *inner = test_client(addr, NULL), *c = NULL;
  CHECK_OK(pmc_client_new_retrying(inner, attempts, delay_ms, retry_for, n_retry_for,
                                   no_retry, n_no_retry, &c, NULL));
  return c;
}

static void retry(const test_env *env) {
  static const pmc_status unknown_error[] = {PMC_UNKNOWN_ERROR};
  static const pmc_status timeout[] = {PMC_TIMEOUT};
  static const pmc_status io_error[] = {PMC_IO_ERROR};
  fake_server garbage; /* answers everything with nonsense: PMC_UNKNOWN_ERROR */
  pmc_client *c, *inner;
  pmc_value v = {0};
  unsigned long lines;
  char refused[64];
  int fd;
  long long t0, elapsed;

  /* Every error retried (no lists): 3 attempts reach the server 3 times. */
  fake_server_start(&garbage, FAKE_GARBAGE);
  c = retrying(garbage.addr, 3, 0, NULL, 0, NULL, 0);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_UNKNOWN_ERROR);
  CHECK_UINT(fake_server_lines(&garbage), 3);
  pmc_client_free(c);

  /* Only the listed codes are retried... */
  lines = fake_server_lines(&garbage);
  c = retrying(garbage.addr, 3, 0, unknown_error, 1, NULL, 0);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_UNKNOWN_ERROR);
  CHECK_UINT(fake_server_lines(&garbage) - lines, 3);
  pmc_client_free(c);
  lines = fake_server_lines(&garbage);
  c = retrying(garbage.addr, 3, 0, timeout, 1, NULL, 0);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_UNKNOWN_ERROR);
  CHECK_UINT(fake_server_lines(&garbage) - lines, 1);
  pmc_client_free(c);
  /* ...and the excluded ones never. */
  lines = fake_server_lines(&garbage);
  c = retrying(garbage.addr, 3, 0, NULL, 0, unknown_error, 1);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_UNKNOWN_ERROR);
  CHECK_UINT(fake_server_lines(&garbage) - lines, 1);
  pmc_client_free(c);
  fake_server_stop(&garbage);

  /* The delay between attempts: 3 attempts, 2 sleeps of 150 ms. */
  fd = test_socket_refusing(refused, sizeof refused);
  c = retrying(refused, 3, 150, io_error, 1, NULL, 0);
  t0 = test_now_ms();
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_IO_ERROR);
  elapsed = test_now_ms() - t0;
  CHECK_LAST_ERROR(PMC_IO_ERROR, refused);
  if (elapsed < 280)
    FAIL("3 attempts 150 ms apart took only %lld ms", elapsed);
  pmc_client_free(c);

  /* A retrying client over a working server is just a client. */
  c = retrying(env->server, 2, 0, NULL, 0, NULL, 0);
  CHECK_OK(pmc_set(c, BYTES("retry-ok"), BYTES("fine"), 0, 0, PMC_REPLY_WAIT, NULL));
  expect(c, "retry-ok", "fine");
  pmc_client_free(c);

  /* Refusals leave the inner client with us. */
  inner = test_client(env->server, NULL);
  c = NULL;
  CHECK_STATUS(pmc_client_new_retrying(inner, 0, 0, NULL, 0, NULL, 0, &c, NULL), PMC_CONFIG_ERROR);
  CHECK_STATUS(pmc_client_new_retrying(inner, 2, 0, io_error, 1, io_error, 1, &c, NULL),
               PMC_CONFIG_ERROR);
  {
    static const pmc_status not_an_error[] = {PMC_MISS};
    CHECK_STATUS(pmc_client_new_retrying(inner, 2, 0, not_an_error, 1, NULL, 0, &c, NULL),
                 PMC_INVALID_ARGUMENT);
  }
  CHECK_STATUS(pmc_client_new_retrying(inner, 2, 0, NULL, 1, NULL, 0, &c, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_new_retrying(inner, 2, 0, NULL, 0, NULL, 1, &c, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_new_retrying(NULL, 2, 0, NULL, 0, NULL, 0, &c, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_new_retrying(inner, 2, 0, NULL, 0, NULL, 0, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK(c == NULL);
  expect(inner, "retry-ok", "fine");
  pmc_client_free(inner);
  close(fd);
}

/* Wrappers pass the hash client's own functions through. */
static void wrapped_hash(const test_env *env) {
  pmc_options *o = pmc_options_new();
  pmc_client *hash = NULL, *c = NULL;
  char *s = NULL;
  CHECK_OK(pmc_options_set_use_hash_client(o, true, NULL));
  CHECK_OK(pmc_client_new(o, &hash, NULL));
  pmc_options_free(o);
  CHECK_OK(pmc_client_new_retrying(hash, 2, 0, NULL, 0, NULL, 0, &c, NULL));
  CHECK_OK(pmc_client_add_server(c, env->server, NULL));
  CHECK_OK(pmc_client_server_for_key(c, BYTES("k"), &s, NULL));
  CHECK_STR(s, env->server);
  pmc_string_free(s);
  CHECK_OK(pmc_set(c, BYTES("wrapped"), BYTES("yes"), 0, 0, PMC_REPLY_WAIT, NULL));
  expect(c, "wrapped", "yes");
  pmc_client_free(c);
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  fallback(&env);
  retry(&env);
  wrapped_hash(&env);
  puts("fallback_retry: ok");
  return 0;
}

/*
 * counters.c: incr and decr.
 *
 * The new value comes back through an optional out-parameter; a missing
 * key is PMC_NOT_FOUND; decr stops at 0; incr wraps around at 2^64; a
 * value that is not a number is the server's CLIENT_ERROR, whose text shows
 * in pmc_last_error_message(), and the client keeps working afterwards.
 *
 * Usage: counters STATE_DIR
 */
#include "test_util.h"

static void expect_text(pmc_client *c, const char *key, const char *want) {
  pmc_value v = {0};
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, want);
  pmc_value_free(&v);
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c;
  uint64_t n = 777;
  pmc_value v = {0};

  test_env_load(&env, argc, argv);
  c = test_client(env.server, "counters");

  /* A missing key: PMC_NOT_FOUND, and the out-parameter is not written. */
  CHECK_STATUS(pmc_incr(c, BYTES("hits"), 1, PMC_REPLY_DEFAULT, &n, NULL), PMC_NOT_FOUND);
  CHECK_STATUS(pmc_decr(c, BYTES("hits"), 1, PMC_REPLY_WAIT, &n, NULL), PMC_NOT_FOUND);
  CHECK_UINT(n, 777);

  /* Counters are decimal text values. */
  CHECK_OK(pmc_set(c, BYTES("hits"), BYTES("10"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_incr(c, BYTES("hits"), 5, PMC_REPLY_DEFAULT, &n, NULL));
  CHECK_UINT(n, 15);
  CHECK_OK(pmc_decr(c, BYTES("hits"), 3, PMC_REPLY_DEFAULT, &n, NULL));
  CHECK_UINT(n, 12);
  expect_text(c, "hits", "12");

  /* new_value is optional. */
  CHECK_OK(pmc_incr(c, BYTES("hits"), 8, PMC_REPLY_WAIT, NULL, NULL));
  CHECK_OK(pmc_decr(c, BYTES("hits"), 0, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 20);

  /* With noreply the command is sent and the result is not read. */
  n = 777;
  CHECK_OK(pmc_incr(c, BYTES("hits"), 2, PMC_REPLY_NONE, &n, NULL));
  CHECK_OK(pmc_decr(c, BYTES("hits"), 1, PMC_REPLY_NONE, &n, NULL));
  CHECK_UINT(n, 777);
  expect_text(c, "hits", "21");
  /* ...even for a missing key, whose outcome nobody waits for. */
  CHECK_OK(pmc_incr(c, BYTES("no-hits"), 2, PMC_REPLY_NONE, NULL, NULL));

  /* decr stops at 0 (memcached's counters are unsigned). */
  CHECK_OK(pmc_decr(c, BYTES("hits"), 1000, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 0);
  CHECK_OK(pmc_decr(c, BYTES("hits"), 1, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 0);

  /* When a decr shortens the number, memcached may pad the stored text
     with spaces; the reply is the plain number. */
  CHECK_OK(pmc_set(c, BYTES("hits"), BYTES("100"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_decr(c, BYTES("hits"), 91, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 9);
  CHECK_OK(pmc_get(c, BYTES("hits"), &v, NULL));
  CHECK(v.len >= 1 && v.data[0] == '9');
  for (size_t i = 1; i < v.len; i++)
    CHECK(v.data[i] == ' ');
  pmc_value_free(&v);

  /* incr reaches 2^64 - 1 and wraps around at 2^64. The stored counters
     stay below 2^63: memcached 1.6.18 reads a counter of 2^63 or more with
     strchr(value, '-'), which runs past the value into whatever the slab
     holds next and may refuse it as non-numeric. */
  CHECK_OK(pmc_set(c, BYTES("big"), BYTES("9223372036854775807"), 0, 0,
                   PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_incr(c, BYTES("big"), 9223372036854775808ull, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, UINT64_MAX);
  CHECK_OK(pmc_set(c, BYTES("big"), BYTES("1"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_incr(c, BYTES("big"), UINT64_MAX, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 0);
  CHECK_OK(pmc_incr(c, BYTES("big"), UINT64_MAX, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, UINT64_MAX);
  CHECK_OK(pmc_set(c, BYTES("big"), BYTES("9223372036854775807"), 0, 0,
                   PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_incr(c, BYTES("big"), 9223372036854775812ull, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 3);
  CHECK_OK(pmc_decr(c, BYTES("big"), UINT64_MAX, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 0);

  /* Not a number: the server's CLIENT_ERROR, with its own words and the
     server's address in the message. */
  CHECK_OK(pmc_set(c, BYTES("word"), BYTES("abc"), 0, 0, PMC_REPLY_WAIT, NULL));
  n = 777;
  CHECK_STATUS(pmc_incr(c, BYTES("word"), 1, PMC_REPLY_WAIT, &n, NULL), PMC_CLIENT_ERROR);
  CHECK_LAST_ERROR(PMC_CLIENT_ERROR,
                   "cannot increment or decrement non-numeric value");
  CHECK_LAST_ERROR(PMC_CLIENT_ERROR, env.server);
  CHECK_UINT(n, 777);
  CHECK_STATUS(pmc_decr(c, BYTES("word"), 1, PMC_REPLY_WAIT, &n, NULL), PMC_CLIENT_ERROR);
  CHECK_LAST_ERROR(PMC_CLIENT_ERROR, "non-numeric");
  /* A number too large for 64 bits is not a number either. */
  CHECK_OK(pmc_set(c, BYTES("huge"), BYTES("18446744073709551616"), 0, 0,
                   PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_incr(c, BYTES("huge"), 1, PMC_REPLY_WAIT, &n, NULL), PMC_CLIENT_ERROR);

  /* The client reconnects and goes on after the error. */
  expect_text(c, "word", "abc");
  CHECK_OK(pmc_set(c, BYTES("hits"), BYTES("41"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_incr(c, BYTES("hits"), 1, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 42);

  /* The last error message stays until the next failing call: successful
     calls neither clear nor move it (valgrind would see a read of freed
     memory through `msg`). */
  {
    const char *msg = pmc_last_error_message();
    char copy[512];
    snprintf(copy, sizeof copy, "%s", msg);
    CHECK_OK(pmc_incr(c, BYTES("hits"), 1, PMC_REPLY_WAIT, &n, NULL));
    CHECK_OK(pmc_get(c, BYTES("word"), &v, NULL));
    pmc_value_free(&v);
    CHECK_STR(msg, copy);
    CHECK_LAST_ERROR(PMC_CLIENT_ERROR, "non-numeric");
  }

  pmc_client_free(c);
  puts("counters: ok");
  return 0;
}

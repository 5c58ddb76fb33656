/*
 * binary_values.c: keys and values are (pointer, length) pairs.
 *
 * Values may hold any byte: all 256 of them, "\r\n", NUL, even the
 * protocol's own "\r\nEND\r\n"; they may be empty (data NULL, len 0) or
 * large (900 KiB, near memcached's 1 MiB item limit). Key buffers need not
 * be NUL-terminated.
 *
 * Usage: binary_values STATE_DIR
 */
#include "test_util.h"

/* Store `val` under `key` and read it back with get, gets and get_many. */
static void round_trip(pmc_client *c, const char *key, const uint8_t *val,
                       size_t len) {
  pmc_value v = {0};
  pmc_results *r = NULL;
  pmc_item it;
  const uint8_t *keys[1] = {(const uint8_t *)key};
  size_t key_lens[1] = {strlen(key)};

  CHECK_OK(pmc_set(c, BYTES(key), val, len, 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE(&v, val, len);
  pmc_value_free(&v);
  CHECK_OK(pmc_gets(c, BYTES(key), &v, NULL));
  CHECK_VALUE(&v, val, len);
  pmc_value_free(&v);

  CHECK_OK(pmc_get_many(c, keys, key_lens, 1, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 1);
  CHECK_OK(pmc_results_at(r, 0, &it, NULL));
  CHECK_MEM(it.value, it.value_len, val, len);
  CHECK(it.value != NULL && it.value[it.value_len] == 0);
  pmc_results_free(r);
}

/* A deterministic pseudo-random byte stream. */
static void fill_random(uint8_t *p, size_t len, uint32_t seed) {
  for (size_t i = 0; i < len; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (uint8_t)(seed >> 16);
  }
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c;
  uint8_t all[256];
  static const uint8_t tricky[] = "line1\r\nline2\0after-nul\r\n";
  static const uint8_t fake_end[] = "\r\nEND\r\n";
  static const uint8_t fake_reply[] = "x\r\nEND\r\nVALUE other 0 3\r\nabc\r\nEND\r\n";
  size_t big_len = 900 * 1024;
  uint8_t *big = malloc(big_len);
  pmc_value v = {0};

  test_env_load(&env, argc, argv);
  c = test_client(env.server, "binary");
  CHECK(big != NULL);

  /* Every byte value, in order and reversed. */
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)i;
  round_trip(c, "all-bytes", all, sizeof all);
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)(255 - i);
  round_trip(c, "all-bytes-reversed", all, sizeof all);

  /* Protocol look-alikes inside values (sizeof - 1: not the final NUL,
     but every NUL inside). */
  round_trip(c, "tricky", tricky, sizeof tricky - 1);
  round_trip(c, "fake-end", fake_end, sizeof fake_end - 1);
  round_trip(c, "fake-reply", fake_reply, sizeof fake_reply - 1);
  round_trip(c, "just-nul", (const uint8_t *)"\0", 1);
  round_trip(c, "just-crlf", (const uint8_t *)"\r\n", 2);

  /* The empty value: data NULL and len 0 whether stored from NULL or from
     a non-NULL pointer. */
  round_trip(c, "empty", NULL, 0);
  round_trip(c, "empty2", all, 0);
  CHECK_OK(pmc_append(c, BYTES("empty"), BYTES("now-something"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("empty"), &v, NULL));
  CHECK_VALUE_STR(&v, "now-something");
  pmc_value_free(&v);

  /* Sizes around the library's copy threshold (16 KiB) and a big one. */
  fill_random(big, big_len, 42);
  round_trip(c, "16k-minus", big, 16 * 1024 - 1);
  round_trip(c, "16k", big, 16 * 1024);
  round_trip(c, "16k-plus", big, 16 * 1024 + 1);
  round_trip(c, "900k", big, big_len);
  /* Appending to a big value grows it in place on the server. */
  CHECK_OK(pmc_set(c, BYTES("grow"), big, big_len - 10, 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_append(c, BYTES("grow"), big + big_len - 10, 10, 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("grow"), &v, NULL));
  CHECK_VALUE(&v, big, big_len);
  pmc_value_free(&v);
  /* Big values in a batch, too. */
  {
    const uint8_t *keys[3] = {(const uint8_t *)"b1", (const uint8_t *)"b2",
                              (const uint8_t *)"b3"};
    const uint8_t *vals[3] = {big, big + 1, all};
    size_t key_lens[3] = {2, 2, 2}, val_lens[3] = {300 * 1024, 300 * 1024, 256};
    size_t n_failed = 99;
    pmc_results *r = NULL;
    CHECK_OK(pmc_set_many(c, keys, key_lens, vals, val_lens, 3, 0, 0,
                          PMC_REPLY_WAIT, NULL, &n_failed, NULL));
    CHECK_UINT(n_failed, 0);
    CHECK_OK(pmc_get_many(c, keys, key_lens, 3, &r, NULL));
    CHECK_UINT(pmc_results_len(r), 3);
    for (size_t i = 0; i < 3; i++) {
      pmc_item it;
      CHECK_OK(pmc_results_at(r, i, &it, NULL));
      CHECK_MEM(it.value, it.value_len, vals[i], val_lens[i]);
    }
    pmc_results_free(r);
  }

  /* Keys need not be NUL-terminated: only key_len bytes are read. The
     buffers below have no NUL anywhere (valgrind would notice a read past
     their end). */
  {
    uint8_t *k1 = malloc(7), *k2 = malloc(3);
    CHECK(k1 != NULL && k2 != NULL);
    memcpy(k1, "abcdefg", 7);
    memcpy(k2, "abc", 3);
    CHECK_OK(pmc_set(c, k1, 3, BYTES("short key"), 0, 0, PMC_REPLY_WAIT, NULL));
    CHECK_OK(pmc_set(c, k1, 7, BYTES("long key"), 0, 0, PMC_REPLY_WAIT, NULL));
    CHECK_OK(pmc_get(c, k2, 3, &v, NULL)); /* "abc" from another buffer */
    CHECK_VALUE_STR(&v, "short key");
    pmc_value_free(&v);
    CHECK_OK(pmc_get(c, k1, 7, &v, NULL));
    CHECK_VALUE_STR(&v, "long key");
    pmc_value_free(&v);
    CHECK_OK(pmc_delete(c, k2, 3, PMC_REPLY_WAIT, NULL));
    CHECK_STATUS(pmc_get(c, k1, 3, &v, NULL), PMC_MISS);
    free(k1);
    free(k2);
  }

  /* Value buffers are read only up to value_len, too. */
  {
    uint8_t *val = malloc(5);
    CHECK(val != NULL);
    memcpy(val, "12345", 5);
    CHECK_OK(pmc_set(c, BYTES("exact"), val, 5, 0, 0, PMC_REPLY_WAIT, NULL));
    free(val);
    CHECK_OK(pmc_get(c, BYTES("exact"), &v, NULL));
    CHECK_VALUE_STR(&v, "12345");
    pmc_value_free(&v);
  }

  free(big);
  pmc_client_free(c);
  puts("binary_values: ok");
  return 0;
}

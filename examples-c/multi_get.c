/*
 * multi_get.c: many keys at once.
 *
 * pmc_set_many (with the indices of items the server did not store),
 * pmc_get_many / pmc_gets_many and iterating their pmc_results (index, key,
 * value, flags, cas; misses are left out; duplicate keys), and
 * pmc_delete_many's count.
 *
 * Usage: multi_get STATE_DIR
 */
#include "test_util.h"

#define N 12

/* Keys "k0".."k11" and values "value-0".."value-11". */
static char key_buf[N][16], val_buf[N][16];
static const uint8_t *keys[N], *vals[N];
static size_t key_lens[N], val_lens[N];

static void make_items(void) {
  for (int i = 0; i < N; i++) {
    snprintf(key_buf[i], sizeof key_buf[i], "k%d", i);
    snprintf(val_buf[i], sizeof val_buf[i], "value-%d", i);
    keys[i] = (const uint8_t *)key_buf[i];
    vals[i] = (const uint8_t *)val_buf[i];
    key_lens[i] = strlen(key_buf[i]);
    val_lens[i] = strlen(val_buf[i]);
  }
}

static void set_many_then_get_many(pmc_client *c) {
  size_t failed[N], n_failed = 99;
  pmc_results *r = NULL;
  pmc_item it;

  /* Store the even-numbered items only, waiting for every reply. */
  const uint8_t *even_keys[N / 2], *even_vals[N / 2];
  size_t even_key_lens[N / 2], even_val_lens[N / 2];
  for (int i = 0; i < N / 2; i++) {
    even_keys[i] = keys[2 * i];
    even_vals[i] = vals[2 * i];
    even_key_lens[i] = key_lens[2 * i];
    even_val_lens[i] = val_lens[2 * i];
  }
  CHECK_OK(pmc_set_many(c, even_keys, even_key_lens, even_vals, even_val_lens,
                        N / 2, 42, 0, PMC_REPLY_WAIT, failed, &n_failed, NULL));
  CHECK_UINT(n_failed, 0);

  /* get_many of all N keys: only the even ones are there, in request
     order, each with its position in the request. */
  CHECK_OK(pmc_get_many(c, keys, key_lens, N, &r, NULL));
  CHECK_UINT(pmc_results_len(r), N / 2);
  for (size_t h = 0; h < pmc_results_len(r); h++) {
    CHECK_OK(pmc_results_at(r, h, &it, NULL));
    CHECK_UINT(it.index, 2 * h);
    CHECK_MEM(it.key, it.key_len, keys[it.index], key_lens[it.index]);
    CHECK_MEM(it.value, it.value_len, vals[it.index], val_lens[it.index]);
    CHECK(it.value[it.value_len] == '\0'); /* printable as a C string */
    CHECK_UINT(it.flags, 42);
    CHECK_UINT(it.cas, 0);
  }
  /* The same hits all at once, borrowed as an array. */
  size_t n_items = 0;
  const pmc_item *items = pmc_results_items(r, &n_items);
  CHECK_UINT(n_items, N / 2);
  CHECK(items != NULL);
  for (size_t h = 0; h < n_items; h++) {
    CHECK_OK(pmc_results_at(r, h, &it, NULL));
    CHECK_UINT(items[h].index, it.index);
    CHECK(items[h].key == it.key && items[h].value == it.value);
    CHECK_MEM(items[h].value, items[h].value_len, vals[2 * h], val_lens[2 * h]);
  }
  CHECK(pmc_results_items(r, NULL) == items); /* n is optional */
  pmc_results_free(r);

  /* gets_many: the same hits with CAS uniques that gets agrees with. */
  r = NULL;
  CHECK_OK(pmc_gets_many(c, keys, key_lens, N, &r, NULL));
  CHECK_UINT(pmc_results_len(r), N / 2);
  for (size_t h = 0; h < pmc_results_len(r); h++) {
    pmc_value v = {0};
    CHECK_OK(pmc_results_at(r, h, &it, NULL));
    CHECK(it.cas != 0);
    CHECK_OK(pmc_gets(c, it.key, it.key_len, &v, NULL));
    CHECK_UINT(v.cas, it.cas);
    pmc_value_free(&v);
  }
  pmc_results_free(r);
}

static void all_misses_and_empty(pmc_client *c) {
  pmc_results *r = NULL;
  const uint8_t *missing[2] = {(const uint8_t *)"nope1", (const uint8_t *)"nope2"};
  size_t missing_lens[2] = {5, 5};

  /* Every key missing is still PMC_OK, with no hits. */
  CHECK_OK(pmc_get_many(c, missing, missing_lens, 2, &r, NULL));
  CHECK(r != NULL);
  CHECK_UINT(pmc_results_len(r), 0);
  size_t n_items = 99;
  (void)pmc_results_items(r, &n_items); /* no hits: n is 0 */
  CHECK_UINT(n_items, 0);
  pmc_results_free(r);

  /* No keys at all: NULL arrays are fine with n == 0. */
  r = NULL;
  CHECK_OK(pmc_get_many(c, NULL, NULL, 0, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 0);
  pmc_results_free(r);
  r = NULL;
  CHECK_OK(pmc_gets_many(c, NULL, NULL, 0, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 0);
  pmc_results_free(r);
  CHECK_OK(pmc_set_many(c, NULL, NULL, NULL, NULL, 0, 0, 0, PMC_REPLY_WAIT,
                        NULL, NULL, NULL));
}

static void duplicates(pmc_client *c) {
  /* The same key twice (with a miss between): memcached answers for each
     position, and each hit names the position it answers. */
  const uint8_t *dup[3] = {keys[0], (const uint8_t *)"nope", keys[0]};
  size_t dup_lens[3] = {key_lens[0], 4, key_lens[0]};
  pmc_results *r = NULL;
  pmc_item a, b;
  CHECK_OK(pmc_get_many(c, dup, dup_lens, 3, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 2);
  CHECK_OK(pmc_results_at(r, 0, &a, NULL));
  CHECK_OK(pmc_results_at(r, 1, &b, NULL));
  CHECK_UINT(a.index, 0);
  CHECK_UINT(b.index, 2);
  CHECK_MEM(a.value, a.value_len, vals[0], val_lens[0]);
  CHECK_MEM(b.value, b.value_len, vals[0], val_lens[0]);
  /* Out of range is an error, not a crash. */
  CHECK_STATUS(pmc_results_at(r, 2, &a, NULL), PMC_INVALID_ARGUMENT);
  pmc_results_free(r);
}

/* Items a server refuses show up as indices in `failed`. A real memcached
   never answers NOT_STORED to `set`, so a fake server plays one that
   refuses every key containing "fail". */
static void failed_indices(void) {
  fake_server fake;
  pmc_client *c;
  const uint8_t *k[5] = {(const uint8_t *)"a", (const uint8_t *)"fail-b",
                         (const uint8_t *)"c", (const uint8_t *)"d",
                         (const uint8_t *)"fail-e"};
  size_t kl[5] = {1, 6, 1, 1, 6};
  const uint8_t *v[5] = {(const uint8_t *)"1", (const uint8_t *)"22",
                         (const uint8_t *)"333", NULL, (const uint8_t *)"5"};
  size_t vl[5] = {1, 2, 3, 0, 1}; /* v[3] is an empty value */
  size_t failed[5] = {99, 99, 99, 99, 99}, n_failed = 99;

  fake_server_start(&fake, FAKE_STORE);
  c = test_client(fake.addr, NULL);
  CHECK_STATUS(pmc_set_many(c, k, kl, v, vl, 5, 0, 0, PMC_REPLY_WAIT, failed,
                            &n_failed, NULL), PMC_NOT_STORED);
  CHECK_UINT(n_failed, 2);
  CHECK_UINT(failed[0], 1);
  CHECK_UINT(failed[1], 4);
  CHECK_UINT(failed[2], 99); /* entries past n_failed are not written */

  /* Both out-parameters are optional. */
  CHECK_STATUS(pmc_set_many(c, k, kl, v, vl, 5, 0, 0, PMC_REPLY_WAIT, NULL,
                            NULL, NULL), PMC_NOT_STORED);
  /* With noreply nothing can be known: PMC_OK and no failures. */
  n_failed = 99;
  CHECK_OK(pmc_set_many(c, k, kl, v, vl, 5, 0, 0, PMC_REPLY_NONE, failed,
                        &n_failed, NULL));
  CHECK_UINT(n_failed, 0);
  /* The fake server still answers in step: the connection is in sync. */
  n_failed = 99;
  CHECK_STATUS(pmc_set_many(c, k, kl, v, vl, 5, 0, 0, PMC_REPLY_WAIT, failed,
                            &n_failed, NULL), PMC_NOT_STORED);
  CHECK_UINT(n_failed, 2);
  pmc_client_free(c);
  fake_server_stop(&fake);
}

/* More items than one pipelined batch (the library sends at most 1024
   commands before reading replies): the indices still line up. */
/* `r` holds the n keys given, each the value of itself, flags 7. */
static void check_big(const pmc_results *r, const uint8_t *const *k, const size_t *kl, size_t n) {
  CHECK_UINT(pmc_results_len(r), n);
  for (size_t h = 0; h < n; h++) {
    pmc_item it;
    CHECK_OK(pmc_results_at(r, h, &it, NULL));
    CHECK_UINT(it.index, h);
    CHECK_MEM(it.key, it.key_len, k[h], kl[h]);
    CHECK_MEM(it.value, it.value_len, k[h], kl[h]);
    CHECK(it.value[it.value_len] == '\0');
    CHECK_UINT(it.flags, 7);
  }
}

static void big_batch(pmc_client *c) {
  enum { BIG = 2500 };
  static char kb[BIG][16];
  static const uint8_t *bk[BIG], *bv[BIG];
  static size_t bkl[BIG], bvl[BIG];
  size_t n_failed = 99, deleted = 0;
  pmc_results *r = NULL;
  for (int i = 0; i < BIG; i++) {
    snprintf(kb[i], sizeof kb[i], "big%d", i);
    bk[i] = (const uint8_t *)kb[i];
    bkl[i] = strlen(kb[i]);
    bv[i] = bk[i]; /* the value is the key */
    bvl[i] = bkl[i];
  }
  CHECK_OK(pmc_set_many(c, bk, bkl, bv, bvl, BIG, 7, 0, PMC_REPLY_WAIT, NULL,
                        &n_failed, NULL));
  CHECK_UINT(n_failed, 0);
  CHECK_OK(pmc_get_many(c, bk, bkl, BIG, &r, NULL));
  check_big(r, bk, bkl, BIG);

  /* A freed result's buffers are kept for the thread's next multi-key
     get; results alive at the same time never share them. */
  pmc_results *small = NULL, *again = NULL, *third = NULL;
  CHECK_OK(pmc_get_many(c, bk, bkl, 10, &small, NULL));
  pmc_results_free(r); /* its buffers go to the next get_many */
  CHECK_OK(pmc_get_many(c, bk + 10, bkl + 10, BIG - 10, &again, NULL));
  CHECK_OK(pmc_get_many(c, bk + 5, bkl + 5, 20, &third, NULL));
  check_big(small, bk, bkl, 10);
  check_big(again, bk + 10, bkl + 10, BIG - 10);
  check_big(third, bk + 5, bkl + 5, 20);
  pmc_results_free(again);
  pmc_results_free(small);
  CHECK_OK(pmc_get_many(c, bk, bkl, BIG, &r, NULL));
  check_big(third, bk + 5, bkl + 5, 20);
  check_big(r, bk, bkl, BIG);
  pmc_results_free(third);
  pmc_results_free(r);
  CHECK_OK(pmc_delete_many(c, bk, bkl, BIG, PMC_REPLY_WAIT, &deleted, NULL));
  CHECK_UINT(deleted, BIG);
}

static void delete_many(pmc_client *c) {
  size_t deleted = 99;
  pmc_results *r = NULL;

  /* Keys 0,2,4,.. exist, the odd ones do not: the count says how many
     existed. */
  CHECK_OK(pmc_delete_many(c, keys, key_lens, N, PMC_REPLY_WAIT, &deleted, NULL));
  CHECK_UINT(deleted, N / 2);
  CHECK_OK(pmc_get_many(c, keys, key_lens, N, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 0);
  pmc_results_free(r);

  /* Again: nothing left to delete. */
  CHECK_OK(pmc_delete_many(c, keys, key_lens, N, PMC_REPLY_WAIT, &deleted, NULL));
  CHECK_UINT(deleted, 0);

  /* noreply: the count is the number of keys sent; the count is optional. */
  CHECK_OK(pmc_set_many(c, keys, key_lens, vals, val_lens, N, 0, 0,
                        PMC_REPLY_DEFAULT, NULL, NULL, NULL));
  CHECK_OK(pmc_delete_many(c, keys, key_lens, 3, PMC_REPLY_NONE, &deleted, NULL));
  CHECK_UINT(deleted, 3);
  CHECK_OK(pmc_delete_many(c, keys + 3, key_lens + 3, N - 3, PMC_REPLY_WAIT,
                           NULL, NULL));
  CHECK_OK(pmc_get_many(c, keys, key_lens, N, &r, NULL));
  CHECK_UINT(pmc_results_len(r), 0);
  pmc_results_free(r);
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c;
  test_env_load(&env, argc, argv);
  make_items();
  c = test_client(env.server, "multi");

  set_many_then_get_many(c);
  all_misses_and_empty(c);
  duplicates(c);
  delete_many(c);
  big_batch(c);
  failed_indices();

  pmc_client_free(c);
  puts("multi_get: ok");
  return 0;
}

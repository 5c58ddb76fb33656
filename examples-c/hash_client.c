/*
 * hash_client.c: one handle over several servers (pymemcache's HashClient).
 *
 * Two or more servers (or pmc_options_set_use_hash_client) make a hash
 * client: each key lives on the one server rendezvous hashing picks, the
 * same one pymemcache picks, so C and Python services share a cluster.
 * Shown here:
 *  - placement: pmc_client_server_for_key agrees with pymemcache's own
 *    (text keys, and bytes keys with pmc_options_set_hash_key_form)
 *    answers and with an independent implementation of its algorithm below,
 *    and items really are stored on that server and no other;
 *  - multi-key commands spanning servers; stats from every server;
 *  - pmc_client_add_server / pmc_client_remove_server at run time (only
 *    the keys of the server added or removed move);
 *  - failures: a server that goes away is retried (retry_attempts,
 *    retry_timeout_ms), then declared dead and its keys move, until
 *    dead_timeout_ms has passed; PMC_NO_SERVERS when none is left.
 *
 * Usage: hash_client STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

/* ---- pymemcache's placement, independently ---------------------------------- */

static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

/* MurmurHash3 x86 32-bit, the hash pymemcache's RendezvousHash uses. */
static uint32_t murmur3_32(const uint8_t *data, size_t len, uint32_t seed) {
  const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
  size_t nblocks = len / 4;
  uint32_t h = seed, k;
  for (size_t i = 0; i < nblocks; i++) {
    const uint8_t *p = data + 4 * i;
    k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
        (uint32_t)p[3] << 24;
    k *= c1;
    k = rotl32(k, 15);
    k *= c2;
    h ^= k;
    h = rotl32(h, 13);
    h = h * 5 + 0xe6546b64u;
  }
  k = 0;
  switch (len & 3) {
  case 3:
    k ^= (uint32_t)data[4 * nblocks + 2] << 16;
    /* fall through */
  case 2:
    k ^= (uint32_t)data[4 * nblocks + 1] << 8;
    /* fall through */
  case 1:
    k ^= data[4 * nblocks];
    k *= c1;
    k = rotl32(k, 15);
    k *= c2;
    h ^= k;
  }
  h ^= (uint32_t)len;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

/* Rendezvous hashing: every node scores murmur3("<node>-<key>"); the
   highest score wins, a tie goes to the larger name. ASCII keys only. */
static const char *rendezvous(const char *const *nodes, size_t n, const char *key) {
  const char *winner = NULL;
  uint32_t best = 0;
  for (size_t i = 0; i < n; i++) {
    char buf[600];
    int len = snprintf(buf, sizeof buf, "%s-%s", nodes[i], key);
    uint32_t score = murmur3_32((const uint8_t *)buf, (size_t)len, 0);
    if (winner == NULL || score > best ||
        (score == best && strcmp(nodes[i], winner) > 0)) {
      best = score;
      winner = nodes[i];
    }
  }
  return winner;
}

/* ---- helpers --------------------------------------------------------------------- */

static pmc_client *hash_client(const char *const *servers, size_t n,
                               void (*configure)(pmc_options *)) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  for (size_t i = 0; i < n; i++)
    CHECK_OK(pmc_options_add_server(o, servers[i], NULL));
  CHECK_OK(pmc_options_set_use_hash_client(o, true, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 5000, NULL));
  if (configure != NULL)
    configure(o);
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

static void use_bytes_key_form(pmc_options *o) {
  CHECK_OK(pmc_options_set_hash_key_form(o, PMC_KEY_FORM_PYTHON_BYTES, NULL));
}

static void use_text_key_form(pmc_options *o) {
  CHECK_OK(pmc_options_set_hash_key_form(o, PMC_KEY_FORM_PYTHON_BYTES, NULL));
  CHECK_OK(pmc_options_set_hash_key_form(o, PMC_KEY_FORM_TEXT, NULL));
}

/* The server `key` is on, copied into `buf`. */
static const char *server_for(pmc_client *c, const char *key, char *buf, size_t size) {
  char *s = NULL;
  CHECK_OK(pmc_client_server_for_key(c, BYTES(key), &s, NULL));
  snprintf(buf, size, "%s", s);
  pmc_string_free(s);
  return buf;
}

/* ---- placement -------------------------------------------------------------------- */

static void placement_matches_pymemcache(void) {
  static const char *const nodes[3] = {"127.0.0.1:11211", "127.0.0.1:11212",
                                       "127.0.0.1:11213"};
  /* key -> node, as pymemcache 4's HashClient answers for these nodes. */
  static const char *const vectors[][2] = {{"a", "127.0.0.1:11213"},
                                           {"foo", "127.0.0.1:11213"},
                                           {"key1", "127.0.0.1:11212"},
                                           {"user:42", "127.0.0.1:11212"}};
  pmc_client *c;
  char buf[256];

  /* Pin the C murmur3 to values pymemcache computes. */
  CHECK_UINT(murmur3_32((const uint8_t *)"", 0, 0), 0);
  CHECK_UINT(murmur3_32(BYTES("a"), 0), 1009084850u);
  CHECK_UINT(murmur3_32(BYTES("abc"), 0), 3017643002u);
  CHECK_UINT(murmur3_32(BYTES("hello world"), 0), 1586663183u);
  CHECK_UINT(murmur3_32(BYTES("127.0.0.1:11211-foo"), 0), 553244281u);

  /* Placement needs no running server: nothing is connected. */
  c = hash_client(nodes, 3, NULL);
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    CHECK_STR(server_for(c, vectors[i][0], buf, sizeof buf), vectors[i][1]);
    CHECK_STR(rendezvous(nodes, 3, vectors[i][0]), vectors[i][1]);
  }
  for (int i = 0; i < 500; i++) {
    char key[32];
    snprintf(key, sizeof key, "user:%d:profile", i * 7919);
    CHECK_STR(server_for(c, key, buf, sizeof buf), rendezvous(nodes, 3, key));
  }
  /* Illegal keys are refused before any placement. */
  {
    char *s = NULL;
    CHECK_STATUS(pmc_client_server_for_key(c, BYTES("bad key"), &s, NULL), PMC_ILLEGAL_INPUT);
    CHECK(s == NULL);
  }
  pmc_client_free(c);

  /* A fleet whose Python services pass bytes keys: pymemcache hashes the
     repr (b'key1'), so keys land elsewhere; PMC_KEY_FORM_PYTHON_BYTES
     follows it. Answers from pymemcache 4's HashClient for bytes keys. */
  {
    static const char *const bytes_vectors[][2] = {
        {"a", "127.0.0.1:11211"},         {"foo", "127.0.0.1:11212"},
        {"key1", "127.0.0.1:11213"},      {"user:42", "127.0.0.1:11212"},
        {"caf\xc3\xa9", "127.0.0.1:11213"}, {"ctl\x01key", "127.0.0.1:11211"}};
    pmc_options *o = pmc_options_new();
    CHECK_STATUS(pmc_options_set_hash_key_form(NULL, PMC_KEY_FORM_TEXT, NULL), PMC_NULL_ARGUMENT);
    CHECK_STATUS(pmc_options_set_hash_key_form(o, 7, NULL), PMC_INVALID_ARGUMENT);
    CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "key form 7");
    pmc_options_free(o);
    c = hash_client(nodes, 3, use_bytes_key_form);
    for (size_t i = 0; i < sizeof bytes_vectors / sizeof bytes_vectors[0]; i++)
      CHECK_STR(server_for(c, bytes_vectors[i][0], buf, sizeof buf), bytes_vectors[i][1]);
    pmc_client_free(c);
    /* Set back to text, the options give the text placement again. */
    c = hash_client(nodes, 3, use_text_key_form);
    CHECK_STR(server_for(c, "key1", buf, sizeof buf), "127.0.0.1:11212");
    pmc_client_free(c);
  }

  /* A single-server client places every key on its server. */
  c = test_client("127.0.0.1:11299", NULL);
  CHECK_STR(server_for(c, "anything", buf, sizeof buf), "127.0.0.1:11299");
  pmc_client_free(c);
}

/* ---- a live cluster ------------------------------------------------------------------ */

#define NODES 3
#define KEYS 60

static test_memcached servers[NODES];
static const char *addrs[NODES];
static pmc_client *direct[NODES]; /* one plain client per server */
static char keys[KEYS][32];

static int node_index(const char *addr) {
  for (int i = 0; i < NODES; i++)
    if (strcmp(addr, addrs[i]) == 0)
      return i;
  FAIL("%s is not one of the cluster's servers", addr);
}

static void cluster_commands(pmc_client *c) {
  const uint8_t *k[KEYS];
  size_t kl[KEYS], n_failed = 99, deleted = 0;
  int per_node[NODES] = {0};
  pmc_results *r = NULL;
  pmc_stats_list *s = NULL;
  bool seen[NODES] = {false};
  char buf[512];

  for (int i = 0; i < KEYS; i++) {
    snprintf(keys[i], sizeof keys[i], "item-%d", i);
    k[i] = (const uint8_t *)keys[i];
    kl[i] = strlen(keys[i]);
  }

  /* One batch over all servers (the value is the key). */
  CHECK_OK(pmc_set_many(c, k, kl, k, kl, KEYS, 9, 0, PMC_REPLY_WAIT, NULL, &n_failed, NULL));
  CHECK_UINT(n_failed, 0);

  /* Each item is on the server placement names, and only there. */
  for (int i = 0; i < KEYS; i++) {
    int home = node_index(server_for(c, keys[i], buf, sizeof buf));
    per_node[home]++;
    for (int j = 0; j < NODES; j++) {
      pmc_value v = {0};
      pmc_status st = pmc_get(direct[j], k[i], kl[i], &v, NULL);
      if (j == home) {
        CHECK_STATUS(st, PMC_OK);
        CHECK_VALUE(&v, k[i], kl[i]);
        pmc_value_free(&v);
      } else {
        CHECK_STATUS(st, PMC_MISS);
      }
    }
  }
  for (int j = 0; j < NODES; j++)
    if (per_node[j] == 0)
      FAIL("no key of %d was placed on %s", KEYS, addrs[j]);

  /* get_many and gets_many gather from every server, in request order. */
  CHECK_OK(pmc_get_many(c, k, kl, KEYS, &r, NULL));
  CHECK_UINT(pmc_results_len(r), KEYS);
  for (size_t i = 0; i < KEYS; i++) {
    pmc_item it;
    CHECK_OK(pmc_results_at(r, i, &it, NULL));
    CHECK_UINT(it.index, i);
    CHECK_MEM(it.value, it.value_len, k[i], kl[i]);
    CHECK_UINT(it.flags, 9);
  }
  pmc_results_free(r);
  r = NULL;
  CHECK_OK(pmc_gets_many(c, k, kl, KEYS, &r, NULL));
  CHECK_UINT(pmc_results_len(r), KEYS);
  pmc_results_free(r);

  /* Single-key commands go to the right server too. */
  {
    uint64_t n = 0;
    pmc_value v = {0};
    CHECK_OK(pmc_set(c, BYTES("counter"), BYTES("5"), 0, 0, PMC_REPLY_WAIT, NULL));
    CHECK_OK(pmc_incr(c, BYTES("counter"), 1, PMC_REPLY_WAIT, &n, NULL));
    CHECK_UINT(n, 6);
    CHECK_OK(pmc_get(direct[node_index(server_for(c, "counter", buf, sizeof buf))],
                     BYTES("counter"), &v, NULL));
    CHECK_VALUE_STR(&v, "6");
    pmc_value_free(&v);
  }

  /* stats: every server's, each entry naming its server. */
  CHECK_OK(pmc_stats(c, NULL, 0, &s, NULL));
  for (size_t i = 0; i < pmc_stats_len(s); i++) {
    const char *srv;
    CHECK_OK(pmc_stats_at(s, i, &srv, NULL, NULL, NULL));
    seen[node_index(srv)] = true;
  }
  for (int j = 0; j < NODES; j++)
    CHECK(seen[j]);
  pmc_stats_free(s);

  CHECK_OK(pmc_delete_many(c, k, kl, KEYS, PMC_REPLY_WAIT, &deleted, NULL));
  CHECK_UINT(deleted, KEYS);
}

static void add_and_remove(pmc_client *c) {
  char before[KEYS][320], buf[320];
  pmc_client *single = test_client(addrs[0], NULL);

  for (int i = 0; i < KEYS; i++)
    server_for(c, keys[i], before[i], sizeof before[i]);

  /* Removing a server moves its keys, and only its keys. */
  CHECK_OK(pmc_client_remove_server(c, addrs[1], NULL));
  for (int i = 0; i < KEYS; i++) {
    server_for(c, keys[i], buf, sizeof buf);
    CHECK(strcmp(buf, addrs[1]) != 0);
    if (strcmp(before[i], addrs[1]) != 0)
      CHECK_STR(buf, before[i]);
  }
  CHECK_STATUS(pmc_client_remove_server(c, addrs[1], NULL), PMC_CONFIG_ERROR);
  CHECK_LAST_ERROR(PMC_CONFIG_ERROR, "not in the client");

  /* Adding it back restores the placement exactly. */
  CHECK_OK(pmc_client_add_server(c, addrs[1], NULL));
  for (int i = 0; i < KEYS; i++)
    CHECK_STR(server_for(c, keys[i], buf, sizeof buf), before[i]);
  CHECK_STATUS(pmc_client_add_server(c, addrs[1], NULL), PMC_CONFIG_ERROR);
  CHECK_LAST_ERROR(PMC_CONFIG_ERROR, "already");
  CHECK_STATUS(pmc_client_add_server(c, "not an address", NULL), PMC_CONFIG_ERROR);
  CHECK_STATUS(pmc_client_add_server(c, NULL, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_client_remove_server(c, NULL, NULL), PMC_NULL_ARGUMENT);

  /* Only a hash client has servers to add or remove. */
  CHECK_STATUS(pmc_client_add_server(single, addrs[1], NULL), PMC_INVALID_ARGUMENT);
  CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "not a hash client");
  CHECK_STATUS(pmc_client_remove_server(single, addrs[0], NULL), PMC_INVALID_ARGUMENT);
  pmc_client_free(single);
}

/* Retry and death of a server: retry_attempts 1 with a 1 s retry timeout,
   dead for 1.5 s (long enough that a slow run under valgrind still does
   the steps in between in time). */
static void fast_failure_options(pmc_options *o) {
  CHECK_OK(pmc_options_set_retry_attempts(o, 1, NULL));
  CHECK_OK(pmc_options_set_retry_timeout_ms(o, 1000, NULL));
  CHECK_OK(pmc_options_set_dead_timeout_ms(o, 1500, NULL));
}

static void failing_server(void) {
  pmc_client *c = hash_client(addrs, NODES, fast_failure_options);
  const char *victim = addrs[2];
  const char *key = NULL;
  char buf[320], moved[320];
  pmc_value v = {0};

  /* A key that lives on the server about to go away. */
  for (int i = 0; i < KEYS && key == NULL; i++)
    if (strcmp(server_for(c, keys[i], buf, sizeof buf), victim) == 0)
      key = keys[i];
  CHECK(key != NULL);
  CHECK_OK(pmc_set(c, BYTES(key), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL));
  test_memcached_stop(&servers[2]);

  /* First failure: an I/O error naming the server; the key stays. */
  CHECK_STATUS(pmc_get(c, BYTES(key), &v, NULL), PMC_IO_ERROR);
  CHECK_LAST_ERROR(PMC_IO_ERROR, victim);
  CHECK_STR(server_for(c, key, buf, sizeof buf), victim);
  /* Within the retry timeout the server is not even tried: its commands
     give their defaults, as pymemcache's HashClient (not stored, a miss). */
  CHECK_STATUS(pmc_set(c, BYTES(key), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_NOT_STORED);
  CHECK_STATUS(pmc_get(c, BYTES(key), &v, NULL), PMC_MISS);
  CHECK_STR(server_for(c, key, buf, sizeof buf), victim);

  /* After the retry timeout it is tried once more, fails, and is dead:
     its keys move to the others. */
  test_sleep_ms(1200);
  CHECK_STATUS(pmc_get(c, BYTES(key), &v, NULL), PMC_IO_ERROR);
  server_for(c, key, moved, sizeof moved);
  CHECK(strcmp(moved, victim) != 0);
  CHECK_STR(moved, rendezvous(addrs, NODES - 1, key));
  CHECK_OK(pmc_set(c, BYTES(key), BYTES("moved"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, "moved");
  pmc_value_free(&v);

  /* After the dead timeout it is back in the hash. */
  test_sleep_ms(1700);
  CHECK_STR(server_for(c, key, buf, sizeof buf), victim);
  pmc_client_free(c);
}

static void no_servers(void) {
  pmc_client *c = hash_client(NULL, 0, NULL); /* allowed for a hash client */
  pmc_value v = {0};
  char *s = NULL;
  pmc_results *r = NULL;
  const uint8_t *k[1] = {(const uint8_t *)"k"};
  size_t kl[1] = {1};

  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_NO_SERVERS);
  CHECK_LAST_ERROR(PMC_NO_SERVERS, NULL);
  CHECK_STATUS(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_NO_SERVERS);
  CHECK_STATUS(pmc_get_many(c, k, kl, 1, &r, NULL), PMC_NO_SERVERS);
  CHECK_STATUS(pmc_client_server_for_key(c, BYTES("k"), &s, NULL), PMC_NO_SERVERS);
  CHECK(s == NULL && r == NULL);

  /* Servers can join later. */
  CHECK_OK(pmc_client_add_server(c, addrs[0], NULL));
  CHECK_OK(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("k"), &v, NULL));
  CHECK_VALUE_STR(&v, "v");
  pmc_value_free(&v);
  CHECK_OK(pmc_client_remove_server(c, addrs[0], NULL));
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_NO_SERVERS);
  pmc_client_free(c);
}

/* set_many's failed indices are positions in the caller's arrays, whatever
   server each item went to. Two fake servers refuse keys containing
   "fail". */
static void failed_indices_across_servers(void) {
  fake_server f[2];
  const char *fake_addrs[2];
  pmc_client *c;
  char kb[24][16];
  const uint8_t *k[24];
  size_t kl[24], failed[24], n_failed = 99, want = 0;
  bool on[2] = {false, false};
  char buf[64];

  for (int i = 0; i < 2; i++) {
    fake_server_start(&f[i], FAKE_STORE);
    fake_addrs[i] = f[i].addr;
  }
  c = hash_client(fake_addrs, 2, NULL);
  for (int i = 0; i < 24; i++) {
    snprintf(kb[i], sizeof kb[i], i % 3 == 1 ? "fail-%d" : "ok-%d", i);
    k[i] = (const uint8_t *)kb[i];
    kl[i] = strlen(kb[i]);
    if (i % 3 == 1) /* the refused ones land on both servers */
      on[strcmp(server_for(c, kb[i], buf, sizeof buf), fake_addrs[0]) == 0 ? 0 : 1] = true;
  }
  CHECK(on[0] && on[1]);
  CHECK_STATUS(pmc_set_many(c, k, kl, k, kl, 24, 0, 0, PMC_REPLY_WAIT, failed, &n_failed, NULL),
               PMC_NOT_STORED);
  CHECK_UINT(n_failed, 8);
  /* Each refused index exactly once (in whatever order). */
  for (size_t i = 0; i < n_failed; i++) {
    CHECK(failed[i] < 24 && failed[i] % 3 == 1);
    for (size_t j = 0; j < i; j++)
      CHECK(failed[j] != failed[i]);
    want++;
  }
  CHECK_UINT(want, 8);
  pmc_client_free(c);
  for (int i = 0; i < 2; i++)
    fake_server_stop(&f[i]);
}

/* With a key prefix, placement still hashes the key as the caller gave it
   (as pymemcache does), and the server stores the prefixed key. */
static void prefixed_keys(pmc_client *unprefixed) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  char a[320], b[320], full[64];
  pmc_value v = {0};
  for (int i = 0; i < NODES; i++)
    CHECK_OK(pmc_options_add_server(o, addrs[i], NULL));
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES("pfx:"), NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  for (int i = 0; i < KEYS; i++) {
    CHECK_STR(server_for(c, keys[i], a, sizeof a), server_for(unprefixed, keys[i], b, sizeof b));
    CHECK_OK(pmc_set(c, BYTES(keys[i]), BYTES("p"), 0, 0, PMC_REPLY_WAIT, NULL));
    snprintf(full, sizeof full, "pfx:%s", keys[i]);
    CHECK_OK(pmc_get(direct[node_index(a)], BYTES(full), &v, NULL));
    CHECK_VALUE_STR(&v, "p");
    pmc_value_free(&v);
  }
  pmc_client_free(c);
}

/* Without use_hash_client, two servers make a hash client all the same. */
static void two_servers_hash(void) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  char buf[320];
  CHECK_OK(pmc_options_add_server(o, addrs[0], NULL));
  CHECK_OK(pmc_options_add_server(o, addrs[1], NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  for (int i = 0; i < 20; i++)
    CHECK_STR(server_for(c, keys[i], buf, sizeof buf), rendezvous(addrs, 2, keys[i]));
  CHECK_OK(pmc_client_add_server(c, addrs[2], NULL));
  pmc_client_free(c);
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c;
  test_env_load(&env, argc, argv);

  placement_matches_pymemcache();

  for (int i = 0; i < NODES; i++) {
    test_memcached_start(&servers[i], NULL);
    addrs[i] = servers[i].addr;
    direct[i] = test_client(addrs[i], NULL);
  }
  c = hash_client(addrs, NODES, NULL);
  cluster_commands(c);
  add_and_remove(c);
  prefixed_keys(c);
  pmc_client_free(c);
  two_servers_hash();
  failed_indices_across_servers();
  no_servers();
  failing_server();

  for (int i = 0; i < NODES; i++) {
    pmc_client_free(direct[i]);
    test_memcached_stop(&servers[i]);
  }
  puts("hash_client: ok");
  return 0;
}

/*
 * threads.c: one client handle shared by 8 threads.
 *
 * Every client handle may be used from several threads at once (a
 * single-server client serializes the calls on its one connection). Each
 * thread writes and reads its own keys through the SAME handle and checks
 * every value it reads back - a reply handed to the wrong thread would show
 * up as a mismatch.
 *
 * Second part: the same with a hash client over two servers, where every
 * multi-key command spans both servers (and so takes both connections).
 *
 * Third part: pmc_last_error_message() is per thread. Two threads fail at
 * the same time in different ways, and each still sees its own message.
 *
 * Usage: threads STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

#define THREADS 8
#define ROUNDS 150 /* x 3 commands + a batch every 25 rounds, per thread */

typedef struct worker {
  pmc_client *client; /* shared by all workers */
  int id;
  int ops;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  char key[32], val[64];

  for (int i = 0; i < ROUNDS; i++) {
    pmc_value v = {0};
    snprintf(key, sizeof key, "t%d-k%d", w->id, i % 10);
    snprintf(val, sizeof val, "thread %d round %d", w->id, i);

    CHECK_OK(pmc_set(w->client, BYTES(key), BYTES(val), (uint32_t)w->id, 0,
                     PMC_REPLY_WAIT, NULL));
    CHECK_OK(pmc_get(w->client, BYTES(key), &v, NULL));
    CHECK_VALUE_STR(&v, val);
    CHECK_UINT(v.flags, w->id);
    pmc_value_free(&v);

    /* A noreply write, then a read on the same handle: the write is seen. */
    CHECK_OK(pmc_append(w->client, BYTES(key), BYTES("+"), 0, 0, PMC_REPLY_NONE, NULL));
    CHECK_OK(pmc_gets(w->client, BYTES(key), &v, NULL));
    CHECK(v.len == strlen(val) + 1 && memcmp(v.data, val, strlen(val)) == 0 &&
          v.data[v.len - 1] == '+');
    pmc_value_free(&v);
    w->ops += 4;

    if (i % 25 == 24) { /* now and then, all ten keys in one request */
      const uint8_t *keys[10];
      size_t lens[10];
      char kb[10][32];
      pmc_results *r = NULL;
      for (int j = 0; j < 10; j++) {
        snprintf(kb[j], sizeof kb[j], "t%d-k%d", w->id, j);
        keys[j] = (const uint8_t *)kb[j];
        lens[j] = strlen(kb[j]);
      }
      CHECK_OK(pmc_get_many(w->client, keys, lens, 10, &r, NULL));
      CHECK_UINT(pmc_results_len(r), 10);
      for (size_t h = 0; h < 10; h++) {
        pmc_item it;
        char prefix[32];
        CHECK_OK(pmc_results_at(r, h, &it, NULL));
        CHECK_UINT(it.index, h);
        CHECK_UINT(it.flags, w->id);
        snprintf(prefix, sizeof prefix, "thread %d round ", w->id);
        CHECK(it.value_len > strlen(prefix) &&
              memcmp(it.value, prefix, strlen(prefix)) == 0);
      }
      pmc_results_free(r);
      w->ops++;
    }
  }
  return NULL;
}

static void shared_handle(const char *server) {
  pthread_t t[THREADS];
  worker w[THREADS];
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  char prefix[64];
  int total = 0;

  /* TCP_NODELAY: a noreply command followed by a request would otherwise
     wait for the server's delayed ACK (Nagle), ~40 ms per round. */
  snprintf(prefix, sizeof prefix, "threads.%ld.", (long)getpid());
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_no_delay(o, true, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);

  for (int i = 0; i < THREADS; i++) {
    w[i].client = c;
    w[i].id = i;
    w[i].ops = 0;
    if (pthread_create(&t[i], NULL, work, &w[i]) != 0)
      FAIL("pthread_create failed");
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    total += w[i].ops;
  }
  CHECK_UINT(total, THREADS * (ROUNDS * 4 + ROUNDS / 25));
  pmc_client_free(c);
}

/* ---- a hash client over two servers --------------------------------------- */

#define HASH_ROUNDS 40
#define HASH_KEYS 16

static void *work_hash(void *arg) {
  worker *w = arg;
  char kb[HASH_KEYS][32], vb[HASH_KEYS][48];
  const uint8_t *keys[HASH_KEYS], *vals[HASH_KEYS];
  size_t klen[HASH_KEYS], vlen[HASH_KEYS];
  for (int i = 0; i < HASH_ROUNDS; i++) {
    size_t n_failed = 99;
    pmc_results *r = NULL;
    for (int j = 0; j < HASH_KEYS; j++) {
      snprintf(kb[j], sizeof kb[j], "h%d-%d", w->id, j);
      snprintf(vb[j], sizeof vb[j], "thread %d round %d key %d", w->id, i, j);
      keys[j] = (const uint8_t *)kb[j];
      vals[j] = (const uint8_t *)vb[j];
      klen[j] = strlen(kb[j]);
      vlen[j] = strlen(vb[j]);
    }
    CHECK_OK(pmc_set_many(w->client, keys, klen, vals, vlen, HASH_KEYS, 0, 0,
                          PMC_REPLY_WAIT, NULL, &n_failed, NULL));
    CHECK_UINT(n_failed, 0);
    CHECK_OK(pmc_get_many(w->client, keys, klen, HASH_KEYS, &r, NULL));
    CHECK_UINT(pmc_results_len(r), HASH_KEYS);
    for (size_t h = 0; h < HASH_KEYS; h++) {
      pmc_item it;
      CHECK_OK(pmc_results_at(r, h, &it, NULL));
      CHECK_UINT(it.index, h);
      CHECK_MEM(it.value, it.value_len, vals[h], vlen[h]);
    }
    pmc_results_free(r);
    w->ops += 2;
  }
  return NULL;
}

static void shared_hash_client(const char *server, const char *socket_path) {
  pthread_t t[THREADS];
  worker w[THREADS];
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  char prefix[64];
  int total = 0;

  snprintf(prefix, sizeof prefix, "threads.%ld.", (long)getpid());
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_add_server(o, socket_path, NULL));
  CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  CHECK_OK(pmc_options_set_no_delay(o, true, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);

  for (int i = 0; i < THREADS; i++) {
    w[i].client = c;
    w[i].id = i;
    w[i].ops = 0;
    if (pthread_create(&t[i], NULL, work_hash, &w[i]) != 0)
      FAIL("pthread_create failed");
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    total += w[i].ops;
  }
  CHECK_UINT(total, THREADS * HASH_ROUNDS * 2);
  pmc_client_free(c);
}

/* ---- per-thread error messages --------------------------------------------- */

typedef struct failing {
  pthread_barrier_t *barrier;
  pmc_client *client;
  const char *refused_addr;
  char message[512]; /* what this thread saw after both had failed */
} failing;

/* Thread A: an illegal key. */
static void *fail_illegal(void *arg) {
  failing *f = arg;
  pmc_value v = {0};
  CHECK_STATUS(pmc_get(f->client, BYTES("bad key"), &v, NULL), PMC_ILLEGAL_INPUT);
  pthread_barrier_wait(f->barrier); /* both have failed now */
  snprintf(f->message, sizeof f->message, "%s", pmc_last_error_message());
  pthread_barrier_wait(f->barrier);
  return NULL;
}

/* Thread B: a configuration error, then a connection refused. */
static void *fail_network(void *arg) {
  failing *f = arg;
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  pmc_value v = {0};
  CHECK_STATUS(pmc_options_add_server(o, "not-an-address", NULL), PMC_CONFIG_ERROR);
  CHECK_LAST_ERROR(PMC_CONFIG_ERROR, "not-an-address");
  CHECK_OK(pmc_options_add_server(o, f->refused_addr, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_IO_ERROR);
  pmc_client_free(c);
  pthread_barrier_wait(f->barrier);
  snprintf(f->message, sizeof f->message, "%s", pmc_last_error_message());
  pthread_barrier_wait(f->barrier);
  return NULL;
}

static void *copy_message(void *arg) {
  snprintf(arg, 64, "%s", pmc_last_error_message());
  return NULL;
}

static void per_thread_errors(const char *server) {
  pthread_barrier_t barrier;
  pthread_t a, b;
  failing fa, fb;
  char refused[64];
  int fd = test_socket_refusing(refused, sizeof refused);
  pmc_client *c = test_client(server, "threads");
  pmc_value v = {0};

  /* The main thread's own error, before and after the others. */
  CHECK_STATUS(pmc_get(c, NULL, 1, &v, NULL), PMC_NULL_ARGUMENT);

  pthread_barrier_init(&barrier, NULL, 2);
  memset(&fa, 0, sizeof fa);
  memset(&fb, 0, sizeof fb);
  fa.barrier = fb.barrier = &barrier;
  fa.client = fb.client = c;
  fa.refused_addr = fb.refused_addr = refused;
  if (pthread_create(&a, NULL, fail_illegal, &fa) != 0 ||
      pthread_create(&b, NULL, fail_network, &fb) != 0)
    FAIL("pthread_create failed");
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  pthread_barrier_destroy(&barrier);

  CHECK(strncmp(fa.message, "PMC_ILLEGAL_INPUT", 17) == 0);
  CHECK_CONTAINS(fa.message, "whitespace");
  CHECK(strncmp(fb.message, "PMC_IO_ERROR", 12) == 0);
  CHECK_CONTAINS(fb.message, refused);
  CHECK_LAST_ERROR(PMC_NULL_ARGUMENT, "key");

  /* A fresh thread starts with an empty message. */
  {
    pthread_t t;
    char seen[64] = "unset";
    if (pthread_create(&t, NULL, copy_message, seen) != 0)
      FAIL("pthread_create failed");
    pthread_join(t, NULL);
    CHECK_STR(seen, "");
  }

  pmc_client_free(c);
  close(fd);
}

int main(int argc, char **argv) {
  test_env env;
  test_env_load(&env, argc, argv);
  shared_handle(env.server);
  shared_hash_client(env.server, env.socket);
  per_thread_errors(env.server);
  puts("threads: ok");
  return 0;
}

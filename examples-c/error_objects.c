/*
 * error_objects.c: the per-call error object (`pmc_error **err`, the last
 * parameter of every function that returns a pmc_status).
 *
 * Checks the rule the header states:
 *  - NULL for `err` is allowed and changes nothing;
 *  - a status below 10 always writes NULL to *err (even over a stale value);
 *  - an error status writes a new pmc_error whose status is the one returned
 *    and whose message is what pmc_last_error_message() gives on the
 *    calling thread;
 *  - the object belongs to the call, not to the thread: it is read on
 *    another thread after the failing thread has failed again differently,
 *    and 8 threads failing at once in 8 ways each get their own message;
 *  - pmc_error_status / _message / _free accept NULL.
 *
 * Usage: error_objects STATE_DIR
 */
#include "test_util.h"

#include <unistd.h>

#define THREADS 8
#define ROUNDS 200

/* A non-NULL pointer the library must overwrite. */
static pmc_error *stale(void) { return (pmc_error *)(uintptr_t)0x1; }

/* *err holds an error with `status`, its message starts with the status
   name, contains `needle`, and equals this thread's last error message. */
static void check_error(pmc_error *e, pmc_status status, const char *needle) {
  CHECK(e != NULL && e != stale());
  CHECK_STR(pmc_status_str(pmc_error_status(e)), pmc_status_str(status));
  CHECK_STR(pmc_error_message(e), pmc_last_error_message());
  CHECK_LAST_ERROR(status, needle);
}

static void soft_statuses_write_null(pmc_client *c) {
  pmc_error *e = stale();
  pmc_value v = {0};
  uint64_t n = 0;

  CHECK_STATUS(pmc_set(c, BYTES("eo-k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, &e),
               PMC_OK);
  CHECK(e == NULL);
  e = stale();
  CHECK_STATUS(pmc_get(c, BYTES("eo-k"), &v, &e), PMC_OK);
  CHECK(e == NULL);
  pmc_value_free(&v);
  e = stale();
  CHECK_STATUS(pmc_get(c, BYTES("eo-missing"), &v, &e), PMC_MISS);
  CHECK(e == NULL);
  e = stale();
  CHECK_STATUS(pmc_add(c, BYTES("eo-k"), BYTES("w"), 0, 0, PMC_REPLY_WAIT, &e),
               PMC_NOT_STORED);
  CHECK(e == NULL);
  e = stale();
  CHECK_STATUS(pmc_incr(c, BYTES("eo-missing"), 1, PMC_REPLY_WAIT, &n, &e),
               PMC_NOT_FOUND);
  CHECK(e == NULL);
}

static void errors_give_objects(pmc_client *c) {
  pmc_error *e = stale();
  pmc_value v = {0};
  pmc_options *o = pmc_options_new();

  /* A key the rules refuse: nothing is sent. */
  CHECK_STATUS(pmc_get(c, BYTES("has space"), &v, &e), PMC_ILLEGAL_INPUT);
  check_error(e, PMC_ILLEGAL_INPUT, "whitespace");
  pmc_error_free(e);

  /* A NULL argument, on a client call and on an options setter. */
  e = stale();
  CHECK_STATUS(pmc_get(c, NULL, 3, &v, &e), PMC_NULL_ARGUMENT);
  check_error(e, PMC_NULL_ARGUMENT, "`key`");
  pmc_error_free(e);
  e = stale();
  CHECK_STATUS(pmc_options_add_server(o, "not a server:port:x", &e),
               PMC_CONFIG_ERROR);
  check_error(e, PMC_CONFIG_ERROR, "not a server");
  pmc_error_free(e);
  pmc_options_free(o);

  /* An index past the end of a result list. */
  {
    pmc_results *r = NULL;
    pmc_item it;
    const uint8_t *keys[] = {(const uint8_t *)"eo-k"};
    size_t lens[] = {4};
    CHECK_OK(pmc_get_many(c, keys, lens, 1, &r, NULL));
    e = stale();
    CHECK_STATUS(pmc_results_at(r, 7, &it, &e), PMC_INVALID_ARGUMENT);
    check_error(e, PMC_INVALID_ARGUMENT, "7");
    pmc_error_free(e);
    pmc_results_free(r);
  }

  /* NULL err with a failing call: the status and the thread's message. */
  CHECK_STATUS(pmc_get(c, BYTES("has space"), &v, NULL), PMC_ILLEGAL_INPUT);
  CHECK_LAST_ERROR(PMC_ILLEGAL_INPUT, "whitespace");

  /* The accessors accept NULL. */
  CHECK_STATUS(pmc_error_status(NULL), PMC_NULL_ARGUMENT);
  CHECK_STR(pmc_error_message(NULL), "");
  pmc_error_free(NULL);
}

/* ---- an error read on another thread ------------------------------------- */

typedef struct handoff {
  pmc_client *dead; /* a client whose server refuses connections */
  pmc_error *err;
} handoff;

static void *fail_then_fail_again(void *arg) {
  handoff *h = arg;
  pmc_value v = {0};
  CHECK_STATUS(pmc_get(h->dead, BYTES("k"), &v, &h->err), PMC_IO_ERROR);
  /* A second, different failure on this thread replaces its last error
     message but not the object the first call returned. */
  CHECK_STATUS(pmc_get(h->dead, BYTES("bad\nkey"), &v, NULL), PMC_ILLEGAL_INPUT);
  return NULL;
}

static void object_outlives_the_thread(const char *refused_addr) {
  pmc_options *o = pmc_options_new();
  handoff h = {NULL, NULL};
  pthread_t t;

  CHECK_OK(pmc_options_add_server(o, refused_addr, NULL));
  CHECK_OK(pmc_client_new(o, &h.dead, NULL));
  pmc_options_free(o);
  CHECK(pthread_create(&t, NULL, fail_then_fail_again, &h) == 0);
  CHECK(pthread_join(t, NULL) == 0);

  CHECK(h.err != NULL);
  CHECK_STR(pmc_status_str(pmc_error_status(h.err)), "PMC_IO_ERROR");
  CHECK_CONTAINS(pmc_error_message(h.err), "PMC_IO_ERROR: ");
  CHECK_CONTAINS(pmc_error_message(h.err), refused_addr);
  pmc_error_free(h.err);
  pmc_client_free(h.dead);
}

/* ---- 8 threads failing at once, each its own way -------------------------- */

typedef struct racer {
  pmc_client *client; /* shared, without a key prefix */
  int id;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  char key[256], want[64];
  pmc_value v = {0};

  for (int i = 0; i < ROUNDS; i++) {
    pmc_error *e = NULL;
    /* A key with a space at byte n, where the n of each thread come from
       a range of their own: the message ("... at byte n") names the call. */
    int n = r->id * 30 + i % 30;
    memset(key, 'a', (size_t)n);
    key[n] = ' ';
    key[n + 1] = '\0';
    CHECK_STATUS(pmc_get(r->client, BYTES(key), &v, &e), PMC_ILLEGAL_INPUT);
    snprintf(want, sizeof want, "whitespace (0x20) at byte %d", n);
    CHECK(e != NULL);
    CHECK_CONTAINS(pmc_error_message(e), want);
    pmc_error_free(e);
    /* A success between failures writes NULL. */
    e = stale();
    snprintf(key, sizeof key, "racer-%d", r->id);
    CHECK_STATUS(pmc_get(r->client, BYTES(key), &v, &e), PMC_MISS);
    CHECK(e == NULL);
  }
  return NULL;
}

static void concurrent_failures(pmc_client *c) {
  pthread_t t[THREADS];
  racer r[THREADS];
  for (int i = 0; i < THREADS; i++) {
    r[i].client = c;
    r[i].id = i;
    CHECK(pthread_create(&t[i], NULL, race, &r[i]) == 0);
  }
  for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
}

int main(int argc, char **argv) {
  test_env env;
  char refused[64];
  int refusing_fd;
  pmc_client *c;

  test_env_load(&env, argc, argv);
  c = test_client(env.server, "error_objects");

  soft_statuses_write_null(c);
  errors_give_objects(c);
  refusing_fd = test_socket_refusing(refused, sizeof refused);
  object_outlives_the_thread(refused);
  pmc_client_free(c);
  c = test_client(env.server, NULL);
  concurrent_failures(c);

  close(refusing_fd);
  pmc_client_free(c);
  printf("error_objects: ok\n");
  return 0;
}

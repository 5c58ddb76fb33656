/*
 * test_util.h: the little helpers the example programs share.
 *
 *  - CHECK* macros: on a mismatch they print where and what (with the
 *    library's last error message) and exit(1), so every example doubles as
 *    a test that cannot pass silently.
 *  - test_env_load: finds the memcached servers the ctest fixture started
 *    (memcached-fixture.sh writes their addresses into a state directory).
 *  - test_memcached_*: a private memcached on a UNIX socket, for tests that
 *    flush, shut down or otherwise disturb a server.
 *  - fake_server_*: a tiny scripted TCP server in a thread, for replies a
 *    real memcached never sends (NOT_STORED to set, garbage, early close).
 *  - test_socket_*: sockets that refuse connections or never answer.
 *
 * Nothing here is needed to use the library; it only keeps the examples
 * short.
 */
#ifndef PMC_TEST_UTIL_H
#define PMC_TEST_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "pymemcache.h"

/* The C++ tests (cxx_client.cpp) use these helpers too. */
#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TEST_NORETURN __attribute__((noreturn))
#define TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEST_NORETURN
#define TEST_PRINTF(a, b)
#endif

/* A C string literal (or char array) as the (pointer, length) pair the API
   takes for keys and values: pmc_get(c, BYTES("key"), &v). */
#define BYTES(s) (const uint8_t *)(s), strlen(s)

/* Print "file:line: message" and exit(1). */
TEST_NORETURN void test_fail(const char *file, int line, const char *fmt, ...)
    TEST_PRINTF(3, 4);

#define FAIL(...) test_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      test_fail(__FILE__, __LINE__, "check failed: %s", #cond);                \
  } while (0)

/* Evaluate a pmc_* call and compare its status with the expected one. */
#define CHECK_STATUS(expr, want)                                               \
  do {                                                                         \
    pmc_status got_ = (expr);                                                  \
    pmc_status want_ = (want);                                                 \
    if (got_ != want_)                                                         \
      test_fail(__FILE__, __LINE__,                                            \
                "%s\n  returned %s (%d), expected %s (%d)\n"                   \
                "  last error message: \"%s\"",                                \
                #expr, pmc_status_str(got_), (int)got_, pmc_status_str(want_), \
                (int)want_, pmc_last_error_message());                         \
  } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, PMC_OK)

/* Compare two unsigned integers of any width. */
#define CHECK_UINT(got, want)                                                  \
  do {                                                                         \
    unsigned long long g_ = (unsigned long long)(got);                         \
    unsigned long long w_ = (unsigned long long)(want);                        \
    if (g_ != w_)                                                              \
      test_fail(__FILE__, __LINE__, "%s is %llu, expected %llu", #got, g_,     \
                w_);                                                           \
  } while (0)

/* Compare NUL-terminated strings (either may be NULL). */
#define CHECK_STR(got, want) check_str(__FILE__, __LINE__, #got, (got), (want))

/* `haystack` (a C string) contains `needle`. */
#define CHECK_CONTAINS(haystack, needle)                                       \
  check_contains(__FILE__, __LINE__, #haystack, (haystack), (needle))

/* The last error message of this thread starts with the status name (as the
   header documents) and contains `needle` (NULL: no further check). */
#define CHECK_LAST_ERROR(status, needle)                                       \
  check_last_error(__FILE__, __LINE__, (status), (needle))

/* A pmc_value holds exactly `want_len` bytes equal to `want`, with the NUL
   the library promises after them (and data == NULL when empty). */
#define CHECK_VALUE(v, want, want_len)                                         \
  check_value(__FILE__, __LINE__, #v, (v), (want), (want_len))
#define CHECK_VALUE_STR(v, s) CHECK_VALUE(v, s, strlen(s))

/* Raw bytes equal. */
#define CHECK_MEM(got, got_len, want, want_len)                                \
  check_mem(__FILE__, __LINE__, #got, (got), (got_len), (want), (want_len))

void check_str(const char *file, int line, const char *what, const char *got,
               const char *want);
void check_contains(const char *file, int line, const char *what,
                    const char *haystack, const char *needle);
void check_last_error(const char *file, int line, pmc_status status,
                      const char *needle);
void check_value(const char *file, int line, const char *what,
                 const pmc_value *v, const void *want, size_t want_len);
void check_mem(const char *file, int line, const char *what, const void *got,
               size_t got_len, const void *want, size_t want_len);

/* ---- the fixture's servers ---------------------------------------------- */

typedef struct test_env {
  char state_dir[1024];
  char server[256];  /* "127.0.0.1:PORT" of the shared TCP memcached */
  char socket[512];  /* path of the shared UNIX-socket memcached */
  char version[64];  /* memcached's version, e.g. "1.6.18" ("" if unknown) */
} test_env;

/* Find the servers: PMC_TEST_SERVER / PMC_TEST_SOCKET from the environment
   if set, else the files "server", "socket" and "version" in the state
   directory given as argv[1] (or in $PMC_TEST_STATE_DIR). */
void test_env_load(test_env *env, int argc, char **argv);

/* A client for `server` with default options. When `ns` is not NULL every
   key gets the prefix "<ns>.<pid>." so programs never see each other's
   keys on the shared servers. Fails the test if the client cannot be
   made. */
pmc_client *test_client(const char *server, const char *ns);

/* Like test_client, with default_noreply set as given. */
pmc_client *test_client_noreply(const char *server, const char *ns,
                                bool default_noreply);

/* ---- private memcached processes ----------------------------------------- */

typedef struct test_memcached {
  pid_t pid;
  char dir[256];  /* temporary directory holding the socket */
  char addr[320]; /* its socket path, usable as a server address */
} test_memcached;

/* Start memcached on a UNIX socket in a fresh temporary directory, with
   the extra arguments (NULL-terminated list, may be NULL), and wait until
   it accepts connections. Uses $MEMCACHED or "memcached" from PATH. Every
   server started is stopped at exit even if the test fails. */
void test_memcached_start(test_memcached *m, const char *const *extra_args);

/* SIGKILL the server and reap it, keeping its directory so that
   test_memcached_restart can start it again on the same address. */
void test_memcached_kill(test_memcached *m);

/* SIGSTOP the server and wait until the kernel reports it stopped (every
   thread: a signal is taken when the kernel gets to it, and until then a
   busy machine lets the server go on answering). */
void test_memcached_pause(test_memcached *m);

/* Start a killed server again on the same socket path (killing it first
   if it still runs), and wait until it accepts connections. */
void test_memcached_restart(test_memcached *m, const char *const *extra_args);

/* SIGTERM the server (if still running), reap it and remove its files. */
void test_memcached_stop(test_memcached *m);

/* Wait up to `timeout_ms` for the server to exit on its own (after
   `shutdown`); true if it did (it is then reaped). */
bool test_memcached_wait_exit(test_memcached *m, int timeout_ms);

/* ---- sockets that misbehave ------------------------------------------------ */

/* A TCP socket bound to a free 127.0.0.1 port but not listening: connects
   to it are refused, and no other process can take the port while the
   socket is open. Writes "127.0.0.1:PORT" to `addr`; returns the fd. */
int test_socket_refusing(char *addr, size_t addr_size);

/* A listening TCP socket on 127.0.0.1 that nobody ever accepts from or
   answers on: connects succeed (the kernel completes them) and reads time
   out. Writes the address to `addr`; returns the fd. */
int test_socket_silent(char *addr, size_t addr_size, int backlog);

/* ---- a scripted fake server ----------------------------------------------- */

typedef enum fake_mode {
  /* Answers storage commands with STORED, or NOT_STORED when the key
     contains "fail"; answers get with END and anything else with ERROR. */
  FAKE_STORE,
  /* Answers a get with the start of a 10-byte value, then closes. */
  FAKE_CLOSE_MID_VALUE,
  /* Answers every line with a reply that is not memcached's protocol. */
  FAKE_GARBAGE,
  /* Announces a 999999999-byte value for a get (and sends none of it). */
  FAKE_HUGE_VALUE,
  /* Reads a request line, then waits for fake_server_release() before
     answering END. */
  FAKE_GATED
} fake_mode;

typedef struct fake_server {
  int listen_fd;
  int wake[2];   /* pipe: stop request for the thread */
  int gate[2];   /* pipe: FAKE_GATED releases */
  pthread_t thread;
  fake_mode mode;
  char addr[64]; /* "127.0.0.1:PORT" */
  pthread_mutex_t lock;
  unsigned long lines;  /* request lines read so far */
} fake_server;

void fake_server_start(fake_server *f, fake_mode mode);
void fake_server_stop(fake_server *f);
/* Let one FAKE_GATED request be answered. */
void fake_server_release(fake_server *f);
/* Number of request lines the fake server has read so far. */
unsigned long fake_server_lines(fake_server *f);

/* ---- misc ------------------------------------------------------------------ */

/* Milliseconds on a monotonic clock. */
long long test_now_ms(void);
void test_sleep_ms(long ms);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PMC_TEST_UTIL_H */

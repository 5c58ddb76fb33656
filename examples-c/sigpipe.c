/*
 * sigpipe.c: a server that goes away is an error status, never a signal.
 *
 * Writing to a socket whose peer has closed raises SIGPIPE, whose default
 * action kills the process. A C program that links the library has not
 * necessarily ignored SIGPIPE (this one deliberately keeps the default), so
 * the library itself must write with MSG_NOSIGNAL (or equivalent) and turn
 * EPIPE into a status. Each case runs in a child process so that a death by
 * SIGPIPE is reported as such and the other cases still run.
 *
 * Usage: sigpipe STATE_DIR
 */
#include "test_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* The server at the other end of `c` goes away while `c` still holds an
   open connection to it; then `c` sends a value of `len` bytes. */
static void write_to_vanished(pmc_client *c, size_t len) {
  uint8_t *val = calloc(len ? len : 1, 1);
  pmc_status st;
  CHECK(val != NULL);
  st = pmc_set(c, BYTES("k"), val, len, 0, 0, PMC_REPLY_WAIT, NULL);
  free(val);
  if (st != PMC_IO_ERROR && st != PMC_UNEXPECTED_CLOSE)
    FAIL("set to a vanished server returned %s (%s), expected PMC_IO_ERROR "
         "or PMC_UNEXPECTED_CLOSE", pmc_status_str(st), pmc_last_error_message());
}

/* UNIX socket: a private memcached, stopped after the first command. */
static void unix_case(size_t len) {
  test_memcached m;
  pmc_client *c;
  char *ver = NULL;
  test_memcached_start(&m, NULL);
  c = test_client(m.addr, NULL);
  CHECK_OK(pmc_version(c, &ver, NULL)); /* the connection is open now */
  pmc_string_free(ver);
  test_memcached_stop(&m);
  write_to_vanished(c, len);
  pmc_client_free(c);
}

/* TCP: a fake server, stopped (its connection closed) after the first
   command. */
static void tcp_case(size_t len) {
  fake_server f;
  pmc_client *c;
  fake_server_start(&f, FAKE_STORE);
  c = test_client(f.addr, NULL);
  CHECK_OK(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL));
  fake_server_stop(&f);
  write_to_vanished(c, len);
  pmc_client_free(c);
}

/* Run `fn(len)` in a child; report how it ended. */
static int run_case(const char *what, void (*fn)(size_t), size_t len) {
  int st;
  pid_t pid;
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0)
    FAIL("fork failed");
  if (pid == 0) {
    fn(len);
    exit(0);
  }
  if (waitpid(pid, &st, 0) != pid)
    FAIL("waitpid failed");
  if (WIFSIGNALED(st)) {
    fprintf(stderr, "FAIL %s (%zu-byte value): killed by signal %d%s\n", what,
            len, WTERMSIG(st), WTERMSIG(st) == SIGPIPE ? " (SIGPIPE)" : "");
    return 1;
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "FAIL %s (%zu-byte value): exit status %d\n", what, len,
            WEXITSTATUS(st));
    return 1;
  }
  printf("ok   %s (%zu-byte value)\n", what, len);
  return 0;
}

int main(int argc, char **argv) {
  test_env env;
  int failures = 0;
  test_env_load(&env, argc, argv);
  signal(SIGPIPE, SIG_DFL); /* what a C program has unless it changes it */

  failures += run_case("UNIX socket, server gone", unix_case, 10);
  failures += run_case("UNIX socket, server gone", unix_case, 900 * 1024);
  failures += run_case("TCP, server gone", tcp_case, 10);
  failures += run_case("TCP, server gone", tcp_case, 900 * 1024);

  if (failures > 0) {
    fprintf(stderr, "sigpipe: %d case(s) failed\n", failures);
    return 1;
  }
  puts("sigpipe: ok");
  return 0;
}

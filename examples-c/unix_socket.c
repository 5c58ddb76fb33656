/*
 * unix_socket.c: the same round trip over a UNIX domain socket.
 *
 * A server address that starts with '/' is a socket path; everything else
 * works as over TCP.
 *
 * Usage: unix_socket STATE_DIR
 */
#include "test_util.h"

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c;
  pmc_value v = {0};
  pmc_stats_list *stats = NULL;
  const char *srv = NULL, *name = NULL;
  char *ver = NULL;
  uint64_t n = 0;

  test_env_load(&env, argc, argv);
  CHECK(env.socket[0] == '/');
  c = test_client(env.socket, "unix");

  /* Store, read back, modify, delete. */
  CHECK_OK(pmc_set(c, BYTES("sock-key"), BYTES("over a socket"), 17, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("sock-key"), &v, NULL));
  CHECK_VALUE_STR(&v, "over a socket");
  CHECK_UINT(v.flags, 17);
  pmc_value_free(&v);

  CHECK_STATUS(pmc_add(c, BYTES("sock-key"), BYTES("x"), 0, 0, PMC_REPLY_WAIT, NULL), PMC_NOT_STORED);
  CHECK_OK(pmc_append(c, BYTES("sock-key"), BYTES("!"), 0, 0, PMC_REPLY_DEFAULT, NULL));
  CHECK_OK(pmc_gets(c, BYTES("sock-key"), &v, NULL));
  CHECK_VALUE_STR(&v, "over a socket!");
  CHECK_OK(pmc_cas(c, BYTES("sock-key"), BYTES("swapped"), v.cas, 0, 0, PMC_REPLY_WAIT, NULL));
  pmc_value_free(&v);
  CHECK_OK(pmc_get(c, BYTES("sock-key"), &v, NULL));
  CHECK_VALUE_STR(&v, "swapped");
  pmc_value_free(&v);

  CHECK_OK(pmc_set(c, BYTES("sock-n"), BYTES("1"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_incr(c, BYTES("sock-n"), 41, PMC_REPLY_WAIT, &n, NULL));
  CHECK_UINT(n, 42);
  CHECK_OK(pmc_touch(c, BYTES("sock-n"), 100, PMC_REPLY_WAIT, NULL));

  CHECK_OK(pmc_delete(c, BYTES("sock-key"), PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_get(c, BYTES("sock-key"), &v, NULL), PMC_MISS);
  CHECK_STATUS(pmc_delete(c, BYTES("sock-key"), PMC_REPLY_WAIT, NULL), PMC_NOT_FOUND);

  /* The server is the one the fixture started, and stats name it by its
     socket path. */
  CHECK_OK(pmc_version(c, &ver, NULL));
  if (env.version[0] != '\0')
    CHECK_STR(ver, env.version);
  pmc_string_free(ver);
  CHECK_OK(pmc_stats(c, NULL, 0, &stats, NULL));
  CHECK(pmc_stats_len(stats) > 0);
  CHECK_OK(pmc_stats_at(stats, 0, &srv, &name, NULL, NULL));
  CHECK_STR(srv, env.socket);
  CHECK_STR(name, "pid");
  pmc_stats_free(stats);

  /* A socket path where nothing listens is an I/O error naming the path. */
  {
    char path[600];
    pmc_client *nobody;
    snprintf(path, sizeof path, "%s.nobody-here", env.socket);
    nobody = test_client(path, NULL);
    CHECK_STATUS(pmc_get(nobody, BYTES("k"), &v, NULL), PMC_IO_ERROR);
    CHECK_LAST_ERROR(PMC_IO_ERROR, path);
    pmc_client_free(nobody);
  }

  pmc_client_free(c);
  puts("unix_socket: ok");
  return 0;
}

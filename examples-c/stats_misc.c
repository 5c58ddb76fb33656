/*
 * stats_misc.c: server-level commands.
 *
 * stats (all, and "settings") with pmc_stats_len/at/find; flush_all;
 * cache_memlimit; raw_command with "\r\n" and "END\r\n" end tokens; quit and
 * close, each followed by a reconnecting command; pmc_library_version;
 * shutdown on a server started with -A, and on one without.
 *
 * Commands that change a whole server (flush_all, cache_memlimit, shutdown)
 * run against private memcached processes this program starts, so the
 * shared ones stay as other tests expect them.
 *
 * Usage: stats_misc STATE_DIR
 */
#include "test_util.h"

/* The value of stat `name` as a number (fails the test if absent). */
static unsigned long long stat_number(pmc_client *c, const char *arg,
                                      const char *name) {
  pmc_stats_list *s = NULL;
  const char *args[1] = {arg};
  const char *val;
  unsigned long long n;
  CHECK_OK(pmc_stats(c, args, arg != NULL ? 1 : 0, &s, NULL));
  val = pmc_stats_find(s, name);
  if (val == NULL)
    FAIL("stat %s missing", name);
  n = strtoull(val, NULL, 10);
  pmc_stats_free(s);
  return n;
}

static void stats(pmc_client *c, const test_env *env) {
  pmc_stats_list *s = NULL;
  const char *settings[1] = {"settings"};
  size_t n;
  bool saw_pid = false;

  /* Plain stats: many entries, each (server, name, value). */
  CHECK_OK(pmc_stats(c, NULL, 0, &s, NULL));
  n = pmc_stats_len(s);
  CHECK(n > 20);
  for (size_t i = 0; i < n; i++) {
    const char *srv = NULL, *name = NULL, *value = NULL;
    CHECK_OK(pmc_stats_at(s, i, &srv, &name, &value, NULL));
    CHECK(srv != NULL && name != NULL && value != NULL);
    CHECK_STR(srv, env->server);
    CHECK(name[0] != '\0');
    if (strcmp(name, "pid") == 0) {
      saw_pid = true;
      CHECK(strtol(value, NULL, 10) > 0);
      CHECK_STR(pmc_stats_find(s, "pid"), value); /* find agrees with at */
    }
  }
  CHECK(saw_pid);
  if (env->version[0] != '\0')
    CHECK_STR(pmc_stats_find(s, "version"), env->version);
  CHECK(pmc_stats_find(s, "no_such_stat") == NULL);
  CHECK(pmc_stats_find(s, "") == NULL);
  /* Out of range. */
  CHECK_STATUS(pmc_stats_at(s, n, NULL, NULL, NULL, NULL), PMC_INVALID_ARGUMENT);
  CHECK_LAST_ERROR(PMC_INVALID_ARGUMENT, "out of range");
  CHECK_STATUS(pmc_stats_at(s, (size_t)-1, NULL, NULL, NULL, NULL), PMC_INVALID_ARGUMENT);
  pmc_stats_free(s);

  /* stats settings: the fixture runs memcached -m 64 -I 1m on this port. */
  s = NULL;
  CHECK_OK(pmc_stats(c, settings, 1, &s, NULL));
  CHECK_STR(pmc_stats_find(s, "maxbytes"), "67108864");
  CHECK_STR(pmc_stats_find(s, "item_size_max"), "1048576");
  {
    const char *port = pmc_stats_find(s, "tcpport");
    char want[300];
    CHECK(port != NULL);
    snprintf(want, sizeof want, "127.0.0.1:%s", port);
    CHECK_STR(env->server, want);
  }
  CHECK(pmc_stats_find(s, "pid") == NULL); /* a different set of stats */
  pmc_stats_free(s);
}

static void raw_commands(pmc_client *c, const test_env *env) {
  pmc_value v = {0};
  char want[80];

  /* A one-line reply ends at "\r\n". */
  CHECK_OK(pmc_raw_command(c, BYTES("version"), BYTES("\r\n"), &v, NULL));
  if (env->version[0] != '\0') {
    snprintf(want, sizeof want, "VERSION %s", env->version);
    CHECK_VALUE_STR(&v, want);
  }
  CHECK_UINT(v.flags, 0);
  CHECK_UINT(v.cas, 0);
  pmc_value_free(&v);

  /* A multi-line reply ends at "END\r\n"; the token is not included. */
  CHECK_OK(pmc_set(c, BYTES("raw-key"), BYTES("raw\r\nvalue"), 3, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_raw_command(c, BYTES("get raw-key"), BYTES("END\r\n"), &v, NULL));
  CHECK_VALUE_STR(&v, "VALUE raw-key 3 10\r\nraw\r\nvalue\r\n");
  pmc_value_free(&v);
  /* A miss: nothing before END. */
  CHECK_OK(pmc_raw_command(c, BYTES("get raw-missing"), BYTES("END\r\n"), &v, NULL));
  CHECK_VALUE(&v, "", 0);
  CHECK_OK(pmc_raw_command(c, BYTES("stats settings"), BYTES("END\r\n"), &v, NULL));
  CHECK_CONTAINS((const char *)v.data, "STAT item_size_max 1048576\r\n");
  pmc_value_free(&v);

  /* The connection is still in step for ordinary commands. */
  CHECK_OK(pmc_get(c, BYTES("raw-key"), &v, NULL));
  CHECK_VALUE_STR(&v, "raw\r\nvalue");
  pmc_value_free(&v);
  CHECK_OK(pmc_delete(c, BYTES("raw-key"), PMC_REPLY_WAIT, NULL));
}

/* quit and close drop the connection; the next command opens a new one,
   as the server's connection counter shows (exactly: this is a private
   server nobody else talks to). */
static void quit_and_close(pmc_client *c) {
  unsigned long long before, after;
  pmc_value v = {0};

  CHECK_OK(pmc_set(c, BYTES("qc"), BYTES("still here"), 0, 0, PMC_REPLY_WAIT, NULL));
  before = stat_number(c, NULL, "total_connections");
  CHECK_OK(pmc_quit(c, NULL));
  CHECK_OK(pmc_get(c, BYTES("qc"), &v, NULL));
  CHECK_VALUE_STR(&v, "still here");
  pmc_value_free(&v);
  after = stat_number(c, NULL, "total_connections");
  CHECK_UINT(after, before + 1);

  before = after;
  CHECK_OK(pmc_close(c, NULL));
  CHECK_OK(pmc_close(c, NULL)); /* twice: nothing to close */
  CHECK_OK(pmc_get(c, BYTES("qc"), &v, NULL));
  CHECK_VALUE_STR(&v, "still here");
  pmc_value_free(&v);
  after = stat_number(c, NULL, "total_connections");
  CHECK_UINT(after, before + 1);

  /* Commands in between do not reconnect. */
  CHECK_OK(pmc_get(c, BYTES("qc"), &v, NULL));
  pmc_value_free(&v);
  CHECK_UINT(stat_number(c, NULL, "total_connections"), after);

  /* quit right after close (no connection) is fine too. */
  CHECK_OK(pmc_close(c, NULL));
  CHECK_OK(pmc_quit(c, NULL));
  CHECK_OK(pmc_delete(c, BYTES("qc"), PMC_REPLY_WAIT, NULL));
  CHECK_UINT(stat_number(c, NULL, "total_connections"), after + 1);
}

/* flush_all, cache_memlimit, quit and close on a private server. */
static void private_server_commands(void) {
  test_memcached m;
  pmc_client *c;
  pmc_value v = {0};

  test_memcached_start(&m, NULL);
  c = test_client(m.addr, NULL);

  CHECK_OK(pmc_set(c, BYTES("a"), BYTES("1"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_set(c, BYTES("b"), BYTES("2"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_flush_all(c, 0, PMC_REPLY_WAIT, NULL));
  CHECK_STATUS(pmc_get(c, BYTES("a"), &v, NULL), PMC_MISS);
  CHECK_STATUS(pmc_get(c, BYTES("b"), &v, NULL), PMC_MISS);
  /* The default reply mode (noreply) flushes just as well. */
  CHECK_OK(pmc_set(c, BYTES("a"), BYTES("1"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_flush_all(c, 0, PMC_REPLY_DEFAULT, NULL));
  CHECK_STATUS(pmc_get(c, BYTES("a"), &v, NULL), PMC_MISS);
  /* A delayed flush leaves items alone for now. */
  CHECK_OK(pmc_set(c, BYTES("a"), BYTES("1"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_flush_all(c, 3600, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES("a"), &v, NULL));
  pmc_value_free(&v);
  CHECK_UINT(stat_number(c, NULL, "cmd_flush"), 3);

  /* cache_memlimit changes maxbytes (megabytes in, bytes out). */
  CHECK_UINT(stat_number(c, "settings", "maxbytes"), 64ull << 20);
  CHECK_OK(pmc_cache_memlimit(c, 100, NULL));
  CHECK_UINT(stat_number(c, "settings", "maxbytes"), 100ull << 20);
  /* memcached refuses less than 8 MB with a reply that is neither OK nor an
     error line: the library calls it unparsable and keeps the text. */
  CHECK_STATUS(pmc_cache_memlimit(c, 1, NULL), PMC_UNKNOWN_ERROR);
  CHECK_LAST_ERROR(PMC_UNKNOWN_ERROR, "MEMLIMIT_TOO_SMALL");
  CHECK_UINT(stat_number(c, "settings", "maxbytes"), 100ull << 20);

  quit_and_close(c);
  pmc_client_free(c);
  test_memcached_stop(&m);
}

/* shutdown: refused by a server without -A, obeyed by one with it. */
static void shutdown_servers(pmc_client *shared) {
  static const char *const enable_shutdown[] = {"-A", NULL};
  test_memcached m;
  pmc_client *c;
  pmc_value v = {0};
  char *ver = NULL;

  /* The shared server has no -A: the server answers ERROR and stays up. */
  CHECK_STATUS(pmc_shutdown(shared, false, NULL), PMC_UNKNOWN_COMMAND);
  CHECK_LAST_ERROR(PMC_UNKNOWN_COMMAND, NULL);
  CHECK_OK(pmc_version(shared, &ver, NULL));
  pmc_string_free(ver);

  /* A server of our own with -A goes away. */
  test_memcached_start(&m, enable_shutdown);
  c = test_client(m.addr, NULL);
  CHECK_OK(pmc_set(c, BYTES("k"), BYTES("v"), 0, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_shutdown(c, false, NULL));
  if (!test_memcached_wait_exit(&m, 10000))
    FAIL("memcached -A did not exit after shutdown");
  CHECK_STATUS(pmc_get(c, BYTES("k"), &v, NULL), PMC_IO_ERROR); /* nobody there */
  pmc_client_free(c);
  test_memcached_stop(&m);

  /* The graceful variant too. */
  test_memcached_start(&m, enable_shutdown);
  c = test_client(m.addr, NULL);
  CHECK_OK(pmc_shutdown(c, true, NULL));
  if (!test_memcached_wait_exit(&m, 10000))
    FAIL("memcached -A did not exit after shutdown graceful");
  pmc_client_free(c);
  test_memcached_stop(&m);
}

int main(int argc, char **argv) {
  test_env env;
  pmc_client *c;
  char want[32];

  test_env_load(&env, argc, argv);
  c = test_client(env.server, NULL); /* raw commands see real key names */

  /* The library loaded is the one this header describes. */
  CHECK_STR(pmc_library_version(), PMC_VERSION_STRING);
  snprintf(want, sizeof want, "%d.%d.%d", PMC_VERSION_MAJOR, PMC_VERSION_MINOR,
           PMC_VERSION_PATCH);
  CHECK_STR(pmc_library_version(), want);

  stats(c, &env);
  raw_commands(c, &env);
  private_server_commands();
  shutdown_servers(c);

  pmc_client_free(c);
  puts("stats_misc: ok");
  return 0;
}

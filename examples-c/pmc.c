/*
 * pmc: a small memcached command-line tool on libpymemcache, in the spirit
 * of libmemcached's memcat/memcp/memrm/memstat.
 *
 *   pmc --servers HOST:PORT|/path [--timeout-ms N] COMMAND [ARGS]
 *
 * Values go to stdout. Errors go to stderr as "pmc: <status name>:
 * <message>". Exit status: 0 success, 1 error, 2 miss / not found.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pymemcache.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_MISS = 2 };

static const char usage_text[] =
    "usage: pmc --servers HOST:PORT|/path/to/socket [--timeout-ms N] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  get KEY                                print the value\n"
    "  set KEY VALUE [--flags N] [--expire N] store a value\n"
    "  delete KEY                             remove a key\n"
    "  incr KEY N                             add N, print the new value\n"
    "  decr KEY N                             subtract N, print the new value\n"
    "  touch KEY EXPIRE                       set a new expiry (seconds)\n"
    "  stats [ARG]                            print \"name value\" lines\n"
    "  version                                print the server's version\n"
    "  flush [DELAY]                          invalidate every item\n"
    "\n"
    "exit status: 0 success, 1 error, 2 miss or not found\n";

static int usage_error(const char *fmt, const char *arg) {
  fputs("pmc: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\n", stderr);
  fputs(usage_text, stderr);
  return EXIT_ERROR;
}

/* Report a status: soft outcomes exit 2, errors exit 1. The library's
   message already starts with the status name; print it once. */
static int report(pmc_status st, const char *what) {
  const char *name = pmc_status_str(st);
  const char *msg;
  if (st == PMC_OK)
    return EXIT_OK;
  if (st < 10) { /* PMC_MISS, PMC_NOT_FOUND, PMC_NOT_STORED, ... */
    fprintf(stderr, "pmc: %s: %s\n", name, what);
    return EXIT_MISS;
  }
  msg = pmc_last_error_message();
  if (strncmp(msg, name, strlen(name)) == 0 && strncmp(msg + strlen(name), ": ", 2) == 0)
    msg += strlen(name) + 2;
  fprintf(stderr, "pmc: %s: %s\n", name, msg[0] != '\0' ? msg : what);
  return EXIT_ERROR;
}

/* Strict unsigned / signed decimal parsing: the whole string, in range. */
static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v;
  if (s[0] == '\0' || s[0] == '-' || s[0] == '+')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  long long v;
  if (s[0] == '\0')
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = (int64_t)v;
  return 0;
}

static const uint8_t *bytes(const char *s) { return (const uint8_t *)s; }

static int cmd_get(pmc_client *c, const char *key) {
  pmc_value v = {0};
  pmc_status st = pmc_get(c, bytes(key), strlen(key), &v);
  if (st != PMC_OK)
    return report(st, key);
  if (v.len > 0)
    fwrite(v.data, 1, v.len, stdout);
  fputc('\n', stdout);
  pmc_value_free(&v);
  return EXIT_OK;
}

static int cmd_set(pmc_client *c, int argc, char **argv) {
  uint64_t flags = 0;
  int64_t expire = 0;
  const char *key, *value;
  if (argc < 2)
    return usage_error("%s: set needs KEY and VALUE", "set");
  key = argv[0];
  value = argv[1];
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--flags") == 0 && i + 1 < argc) {
      if (parse_u64(argv[++i], &flags) != 0 || flags > UINT32_MAX)
        return usage_error("bad --flags value: %s", argv[i]);
    } else if (strcmp(argv[i], "--expire") == 0 && i + 1 < argc) {
      if (parse_i64(argv[++i], &expire) != 0)
        return usage_error("bad --expire value: %s", argv[i]);
    } else {
      return usage_error("unexpected argument to set: %s", argv[i]);
    }
  }
  /* Wait for the reply, so that a failure is reported. */
  return report(pmc_set(c, bytes(key), strlen(key), bytes(value), strlen(value),
                        (uint32_t)flags, expire, PMC_REPLY_WAIT),
                key);
}

static int cmd_counter(pmc_client *c, bool incr, const char *key, const char *n) {
  uint64_t delta, value = 0;
  pmc_status st;
  if (parse_u64(n, &delta) != 0)
    return usage_error("bad number: %s", n);
  st = incr ? pmc_incr(c, bytes(key), strlen(key), delta, PMC_REPLY_WAIT, &value)
            : pmc_decr(c, bytes(key), strlen(key), delta, PMC_REPLY_WAIT, &value);
  if (st != PMC_OK)
    return report(st, key);
  printf("%" PRIu64 "\n", value);
  return EXIT_OK;
}

static int cmd_stats(pmc_client *c, const char *arg) {
  const char *args[1] = {arg};
  pmc_stats_list *s = NULL;
  pmc_status st = pmc_stats(c, args, arg != NULL ? 1 : 0, &s);
  if (st != PMC_OK)
    return report(st, "stats");
  for (size_t i = 0; i < pmc_stats_len(s); i++) {
    const char *name, *value;
    if (pmc_stats_at(s, i, NULL, &name, &value) == PMC_OK)
      printf("%s %s\n", name, value);
  }
  pmc_stats_free(s);
  return EXIT_OK;
}

static int cmd_version(pmc_client *c) {
  char *v = NULL;
  pmc_status st = pmc_version(c, &v);
  if (st != PMC_OK)
    return report(st, "version");
  printf("%s\n", v);
  pmc_string_free(v);
  return EXIT_OK;
}

/* Run COMMAND ARGS on the client. */
static int run(pmc_client *c, int argc, char **argv) {
  const char *cmd = argv[0];
  int n = argc - 1; /* arguments after the command */
  char **a = argv + 1;
  if (strcmp(cmd, "get") == 0 && n == 1)
    return cmd_get(c, a[0]);
  if (strcmp(cmd, "set") == 0)
    return cmd_set(c, n, a);
  if (strcmp(cmd, "delete") == 0 && n == 1)
    return report(pmc_delete(c, bytes(a[0]), strlen(a[0]), PMC_REPLY_WAIT), a[0]);
  if ((strcmp(cmd, "incr") == 0 || strcmp(cmd, "decr") == 0) && n == 2)
    return cmd_counter(c, cmd[0] == 'i', a[0], a[1]);
  if (strcmp(cmd, "touch") == 0 && n == 2) {
    int64_t expire;
    if (parse_i64(a[1], &expire) != 0)
      return usage_error("bad expiry: %s", a[1]);
    return report(pmc_touch(c, bytes(a[0]), strlen(a[0]), expire, PMC_REPLY_WAIT), a[0]);
  }
  if (strcmp(cmd, "stats") == 0 && n <= 1)
    return cmd_stats(c, n == 1 ? a[0] : NULL);
  if (strcmp(cmd, "version") == 0 && n == 0)
    return cmd_version(c);
  if (strcmp(cmd, "flush") == 0 && n <= 1) {
    int64_t delay = 0;
    if (n == 1 && parse_i64(a[0], &delay) != 0)
      return usage_error("bad delay: %s", a[0]);
    return report(pmc_flush_all(c, delay, PMC_REPLY_WAIT), "flush");
  }
  return usage_error("unknown command or wrong number of arguments: %s", cmd);
}

int main(int argc, char **argv) {
  const char *servers = NULL;
  uint64_t timeout_ms = 0;
  pmc_options *o;
  pmc_client *c = NULL;
  pmc_status st;
  int i, rc;

  /* Global options come before the command. */
  for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      fputs(usage_text, stdout);
      return EXIT_OK;
    } else if (strcmp(argv[i], "--servers") == 0 && i + 1 < argc) {
      servers = argv[++i];
    } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
      if (parse_u64(argv[++i], &timeout_ms) != 0 || timeout_ms > UINT32_MAX)
        return usage_error("bad --timeout-ms value: %s", argv[i]);
    } else {
      return usage_error("unknown option: %s", argv[i]);
    }
  }
  if (servers == NULL)
    return usage_error("%s is required", "--servers");
  if (i == argc)
    return usage_error("%s", "no command given");

  o = pmc_options_new();
  if (o == NULL)
    return report(PMC_PANIC, "out of memory");
  st = pmc_options_add_server(o, servers);
  if (st == PMC_OK && timeout_ms > 0) {
    /* One limit for connecting and for each read/write. */
    st = pmc_options_set_connect_timeout_ms(o, (uint32_t)timeout_ms);
    if (st == PMC_OK)
      st = pmc_options_set_timeout_ms(o, (uint32_t)timeout_ms);
  }
  if (st == PMC_OK)
    st = pmc_client_new(o, &c);
  pmc_options_free(o);
  if (st != PMC_OK)
    return report(st, servers);

  rc = run(c, argc - i, argv + i);
  pmc_client_free(c);
  if (fflush(stdout) != 0) {
    perror("pmc: stdout");
    return EXIT_ERROR;
  }
  return rc;
}

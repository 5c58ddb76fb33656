/*
 * tls_bench.c: pymemcache-rs over TLS vs plaintext, same process, same
 * workloads, two memcached servers started alike (one with -Z).
 *
 *   pmc_tls_bench [--quick] PLAIN_ADDR TLS_ADDR CA_FILE
 *   pmc_tls_bench --instructions W1|W3 plain|tls OPS PLAIN_ADDR TLS_ADDR CA_FILE
 *
 * The second form only runs OPS ops of one workload on one side, for
 * valgrind --tool=callgrind --toggle-collect=w1 (or w3): user-space
 * instructions per op of the client (run-bench.sh --tls --instructions).
 *
 * W1: get hit (30 B key, 100 B value); W3: get_many of 100 hits (as in
 * bench.c). Each of R rounds times plaintext and TLS for N ops, in an
 * order that alternates between rounds; reported: median us/op and the
 * median of the per-round TLS/plaintext ratios. The targets (W1 within
 * 1.15x, W3 within 1.2x) are checked and printed, not enforced here.
 * Beside wall time: the CPU time of this process (getrusage) and, with
 * PMC_TLS_BENCH_PIDS="PLAIN_PID TLS_PID", of each memcached (schedstat of
 * its threads), so that the client's share of the TLS cost and the
 * server's can be told apart, and the ratio stays readable on a busy
 * machine.
 *
 * Handshake: the time to open a new connection and get one reply (one
 * client: pmc_close, then pmc_version) over TLS and over plaintext; the
 * difference is what a new TLS connection costs. A pooled
 * TLS client then runs many gets and reports how many connections (and so
 * handshakes) it made: the pool keeps them.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>

#include "pymemcache.h"

#define KEY_LEN 30
#define VAL_LEN 100
#define MANY 100

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "pmc_tls_bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static void ok(pmc_status st, const char *what) {
  if (st != PMC_OK)
    die("%s: %s (%s)", what, pmc_status_str(st), pmc_last_error_message());
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds used by every thread of process `pid` (from
   /proc/PID/task/TID/schedstat, nanoseconds); 0 when pid is 0. */
static double proc_cpu(long pid) {
  char path[64];
  double total = 0;
  if (pid <= 0)
    return 0;
  snprintf(path, sizeof path, "/proc/%ld/task", pid);
  DIR *d = opendir(path);
  if (d == NULL)
    return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char f[512];
    snprintf(f, sizeof f, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
    FILE *fp = fopen(f, "r");
    unsigned long long ns = 0;
    if (fp != NULL) {
      if (fscanf(fp, "%llu", &ns) == 1)
        total += (double)ns / 1e9;
      fclose(fp);
    }
  }
  closedir(d);
  return total;
}

static long g_plain_pid, g_tls_pid;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *g_ca;

static pmc_client *client(const char *addr, bool tls, bool pooled) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  if (o == NULL)
    die("pmc_options_new");
  ok(pmc_options_add_server(o, addr, NULL), "add_server");
  ok(pmc_options_set_no_delay(o, true, NULL), "no_delay");
  ok(pmc_options_set_default_noreply(o, false, NULL), "default_noreply");
  if (tls)
    ok(pmc_options_set_tls_ca_file(o, g_ca, NULL), "tls_ca_file");
  if (pooled)
    ok(pmc_options_set_use_pooling(o, true, NULL), "use_pooling");
  ok(pmc_client_new(o, &c, NULL), "client_new");
  pmc_options_free(o);
  return c;
}

static char keys[MANY][KEY_LEN + 1];
static const uint8_t *ku[MANY];
static size_t kl[MANY];
static uint8_t vals[MANY][VAL_LEN];
static const uint8_t *vp[MANY];
static size_t vl[MANY];

static void populate(pmc_client *c) {
  size_t failed = 0;
  for (size_t i = 0; i < MANY; i++) {
    snprintf(keys[i], sizeof keys[i], "tlsbench:%021zu", i);
    for (size_t j = 0; j < VAL_LEN; j++)
      vals[i][j] = (uint8_t)('a' + (i * 7 + j) % 26);
    ku[i] = (const uint8_t *)keys[i];
    kl[i] = KEY_LEN;
    vp[i] = vals[i];
    vl[i] = VAL_LEN;
  }
  ok(pmc_set_many(c, ku, kl, vp, vl, MANY, 0, 0, PMC_REPLY_WAIT, NULL, &failed, NULL), "set_many");
  if (failed)
    die("populate: %zu not stored", failed);
}

/* noinline: callgrind's --toggle-collect names these functions. */
__attribute__((noinline)) static double w1(pmc_client *c, size_t n) {
  double t0 = now();
  for (size_t i = 0; i < n; i++) {
    pmc_value v = {0};
    ok(pmc_get(c, ku[0], kl[0], &v, NULL), "W1 get");
    if (v.len != VAL_LEN || memcmp(v.data, vals[0], VAL_LEN) != 0)
      die("W1: wrong value");
    pmc_value_free(&v);
  }
  return now() - t0;
}

__attribute__((noinline)) static double w3(pmc_client *c, size_t n) {
  double t0 = now();
  for (size_t r = 0; r < n; r++) {
    pmc_results *res = NULL;
    size_t len;
    ok(pmc_get_many(c, ku, kl, MANY, &res, NULL), "W3 get_many");
    const pmc_item *items = pmc_results_items(res, &len);
    if (len != MANY)
      die("W3: %zu hits", len);
    for (size_t i = 0; i < len; i++)
      if (items[i].index != i || items[i].value_len != VAL_LEN ||
          memcmp(items[i].value, vals[i], VAL_LEN) != 0)
        die("W3: wrong hit %zu", i);
    pmc_results_free(res);
  }
  return now() - t0;
}

/* Seconds per new connection of one client: pmc_close, then a version
   call that connects (and over TLS, shakes hands) again. */
static double connect_cost(const char *addr, bool tls, size_t n) {
  pmc_client *c = client(addr, tls, false);
  double t0 = now();
  for (size_t i = 0; i < n; i++) {
    char *ver = NULL;
    ok(pmc_close(c, NULL), "close");
    ok(pmc_version(c, &ver, NULL), "version");
    pmc_string_free(ver);
  }
  double t = (now() - t0) / (double)n;
  pmc_client_free(c);
  return t;
}

typedef double (*work_fn)(pmc_client *, size_t);

static void compare(const char *name, work_fn fn, pmc_client *plain, pmc_client *tls, int rounds,
                    double seconds, double target) {
  /* Calibrate on the slower (TLS) side. */
  size_t n = 16;
  while (fn(tls, n) < seconds / 4)
    n *= 2;
  n = (size_t)((double)n * seconds / fn(tls, n));
  if (n < 1)
    n = 1;
  double tp[64], tt[64], ratio[64], cp[64], ct[64], sp[64], st[64], cpu_ratio[64];
  for (int r = 0; r < rounds; r++) {
    for (int k = 0; k < 2; k++) {
      bool do_tls = (r % 2 == 0) == (k == 1);
      long pid = do_tls ? g_tls_pid : g_plain_pid;
      double c0 = cpu_now(), s0 = proc_cpu(pid);
      double w = fn(do_tls ? tls : plain, n);
      double c = cpu_now() - c0, sv = proc_cpu(pid) - s0;
      if (do_tls) {
        tt[r] = w;
        ct[r] = c;
        st[r] = sv;
      } else {
        tp[r] = w;
        cp[r] = c;
        sp[r] = sv;
      }
    }
    ratio[r] = tt[r] / tp[r];
    cpu_ratio[r] = (ct[r] + st[r]) / (cp[r] + sp[r]);
  }
  double ssp = median(sp, (size_t)rounds) / (double)n * 1e6;
  double sst = median(st, (size_t)rounds) / (double)n * 1e6;
  double mcr = median(cpu_ratio, (size_t)rounds);
  double ccp = median(cp, (size_t)rounds) / (double)n * 1e6;
  double cct = median(ct, (size_t)rounds) / (double)n * 1e6;
  double mp = median(tp, (size_t)rounds) / (double)n * 1e6;
  double mt = median(tt, (size_t)rounds) / (double)n * 1e6;
  double mr = median(ratio, (size_t)rounds);
  printf("| %s | %zu | %.2f | %.2f | %.3fx | %.2fx | %s | %.2f / %.2f | %.2f / %.2f | %.3fx | %.3fx |\n",
         name, n, mp, mt, mr, target, mr <= target ? "met" : "NOT MET", ccp, cct, ssp, sst, mcr,
         (ccp + ssp + (cct - ccp)) / (ccp + ssp));
}

int main(int argc, char **argv) {
  int rounds = 9;
  double seconds = 0.4;
  size_t conns = 300;
  int a = 1;
  const char *only = NULL, *side = NULL;
  size_t only_ops = 0;
  if (argc > 4 && strcmp(argv[1], "--instructions") == 0) {
    only = argv[2];
    side = argv[3];
    only_ops = (size_t)strtoul(argv[4], NULL, 10);
    a += 4;
    if ((strcmp(only, "W1") != 0 && strcmp(only, "W3") != 0) ||
        (strcmp(side, "plain") != 0 && strcmp(side, "tls") != 0) || only_ops == 0)
      die("--instructions W1|W3 plain|tls OPS");
  } else if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
    rounds = 3;
    seconds = 0.15;
    conns = 60;
    a++;
  }
  if (argc - a != 3)
    die("usage: pmc_tls_bench [--quick] PLAIN_ADDR TLS_ADDR CA_FILE");
  const char *plain_addr = argv[a], *tls_addr = argv[a + 1];
  g_ca = argv[a + 2];
  if (getenv("PMC_TLS_BENCH_PIDS") != NULL &&
      sscanf(getenv("PMC_TLS_BENCH_PIDS"), "%ld %ld", &g_plain_pid, &g_tls_pid) != 2)
    die("PMC_TLS_BENCH_PIDS: \"PLAIN_PID TLS_PID\"");

  pmc_client *plain = client(plain_addr, false, false);
  pmc_client *tls = client(tls_addr, true, false);
  populate(plain);
  populate(tls);
  if (only != NULL) {
    pmc_client *c = strcmp(side, "tls") == 0 ? tls : plain;
    work_fn fn = strcmp(only, "W1") == 0 ? w1 : w3;
    fn(c, 20); /* warm: buffers grown, first records seen */
    fn(c, only_ops);
    printf("%s %s: %zu ops run\n", only, side, only_ops + 20);
    pmc_client_free(plain);
    pmc_client_free(tls);
    return 0;
  }

  printf("| Workload | N per round | plaintext us/op | TLS us/op | TLS / plaintext, wall (median of %d rounds) | "
         "target | | client CPU us/op, plain / TLS | memcached CPU us/op, plain / TLS | "
         "TLS / plaintext, client + memcached CPU | the same if memcached's TLS cost nothing |\n",
         rounds);
  printf("|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|\n");
  compare("W1 get hit", w1, plain, tls, rounds, seconds, 1.15);
  compare("W3 get_many 100", w3, plain, tls, rounds, seconds, 1.20);

  double cp = connect_cost(plain_addr, false, conns);
  double ct = connect_cost(tls_addr, true, conns);
  printf("\nReconnect + first reply (mean of %zu): plaintext %.1f us, TLS %.1f us; "
         "handshake cost %.1f us per new connection\n",
         conns, cp * 1e6, ct * 1e6, (ct - cp) * 1e6);

  pmc_client *pool = client(tls_addr, true, true);
  size_t gets = 20000;
  double t0 = now();
  w1(pool, gets);
  double t = now() - t0;
  pmc_pool_stats st;
  ok(pmc_client_pool_stats(pool, &st, NULL), "pool_stats");
  printf("Pooled TLS client: %zu gets in %.3f s (%.2f us/op), %llu connection(s) made = %llu handshake(s)\n",
         gets, t, t / (double)gets * 1e6, (unsigned long long)st.created,
         (unsigned long long)st.created);
  pmc_client_free(pool);
  pmc_client_free(plain);
  pmc_client_free(tls);
  return 0;
}

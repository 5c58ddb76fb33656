/*
 * bench.c (pmc_bench): libpymemcache's C ABI against libmemcached and a
 * raw-socket floor, side by side against the same memcached servers.
 * Not a test: run it with examples-c/bench/run-bench.sh, which builds it,
 * starts the servers, and keeps results.md and results.svg.
 *
 *   pmc_bench [options] SERVER [HASH1 HASH2 HASH3]
 *
 *   SERVER               "127.0.0.1:PORT" for W1-W6
 *   HASH1..HASH3         three more servers for W7 (needed unless --only
 *                        leaves W7 out)
 *   --quick              5 rounds of ~0.08 s per measurement (~20 s)
 *   --rounds R           rounds (default 9, at most 31)
 *   --seconds S          target seconds per measurement (default 0.6)
 *   --ops N              fixed N per round instead of calibrating
 *   --only W1,W3,...     run only these workloads
 *   --contender NAME     run only floor | libmemcached | pymemcache-rs
 *                        (no ratios then; for profilers)
 *   --svg PATH           write the bar chart there
 *   --note TEXT          one more line for the report's header (repeatable)
 *   --commit TEXT        the library's source revision, for the report
 *   --w4-unbuffered      libmemcached's W4 sets with NOREPLY but without
 *                        BUFFER_REQUESTS (one write per set)
 *
 * Contenders:
 *   floor          request bytes prepared by hand, one write(), the reply
 *                  read until its terminator; nothing parsed (the reply is
 *                  compared with the expected bytes, as the others compare
 *                  their values): the least work any client can do.
 *   libmemcached   memcached_st, TCP_NODELAY, text protocol.
 *   pymemcache-rs  this library through include/pymemcache.h, no_delay on,
 *                  default_noreply off.
 *
 * Workloads (keys 30 bytes, values 100 bytes unless said otherwise):
 *   W1 get hit; W2 set waiting for STORED; W3 get_many of 100 hits;
 *   W4 set_many of 100 with noreply, then one get round trip (reported per
 *   key); W5 get of a 512 KiB value; W6 90% get / 10% set over 10,000 keys
 *   from 4 threads; W7 get_many of 100 hits over 3 servers.
 *
 * Method: calibrate N per workload so the slowest contender takes about
 * --seconds per measurement; then in every round each workload runs each
 * contender once for N ops, the contender order rotating from round to
 * round and workload to workload, so drift hits all alike. Reported: the
 * median over rounds of us/op, and the median over rounds of the per-round
 * ratios (contenders measured seconds apart, so drift cancels).
 *
 * Every reply is verified (values byte for byte, except 512 KiB values
 * which are compared in full on the first op of each measurement and at
 * three 64-byte spots on the others, the same for every contender); any
 * mismatch or error exits with status 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmemcached/memcached.h>

#include "pymemcache.h"

#define KEY_LEN 30
#define VAL_LEN 100
#define MANY 100
#define W2_KEYS 1000
#define BIG_LEN (512 * 1024)
#define W6_KEYS 10000
#define W6_THREADS 4
#define NHASH 3
#define MAX_ROUNDS 31
#define GET_HDR (6 + KEY_LEN + 8) /* "VALUE <key> 0 100\r\n" */
#define GET_REPLY (GET_HDR + VAL_LEN + 7) /* ... "\r\nEND\r\n" */

enum { FLOOR, LMC, PMC, NCONT };
static const char *const CNAME[NCONT] = {"floor (raw socket)", "libmemcached",
                                         "pymemcache-rs"};
static const char *const CARG[NCONT] = {"floor", "libmemcached", "pymemcache-rs"};

enum { W1, W2, W3, W4, W5, W6, W7, W8, W8S, W8H, W3A, W3C, W3D, W3M, W9, W9B, NWORK };

typedef double (*run_fn)(size_t n);

struct workload {
  const char *id;
  const char *title;
  const char *unit;      /* per what the time is reported */
  double per;            /* units per n: 100 keys for W4, 4 threads for W6 */
  size_t warm, nmin, nmax;
  run_fn run[NCONT];
  int enabled;
  size_t n;
  unsigned long long units_run[NCONT]; /* n's run, warm-ups included */
  double us[MAX_ROUNDS][NCONT];
};

/* ---- small helpers ------------------------------------------------------ */

static void die(const char *fmt, ...) {
  va_list ap;
  fputs("pmc_bench: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (p == NULL)
    die("out of memory (%zu bytes)", n);
  return p;
}

static void pmc_ok(pmc_status st, const char *what) {
  if (st != PMC_OK)
    die("pymemcache-rs: %s: %s: %s", what, pmc_status_str(st), pmc_last_error_message());
}

static void lmc_ok(memcached_st *m, memcached_return_t rc, const char *what) {
  if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_BUFFERED)
    die("libmemcached: %s: %s", what, memcached_strerror(m, rc));
}

static uint32_t fnv1a(const char *p, size_t n) {
  uint32_t h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= (uint8_t)p[i];
    h *= 16777619u;
  }
  return h;
}

/* Exactly KEY_LEN bytes: a 12-byte namespace and 18 digits. */
static void make_key(char *out, const char *ns, size_t i) {
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%s%018zu", ns, i);
  if (strlen(tmp) != KEY_LEN)
    die("internal: key %s is not %d bytes", tmp, KEY_LEN);
  memcpy(out, tmp, KEY_LEN + 1);
}

/* Lower-case letters (never "END", "\r" or "\n"), determined by the key. */
static void make_value(uint8_t *out, size_t len, const char *key) {
  uint32_t x = fnv1a(key, KEY_LEN) | 1u;
  size_t j;
  for (j = 0; j < len; j++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[j] = (uint8_t)('a' + x % 26);
  }
}

static size_t key_index(const char *key, size_t len) {
  size_t i, idx = 0;
  if (len != KEY_LEN)
    die("returned key has %zu bytes", len);
  for (i = 12; i < KEY_LEN; i++)
    idx = idx * 10 + (size_t)(key[i] - '0');
  return idx;
}

/* 16 hex digits into dst: makes W4's last value unique per batch. */
static void stamp16(uint8_t *dst, uint64_t x) {
  static const char hex[] = "0123456789abcdef";
  int i;
  for (i = 15; i >= 0; i--) {
    dst[i] = (uint8_t)hex[x & 15];
    x >>= 4;
  }
}

static double median(const double *v, size_t n) {
  double tmp[MAX_ROUNDS];
  size_t i, j;
  for (i = 0; i < n; i++) {
    double x = v[i];
    for (j = i; j > 0 && tmp[j - 1] > x; j--)
      tmp[j] = tmp[j - 1];
    tmp[j] = x;
  }
  if (n == 0)
    return 0.0;
  return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
}

/* ---- the floor: raw sockets -------------------------------------------- */

struct rbuf {
  char *p;
  size_t len, cap;
};

static void rbuf_init(struct rbuf *b, size_t cap) {
  b->p = xmalloc(cap);
  b->len = 0;
  b->cap = cap;
}

static void split_addr(const char *addr, char *host, size_t hostcap, int *port) {
  const char *colon = strrchr(addr, ':');
  if (colon == NULL || (size_t)(colon - addr) >= hostcap)
    die("bad address %s (want host:port)", addr);
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = '\0';
  *port = atoi(colon + 1);
  if (*port <= 0 || *port > 65535)
    die("bad port in %s", addr);
}

static int connect_tcp(const char *addr) {
  char host[64];
  int port, fd, one = 1;
  struct sockaddr_in sa;
  split_addr(addr, host, sizeof host, &port);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
    die("floor: %s is not an IPv4 address", host);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    die("floor: socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    die("floor: connect %s: %s", addr, strerror(errno));
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    die("floor: TCP_NODELAY: %s", strerror(errno));
  return fd;
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      die("floor: write: %s", strerror(errno));
    }
    p += w;
    len -= (size_t)w;
  }
}

/* Read until the bytes read end with `term`; b->len is the reply's length. */
static void read_until(int fd, struct rbuf *b, const char *term, size_t tl) {
  b->len = 0;
  for (;;) {
    ssize_t r;
    if (b->len == b->cap)
      die("floor: reply longer than %zu bytes", b->cap);
    r = read(fd, b->p + b->len, b->cap - b->len);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      die("floor: read: %s", strerror(errno));
    }
    if (r == 0)
      die("floor: the server closed the connection");
    b->len += (size_t)r;
    if (b->len >= tl && memcmp(b->p + b->len - tl, term, tl) == 0)
      return;
  }
}

/* "VALUE <key> 0 <len>\r\n" */
static size_t value_header(char *out, size_t cap, const char *key, size_t len) {
  int n = snprintf(out, cap, "VALUE %s 0 %zu\r\n", key, len);
  if (n < 0 || (size_t)n >= cap)
    die("internal: header too long");
  return (size_t)n;
}

/* "set <key> 0 0 <len>[ noreply]\r\n<value>\r\n" into out; returns length. */
static size_t set_request(char *out, const char *key, const uint8_t *v, size_t len,
                          int noreply) {
  int n = sprintf(out, "set %s 0 0 %zu%s\r\n", key, len, noreply ? " noreply" : "");
  memcpy(out + n, v, len);
  memcpy(out + n + len, "\r\n", 2);
  return (size_t)n + len + 2;
}

/* ---- servers, clients, data --------------------------------------------- */

static const char *g_server;
static const char *g_hash[NHASH];
static int g_contender = -1; /* -1 = all */
static int g_round;          /* seeds W6's key sequences */
static uint64_t g_stamp;
static int g_w4_unbuffered; /* libmemcached W4 without BUFFER_REQUESTS */

static int fl_fd;
static struct rbuf fl_rb;
static memcached_st *lmc;      /* replies on */
static memcached_st *lmc_nr;   /* W4: NOREPLY + BUFFER_REQUESTS */
static memcached_st *lmc_hash; /* W7 */
static memcached_st *lmc_w6[W6_THREADS];
static pmc_client *pmc;
static pmc_client *pmc_pool; /* W6 */
static pmc_client *pmc_hash; /* W7 */
static memcached_result_st lmc_res, lmc_hash_res;

static memcached_st *lmc_new(const char *const *servers, size_t n) {
  memcached_st *m = memcached_create(NULL);
  size_t i;
  if (m == NULL)
    die("memcached_create failed");
  lmc_ok(m, memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1), "TCP_NODELAY");
  if (n > 1)
    lmc_ok(m, memcached_behavior_set(m, MEMCACHED_BEHAVIOR_DISTRIBUTION,
                                     MEMCACHED_DISTRIBUTION_CONSISTENT),
           "DISTRIBUTION");
  for (i = 0; i < n; i++) {
    char host[64];
    int port;
    split_addr(servers[i], host, sizeof host, &port);
    lmc_ok(m, memcached_server_add(m, host, (in_port_t)port), "server_add");
  }
  return m;
}

/* PMC_BENCH_METRICS=off: per-server metrics off, to measure their cost
   (for the blocking clients and the non-blocking one of W9 alike). */
static void apply_bench_metrics(pmc_options *o) {
  if (getenv("PMC_BENCH_METRICS") != NULL && strcmp(getenv("PMC_BENCH_METRICS"), "off") == 0)
    pmc_ok(pmc_options_set_metrics(o, false, NULL), "metrics");
}

static pmc_client *pmc_new(const char *const *servers, size_t n, int pooled) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  size_t i;
  if (o == NULL)
    die("pmc_options_new failed");
  for (i = 0; i < n; i++)
    pmc_ok(pmc_options_add_server(o, servers[i], NULL), "add_server");
  pmc_ok(pmc_options_set_no_delay(o, true, NULL), "no_delay");
  pmc_ok(pmc_options_set_default_noreply(o, false, NULL), "default_noreply");
  if (pooled)
    pmc_ok(pmc_options_set_use_pooling(o, true, NULL), "use_pooling");
  apply_bench_metrics(o);
  pmc_ok(pmc_client_new(o, &c, NULL), "client_new");
  pmc_options_free(o);
  return c;
}

/* A batch of 100 keys with their values, in the forms each API wants. */
struct keyset {
  char k[MANY][KEY_LEN + 1];
  const char *kc[MANY];
  const uint8_t *ku[MANY];
  size_t kl[MANY];
  uint8_t v[MANY][VAL_LEN];
  const uint8_t *vp[MANY];
  size_t vl[MANY];
};

static void keyset_init(struct keyset *s, const char *ns) {
  size_t i;
  for (i = 0; i < MANY; i++) {
    make_key(s->k[i], ns, i);
    make_value(s->v[i], VAL_LEN, s->k[i]);
    s->kc[i] = s->k[i];
    s->ku[i] = (const uint8_t *)s->k[i];
    s->kl[i] = KEY_LEN;
    s->vp[i] = s->v[i];
    s->vl[i] = VAL_LEN;
  }
}

/* Request "get k1 k2 ...\r\n" for the keys with which[i] == want (all if
   which is NULL) and the reply memcached sends for them. */
static void multiget_bytes(const struct keyset *s, const int *which, int want, char **req,
                           size_t *req_len, char **reply, size_t *reply_len, size_t *count) {
  size_t i, rq = 0, rp = 0;
  *req = xmalloc(4 + MANY * (KEY_LEN + 1) + 2);
  *reply = xmalloc(MANY * GET_REPLY + 8);
  memcpy(*req, "get", 3);
  rq = 3;
  *count = 0;
  for (i = 0; i < MANY; i++) {
    if (which != NULL && which[i] != want)
      continue;
    (*req)[rq++] = ' ';
    memcpy(*req + rq, s->k[i], KEY_LEN);
    rq += KEY_LEN;
    rp += value_header(*reply + rp, GET_HDR + 1, s->k[i], VAL_LEN);
    memcpy(*reply + rp, s->v[i], VAL_LEN);
    memcpy(*reply + rp + VAL_LEN, "\r\n", 2);
    rp += VAL_LEN + 2;
    ++*count;
  }
  memcpy(*req + rq, "\r\n", 2);
  memcpy(*reply + rp, "END\r\n", 5);
  *req_len = rq + 2;
  *reply_len = rp + 5;
}

/* Store a keyset through pymemcache-rs, waiting for every STORED. */
static void pmc_store(pmc_client *c, const struct keyset *s) {
  size_t failed = 0;
  pmc_ok(pmc_set_many(c, s->ku, s->kl, s->vp, s->vl, MANY, 0, 0, PMC_REPLY_WAIT, NULL, &failed, NULL),
         "populate set_many");
  if (failed != 0)
    die("populate: %zu items not stored", failed);
}

/* ---- W1: get hit --------------------------------------------------------- */

static char w1_key[KEY_LEN + 1];
static uint8_t w1_val[VAL_LEN];
static char w1_req[64], w1_reply[GET_REPLY + 1];
static size_t w1_req_len, w1_reply_len;

static void w1_setup(void) {
  size_t h;
  make_key(w1_key, "pmcbench:w1:", 1);
  make_value(w1_val, VAL_LEN, w1_key);
  w1_req_len = (size_t)sprintf(w1_req, "get %s\r\n", w1_key);
  h = value_header(w1_reply, sizeof w1_reply, w1_key, VAL_LEN);
  memcpy(w1_reply + h, w1_val, VAL_LEN);
  memcpy(w1_reply + h + VAL_LEN, "\r\nEND\r\n", 7);
  w1_reply_len = h + VAL_LEN + 7;
  pmc_ok(pmc_set(pmc, (const uint8_t *)w1_key, KEY_LEN, w1_val, VAL_LEN, 0, 0,
                 PMC_REPLY_WAIT, NULL),
         "populate W1");
}

/* The floor's retrieval: one request written, its reply read until END
   and compared whole with the bytes expected. */
static inline void floor_get(const char *req, size_t req_len, const char *reply, size_t reply_len,
                      const char *what) {
  write_all(fl_fd, req, req_len);
  read_until(fl_fd, &fl_rb, "END\r\n", 5);
  if (fl_rb.len != reply_len || memcmp(fl_rb.p, reply, reply_len) != 0)
    die("floor %s: unexpected reply (%zu bytes, want %zu)", what, fl_rb.len, reply_len);
}

static double w1_floor(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    floor_get(w1_req, w1_req_len, w1_reply, w1_reply_len, "W1");
  return now() - t0;
}

static double w1_lmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    size_t len = 0;
    uint32_t flags = 0;
    memcached_return_t rc;
    char *v = memcached_get(lmc, w1_key, KEY_LEN, &len, &flags, &rc);
    if (v == NULL || rc != MEMCACHED_SUCCESS)
      die("libmemcached W1: get: %s", memcached_strerror(lmc, rc));
    if (len != VAL_LEN || memcmp(v, w1_val, VAL_LEN) != 0)
      die("libmemcached W1: wrong value");
    free(v);
  }
  return now() - t0;
}

static double w1_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    pmc_value v = {0};
    pmc_ok(pmc_get(pmc, (const uint8_t *)w1_key, KEY_LEN, &v, NULL), "W1 get");
    if (v.len != VAL_LEN || memcmp(v.data, w1_val, VAL_LEN) != 0)
      die("pymemcache-rs W1: wrong value");
    pmc_value_free(&v);
  }
  return now() - t0;
}

/* ---- W2: set, waiting for STORED --------------------------------------- */

static char (*w2_keys)[KEY_LEN + 1];
static uint8_t w2_val[VAL_LEN];
static char **w2_req;
static size_t *w2_req_len;

static void w2_setup(void) {
  size_t i;
  w2_keys = xmalloc(sizeof *w2_keys * W2_KEYS);
  w2_req = xmalloc(sizeof *w2_req * W2_KEYS);
  w2_req_len = xmalloc(sizeof *w2_req_len * W2_KEYS);
  make_value(w2_val, VAL_LEN, "pmcbench:w2:value.............");
  for (i = 0; i < W2_KEYS; i++) {
    make_key(w2_keys[i], "pmcbench:w2:", i);
    w2_req[i] = xmalloc(64 + VAL_LEN);
    w2_req_len[i] = set_request(w2_req[i], w2_keys[i], w2_val, VAL_LEN, 0);
  }
}

static double w2_floor(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    size_t k = i % W2_KEYS;
    write_all(fl_fd, w2_req[k], w2_req_len[k]);
    read_until(fl_fd, &fl_rb, "\r\n", 2);
    if (fl_rb.len != 8 || memcmp(fl_rb.p, "STORED\r\n", 8) != 0)
      die("floor W2: unexpected reply %.*s", (int)fl_rb.len, fl_rb.p);
  }
  return now() - t0;
}

static double w2_lmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    memcached_return_t rc =
        memcached_set(lmc, w2_keys[i % W2_KEYS], KEY_LEN, (const char *)w2_val, VAL_LEN, 0, 0);
    if (rc != MEMCACHED_SUCCESS)
      die("libmemcached W2: set: %s", memcached_strerror(lmc, rc));
  }
  return now() - t0;
}

static double w2_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    pmc_ok(pmc_set(pmc, (const uint8_t *)w2_keys[i % W2_KEYS], KEY_LEN, w2_val, VAL_LEN, 0, 0,
                   PMC_REPLY_WAIT, NULL),
           "W2 set");
  return now() - t0;
}

/* ---- W3: get_many of 100 hits; W7: the same over 3 servers -------------- */

static struct keyset w3, w7p, w7l; /* W7: pymemcache-rs (and floor) / libmemcached keys */
static char *w3_req, *w3_reply;
static size_t w3_req_len, w3_reply_len;
static int w7_fd[NHASH];
static struct rbuf w7_rb[NHASH];
static char *w7_req[NHASH], *w7_reply[NHASH];
static size_t w7_req_len[NHASH], w7_reply_len[NHASH], w7_count[NHASH], w7_lmc_count[NHASH];

static void w3_setup(void) {
  size_t count;
  keyset_init(&w3, "pmcbench:w3:");
  multiget_bytes(&w3, NULL, 0, &w3_req, &w3_req_len, &w3_reply, &w3_reply_len, &count);
  pmc_store(pmc, &w3);
}

/* The floor's multi-get: one request, the reply compared with the bytes
   memcached sends for 100 hits. */
static double w3_floor(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    floor_get(w3_req, w3_req_len, w3_reply, w3_reply_len, "W3");
  return now() - t0;
}

/* memcached_mget + memcached_fetch_result into one reused result; every key
   found once, with its value. */
static void lmc_multiget(memcached_st *m, memcached_result_st *res, const struct keyset *s,
                         const char *what) {
  memcached_return_t rc = memcached_mget(m, s->kc, s->kl, MANY);
  memcached_result_st *r;
  unsigned char seen[MANY];
  size_t got = 0;
  lmc_ok(m, rc, what);
  memset(seen, 0, sizeof seen);
  while ((r = memcached_fetch_result(m, res, &rc)) != NULL) {
    size_t idx = key_index(memcached_result_key_value(r), memcached_result_key_length(r));
    if (idx >= MANY || seen[idx] ||
        memcmp(memcached_result_key_value(r), s->k[idx], KEY_LEN) != 0)
      die("libmemcached %s: unexpected key", what);
    if (memcached_result_length(r) != VAL_LEN ||
        memcmp(memcached_result_value(r), s->v[idx], VAL_LEN) != 0)
      die("libmemcached %s: wrong value", what);
    seen[idx] = 1;
    got++;
  }
  if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND)
    die("libmemcached %s: fetch: %s", what, memcached_strerror(m, rc));
  if (got != MANY)
    die("libmemcached %s: %zu hits of %d", what, got, MANY);
}

static void pmc_multiget(pmc_client *c, const struct keyset *s, const char *what) {
  pmc_results *res = NULL;
  size_t i, len;
  pmc_ok(pmc_get_many(c, s->ku, s->kl, MANY, &res, NULL), what);
  const pmc_item *items = pmc_results_items(res, &len);
  if (len != MANY)
    die("pymemcache-rs %s: %zu hits of %d", what, len, MANY);
  for (i = 0; i < len; i++) {
    const pmc_item *it = &items[i];
    if (it->index != i || it->value_len != VAL_LEN || memcmp(it->value, s->v[i], VAL_LEN) != 0)
      die("pymemcache-rs %s: wrong hit %zu", what, i);
  }
  pmc_results_free(res);
}

static double w3_lmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    lmc_multiget(lmc, &lmc_res, &w3, "W3");
  return now() - t0;
}

static double w3_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    pmc_multiget(pmc, &w3, "W3 get_many");
  return now() - t0;
}

static void w7_setup(void) {
  int which[MANY];
  size_t i, s;
  keyset_init(&w7p, "pmcbench:7p:");
  keyset_init(&w7l, "pmcbench:7l:");
  /* The floor splits the keys as pymemcache-rs's hash client places them. */
  for (i = 0; i < MANY; i++) {
    char *srv = NULL;
    pmc_ok(pmc_client_server_for_key(pmc_hash, w7p.ku[i], KEY_LEN, &srv, NULL), "server_for_key");
    which[i] = -1;
    for (s = 0; s < NHASH; s++)
      if (strcmp(srv, g_hash[s]) == 0)
        which[i] = (int)s;
    if (which[i] < 0)
      die("server_for_key gave %s, not one of the three servers", srv);
    pmc_string_free(srv);
    w7_lmc_count[memcached_generate_hash(lmc_hash, w7l.kc[i], KEY_LEN) % NHASH]++;
  }
  for (s = 0; s < NHASH; s++) {
    multiget_bytes(&w7p, which, (int)s, &w7_req[s], &w7_req_len[s], &w7_reply[s],
                   &w7_reply_len[s], &w7_count[s]);
    w7_fd[s] = connect_tcp(g_hash[s]);
    rbuf_init(&w7_rb[s], MANY * GET_REPLY + 64);
  }
  pmc_store(pmc_hash, &w7p);
  for (i = 0; i < MANY; i++)
    lmc_ok(lmc_hash,
           memcached_set(lmc_hash, w7l.kc[i], KEY_LEN, (const char *)w7l.v[i], VAL_LEN, 0, 0),
           "populate W7");
}

/* All requests written before any reply is read. */
static double w7_floor(size_t n) {
  size_t i, s;
  double t0 = now();
  for (i = 0; i < n; i++) {
    for (s = 0; s < NHASH; s++)
      if (w7_count[s] > 0)
        write_all(w7_fd[s], w7_req[s], w7_req_len[s]);
    for (s = 0; s < NHASH; s++) {
      if (w7_count[s] == 0)
        continue;
      read_until(w7_fd[s], &w7_rb[s], "END\r\n", 5);
      if (w7_rb[s].len != w7_reply_len[s] ||
          memcmp(w7_rb[s].p, w7_reply[s], w7_reply_len[s]) != 0)
        die("floor W7: unexpected reply from %s", g_hash[s]);
    }
  }
  return now() - t0;
}

static double w7_lmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    lmc_multiget(lmc_hash, &lmc_hash_res, &w7l, "W7");
  return now() - t0;
}

static double w7_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    pmc_multiget(pmc_hash, &w7p, "W7 get_many");
  return now() - t0;
}

/* ---- W4: set_many of 100 with noreply, then one round trip --------------- */

/* Each batch stamps the last value with a new number; the get that ends the
   batch must return it, so the server processed the whole batch. */
static struct keyset w4;
static char *w4_req, w4_get[64];
static size_t w4_req_len, w4_stamp_off, w4_get_len;
static uint8_t w4_last[VAL_LEN]; /* the floor's copy of the stamped value */

static void w4_setup(void) {
  size_t i;
  keyset_init(&w4, "pmcbench:w4:");
  w4_req = xmalloc(MANY * (64 + VAL_LEN));
  w4_req_len = 0;
  for (i = 0; i < MANY; i++) {
    w4_req_len += set_request(w4_req + w4_req_len, w4.k[i], w4.v[i], VAL_LEN, 1);
    if (i == MANY - 1)
      w4_stamp_off = w4_req_len - 2 - VAL_LEN;
  }
  memcpy(w4_last, w4.v[MANY - 1], VAL_LEN);
  w4_get_len = (size_t)sprintf(w4_get, "get %s\r\n", w4.k[MANY - 1]);
}

static double w4_floor(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    uint64_t s = ++g_stamp;
    stamp16((uint8_t *)w4_req + w4_stamp_off, s);
    stamp16(w4_last, s);
    write_all(fl_fd, w4_req, w4_req_len);
    write_all(fl_fd, w4_get, w4_get_len);
    read_until(fl_fd, &fl_rb, "END\r\n", 5);
    if (fl_rb.len != GET_REPLY || memcmp(fl_rb.p + GET_HDR, w4_last, VAL_LEN) != 0)
      die("floor W4: the batch's last value did not arrive");
  }
  return now() - t0;
}

static double w4_lmc(size_t n) {
  size_t i, k;
  double t0 = now();
  for (i = 0; i < n; i++) {
    size_t len = 0;
    uint32_t flags = 0;
    memcached_return_t rc;
    char *v;
    stamp16(w4.v[MANY - 1], ++g_stamp);
    for (k = 0; k < MANY; k++) {
      rc = memcached_set(lmc_nr, w4.kc[k], KEY_LEN, (const char *)w4.v[k], VAL_LEN, 0, 0);
      if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_BUFFERED)
        die("libmemcached W4: set: %s", memcached_strerror(lmc_nr, rc));
    }
    lmc_ok(lmc_nr, memcached_flush_buffers(lmc_nr), "W4 flush_buffers");
    v = memcached_get(lmc_nr, w4.kc[MANY - 1], KEY_LEN, &len, &flags, &rc);
    if (v == NULL || rc != MEMCACHED_SUCCESS)
      die("libmemcached W4: get: %s", memcached_strerror(lmc_nr, rc));
    if (len != VAL_LEN || memcmp(v, w4.v[MANY - 1], VAL_LEN) != 0)
      die("libmemcached W4: the batch's last value did not arrive");
    free(v);
  }
  return now() - t0;
}

static double w4_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    pmc_value v = {0};
    stamp16(w4.v[MANY - 1], ++g_stamp);
    pmc_ok(pmc_set_many(pmc, w4.ku, w4.kl, w4.vp, w4.vl, MANY, 0, 0, PMC_REPLY_NONE, NULL, NULL, NULL),
           "W4 set_many");
    pmc_ok(pmc_get(pmc, w4.ku[MANY - 1], KEY_LEN, &v, NULL), "W4 get");
    if (v.len != VAL_LEN || memcmp(v.data, w4.v[MANY - 1], VAL_LEN) != 0)
      die("pymemcache-rs W4: the batch's last value did not arrive");
    pmc_value_free(&v);
  }
  return now() - t0;
}

/* ---- W5: get of a 512 KiB value ------------------------------------------ */

static char w5_key[KEY_LEN + 1];
static uint8_t *w5_val;
static char w5_req[64], w5_hdr[80];
static size_t w5_req_len, w5_hdr_len;

/* In full on the first op of a measurement, else three 64-byte spots: the
   same check for every contender. */
static int big_ok(const uint8_t *got, size_t len, int full) {
  if (len != BIG_LEN)
    return 0;
  if (full)
    return memcmp(got, w5_val, BIG_LEN) == 0;
  return memcmp(got, w5_val, 64) == 0 &&
         memcmp(got + BIG_LEN / 2, w5_val + BIG_LEN / 2, 64) == 0 &&
         memcmp(got + BIG_LEN - 64, w5_val + BIG_LEN - 64, 64) == 0;
}

static void w5_setup(void) {
  make_key(w5_key, "pmcbench:w5:", 5);
  w5_val = xmalloc(BIG_LEN);
  make_value(w5_val, BIG_LEN, w5_key);
  w5_req_len = (size_t)sprintf(w5_req, "get %s\r\n", w5_key);
  w5_hdr_len = value_header(w5_hdr, sizeof w5_hdr, w5_key, BIG_LEN);
  pmc_ok(pmc_set(pmc, (const uint8_t *)w5_key, KEY_LEN, w5_val, BIG_LEN, 0, 0, PMC_REPLY_WAIT, NULL),
         "populate W5");
}

static double w5_floor(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    write_all(fl_fd, w5_req, w5_req_len);
    read_until(fl_fd, &fl_rb, "END\r\n", 5);
    if (fl_rb.len != w5_hdr_len + BIG_LEN + 7 || memcmp(fl_rb.p, w5_hdr, w5_hdr_len) != 0 ||
        !big_ok((const uint8_t *)fl_rb.p + w5_hdr_len, BIG_LEN, i == 0))
      die("floor W5: unexpected reply (%zu bytes)", fl_rb.len);
  }
  return now() - t0;
}

static double w5_lmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    size_t len = 0;
    uint32_t flags = 0;
    memcached_return_t rc;
    char *v = memcached_get(lmc, w5_key, KEY_LEN, &len, &flags, &rc);
    if (v == NULL || rc != MEMCACHED_SUCCESS)
      die("libmemcached W5: get: %s", memcached_strerror(lmc, rc));
    if (!big_ok((const uint8_t *)v, len, i == 0))
      die("libmemcached W5: wrong value");
    free(v);
  }
  return now() - t0;
}

static double w5_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    pmc_value v = {0};
    pmc_ok(pmc_get(pmc, (const uint8_t *)w5_key, KEY_LEN, &v, NULL), "W5 get");
    if (!big_ok(v.data, v.len, i == 0))
      die("pymemcache-rs W5: wrong value");
    pmc_value_free(&v);
  }
  return now() - t0;
}

/* ---- W6: 90% get / 10% set over 10,000 keys, 4 threads ------------------- */

static char (*w6_keys)[KEY_LEN + 1];
static uint8_t (*w6_vals)[VAL_LEN];
static char (*w6_get)[KEY_LEN + 8];
static char (*w6_set)[64 + VAL_LEN];
static size_t w6_set_len;
static int w6_fd[W6_THREADS];
static struct rbuf w6_rb[W6_THREADS];
static pthread_barrier_t w6_barrier;

struct w6_arg {
  pthread_t th;
  int contender, t;
  size_t n;
  uint64_t seed;
};

static void w6_setup(void) {
  size_t i, t;
  struct keyset batch;
  w6_keys = xmalloc(sizeof *w6_keys * W6_KEYS);
  w6_vals = xmalloc(sizeof *w6_vals * W6_KEYS);
  w6_get = xmalloc(sizeof *w6_get * W6_KEYS);
  w6_set = xmalloc(sizeof *w6_set * W6_KEYS);
  for (i = 0; i < W6_KEYS; i++) {
    make_key(w6_keys[i], "pmcbench:w6:", i);
    make_value(w6_vals[i], VAL_LEN, w6_keys[i]);
    sprintf(w6_get[i], "get %s\r\n", w6_keys[i]);
    w6_set_len = set_request(w6_set[i], w6_keys[i], w6_vals[i], VAL_LEN, 0);
  }
  /* populate in batches of 100 */
  for (i = 0; i < W6_KEYS; i += MANY) {
    size_t j;
    for (j = 0; j < MANY; j++) {
      batch.ku[j] = (const uint8_t *)w6_keys[i + j];
      batch.kl[j] = KEY_LEN;
      batch.vp[j] = w6_vals[i + j];
      batch.vl[j] = VAL_LEN;
    }
    pmc_store(pmc, &batch);
  }
  for (t = 0; t < W6_THREADS; t++) {
    w6_fd[t] = connect_tcp(g_server);
    rbuf_init(&w6_rb[t], 4096);
    lmc_w6[t] = memcached_clone(NULL, lmc);
    if (lmc_w6[t] == NULL)
      die("memcached_clone failed");
  }
}

static void *w6_thread(void *p) {
  struct w6_arg *a = p;
  uint64_t x = a->seed;
  size_t i;
  int t = a->t;
  pthread_barrier_wait(&w6_barrier);
  for (i = 0; i < a->n; i++) {
    size_t k;
    int is_set;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    k = (size_t)(x % W6_KEYS);
    is_set = (x >> 40) % 10 == 0;
    if (a->contender == FLOOR) {
      if (is_set) {
        write_all(w6_fd[t], w6_set[k], w6_set_len);
        read_until(w6_fd[t], &w6_rb[t], "\r\n", 2);
        if (w6_rb[t].len != 8 || memcmp(w6_rb[t].p, "STORED\r\n", 8) != 0)
          die("floor W6: set not stored");
      } else {
        write_all(w6_fd[t], w6_get[k], KEY_LEN + 6);
        read_until(w6_fd[t], &w6_rb[t], "END\r\n", 5);
        if (w6_rb[t].len != GET_REPLY || memcmp(w6_rb[t].p + 6, w6_keys[k], KEY_LEN) != 0 ||
            memcmp(w6_rb[t].p + GET_HDR, w6_vals[k], VAL_LEN) != 0)
          die("floor W6: unexpected get reply (%zu bytes)", w6_rb[t].len);
      }
    } else if (a->contender == LMC) {
      memcached_st *m = lmc_w6[t];
      memcached_return_t rc;
      if (is_set) {
        rc = memcached_set(m, w6_keys[k], KEY_LEN, (const char *)w6_vals[k], VAL_LEN, 0, 0);
        if (rc != MEMCACHED_SUCCESS)
          die("libmemcached W6: set: %s", memcached_strerror(m, rc));
      } else {
        size_t len = 0;
        uint32_t flags = 0;
        char *v = memcached_get(m, w6_keys[k], KEY_LEN, &len, &flags, &rc);
        if (v == NULL || rc != MEMCACHED_SUCCESS)
          die("libmemcached W6: get: %s", memcached_strerror(m, rc));
        if (len != VAL_LEN || memcmp(v, w6_vals[k], VAL_LEN) != 0)
          die("libmemcached W6: wrong value");
        free(v);
      }
    } else {
      if (is_set) {
        pmc_ok(pmc_set(pmc_pool, (const uint8_t *)w6_keys[k], KEY_LEN, w6_vals[k], VAL_LEN, 0, 0,
                       PMC_REPLY_WAIT, NULL),
               "W6 set");
      } else {
        pmc_value v = {0};
        pmc_ok(pmc_get(pmc_pool, (const uint8_t *)w6_keys[k], KEY_LEN, &v, NULL), "W6 get");
        if (v.len != VAL_LEN || memcmp(v.data, w6_vals[k], VAL_LEN) != 0)
          die("pymemcache-rs W6: wrong value");
        pmc_value_free(&v);
      }
    }
  }
  return NULL;
}

/* n ops on each of the 4 threads; the same key sequences for every
   contender in a round. */
static double w6_run(int contender, size_t n) {
  struct w6_arg a[W6_THREADS];
  double t0;
  int t;
  if (pthread_barrier_init(&w6_barrier, NULL, W6_THREADS + 1) != 0)
    die("pthread_barrier_init failed");
  for (t = 0; t < W6_THREADS; t++) {
    a[t].contender = contender;
    a[t].t = t;
    a[t].n = n;
    a[t].seed = 0x9E3779B97F4A7C15ull * (uint64_t)(g_round + 1) +
                0xD1B54A32D192ED03ull * (uint64_t)(t + 1);
    if (a[t].seed == 0)
      a[t].seed = 1;
    if (pthread_create(&a[t].th, NULL, w6_thread, &a[t]) != 0)
      die("pthread_create failed");
  }
  pthread_barrier_wait(&w6_barrier);
  t0 = now();
  for (t = 0; t < W6_THREADS; t++)
    pthread_join(a[t].th, NULL);
  t0 = now() - t0;
  pthread_barrier_destroy(&w6_barrier);
  return t0;
}

static double w6_floor(size_t n) { return w6_run(FLOOR, n); }
static double w6_lmc(size_t n) { return w6_run(LMC, n); }
static double w6_pmc(size_t n) { return w6_run(PMC, n); }

/* ---- W8: a batch of 100 mixed commands; W8s: the same as single calls;
        W8h: the batch over 3 servers ------------------------------------- */

#define W8_OPS 100
enum { OP_GET, OP_SET, OP_DEL, OP_INCR };

/* 100 commands in groups of ten: 5 gets of stored keys, 3 sets, a delete of
   the first key just set, an incr of a counter: 50 get, 30 set, 10 delete,
   10 incr. */
struct w8set {
  char g[50][KEY_LEN + 1], s[30][KEY_LEN + 1], c[10][KEY_LEN + 1];
  uint8_t gv[50][VAL_LEN], sv[VAL_LEN];
  int kind[W8_OPS];
  const char *key[W8_OPS];
  int idx[W8_OPS];
  /* the floor: meta requests (by server for W8h) */
  char *req[NHASH];
  size_t req_len[NHASH];
  int nsrv;
  int fd[NHASH];
  struct rbuf rb[NHASH];
  size_t reply_min[NHASH];
};

static struct w8set w8, w8h, w8l; /* one server; 3 servers (pmc, floor); 3 servers (lmc) */
static pmc_batch *w8_batch;

static void w8_keys(struct w8set *s, const char *ns) {
  char n[16];
  size_t i, j;
  snprintf(n, sizeof n, "%sg:", ns);
  for (i = 0; i < 50; i++) {
    make_key(s->g[i], n, i);
    make_value(s->gv[i], VAL_LEN, s->g[i]);
  }
  snprintf(n, sizeof n, "%ss:", ns);
  for (i = 0; i < 30; i++)
    make_key(s->s[i], n, i);
  make_value(s->sv, VAL_LEN, s->s[0]);
  snprintf(n, sizeof n, "%sc:", ns);
  for (i = 0; i < 10; i++)
    make_key(s->c[i], n, i);
  for (j = 0, i = 0; j < 10; j++) {
    size_t k;
    for (k = 0; k < 5; k++, i++) {
      s->kind[i] = OP_GET, s->idx[i] = (int)(5 * j + k), s->key[i] = s->g[5 * j + k];
    }
    for (k = 0; k < 3; k++, i++) {
      s->kind[i] = OP_SET, s->idx[i] = (int)(3 * j + k), s->key[i] = s->s[3 * j + k];
    }
    s->kind[i] = OP_DEL, s->idx[i] = (int)(3 * j), s->key[i] = s->s[3 * j], i++;
    s->kind[i] = OP_INCR, s->idx[i] = (int)j, s->key[i] = s->c[j], i++;
  }
}

/* The meta request bytes pymemcache-rs sends, split by server (srv[i] for
   op i; NULL: all on one server). */
static void w8_floor_bytes(struct w8set *s, const int *srv, int nsrv, const char *const *addrs) {
  int v;
  size_t i;
  s->nsrv = nsrv;
  for (v = 0; v < nsrv; v++) {
    char *p = s->req[v] = xmalloc(W8_OPS * (KEY_LEN + VAL_LEN + 64) + 8);
    size_t min = 0;
    for (i = 0; i < W8_OPS; i++) {
      if (srv != NULL && srv[i] != v)
        continue;
      switch (s->kind[i]) {
      case OP_GET:
        p += sprintf(p, "mg %s v f q O%zu\r\n", s->key[i], i);
        min += 16 + VAL_LEN;
        break;
      case OP_SET:
        p += sprintf(p, "ms %s %d F0 T0 O%zu\r\n", s->key[i], VAL_LEN, i);
        memcpy(p, s->sv, VAL_LEN);
        memcpy(p + VAL_LEN, "\r\n", 2);
        p += VAL_LEN + 2;
        min += 7;
        break;
      case OP_DEL:
        p += sprintf(p, "md %s q O%zu\r\n", s->key[i], i);
        break;
      default:
        p += sprintf(p, "ma %s v D1 O%zu\r\n", s->key[i], i);
        min += 12;
      }
    }
    memcpy(p, "mn\r\n", 4);
    p += 4;
    s->req_len[v] = (size_t)(p - s->req[v]);
    s->reply_min[v] = min + 4;
    s->fd[v] = connect_tcp(addrs[v]);
    rbuf_init(&s->rb[v], W8_OPS * (VAL_LEN + 64) + 64);
  }
}

static void w8_populate_pmc(pmc_client *c, struct w8set *s) {
  size_t i;
  for (i = 0; i < 50; i++)
    pmc_ok(pmc_set(c, (const uint8_t *)s->g[i], KEY_LEN, s->gv[i], VAL_LEN, 0, 0, PMC_REPLY_WAIT,
                   NULL),
           "populate W8");
  for (i = 0; i < 10; i++)
    pmc_ok(pmc_set(c, (const uint8_t *)s->c[i], KEY_LEN, (const uint8_t *)"0", 1, 0, 0,
                   PMC_REPLY_WAIT, NULL),
           "populate W8");
}

static void w8_setup(void) {
  w8_keys(&w8, "pmcbench:8");
  w8_floor_bytes(&w8, NULL, 1, &g_server);
  w8_populate_pmc(pmc, &w8);
  pmc_ok(pmc_batch_new(&w8_batch, NULL), "batch_new");
}

static void w8h_setup(void) {
  int srv[W8_OPS];
  size_t i, v;
  w8_keys(&w8h, "pmcbench:h");
  w8_keys(&w8l, "pmcbench:l");
  for (i = 0; i < W8_OPS; i++) {
    char *name = NULL;
    pmc_ok(pmc_client_server_for_key(pmc_hash, (const uint8_t *)w8h.key[i], KEY_LEN, &name, NULL),
           "server_for_key");
    srv[i] = -1;
    for (v = 0; v < NHASH; v++)
      if (strcmp(name, g_hash[v]) == 0)
        srv[i] = (int)v;
    pmc_string_free(name);
  }
  w8_floor_bytes(&w8h, srv, NHASH, g_hash);
  w8_populate_pmc(pmc_hash, &w8h);
  for (i = 0; i < 50; i++)
    lmc_ok(lmc_hash,
           memcached_set(lmc_hash, w8l.g[i], KEY_LEN, (const char *)w8l.gv[i], VAL_LEN, 0, 0),
           "populate W8h");
  for (i = 0; i < 10; i++)
    lmc_ok(lmc_hash, memcached_set(lmc_hash, w8l.c[i], KEY_LEN, "0", 1, 0, 0), "populate W8h");
}

static double w8_floor_run(struct w8set *s, size_t n) {
  size_t i;
  int v;
  double t0 = now();
  for (i = 0; i < n; i++) {
    for (v = 0; v < s->nsrv; v++)
      write_all(s->fd[v], s->req[v], s->req_len[v]);
    for (v = 0; v < s->nsrv; v++) {
      read_until(s->fd[v], &s->rb[v], "MN\r\n", 4);
      if (s->rb[v].len < s->reply_min[v])
        die("floor W8: unexpected reply (%zu bytes)", s->rb[v].len);
    }
  }
  return now() - t0;
}

static void lmc_ops(memcached_st *m, const struct w8set *s) {
  size_t i;
  for (i = 0; i < W8_OPS; i++) {
    memcached_return_t rc;
    const char *k = s->key[i];
    switch (s->kind[i]) {
    case OP_GET: {
      size_t len;
      uint32_t fl;
      char *v = memcached_get(m, k, KEY_LEN, &len, &fl, &rc);
      if (v == NULL || len != VAL_LEN || memcmp(v, s->gv[s->idx[i]], VAL_LEN) != 0)
        die("libmemcached W8: get: %s", memcached_strerror(m, rc));
      free(v);
      break;
    }
    case OP_SET:
      lmc_ok(m, memcached_set(m, k, KEY_LEN, (const char *)s->sv, VAL_LEN, 0, 0), "W8 set");
      break;
    case OP_DEL:
      lmc_ok(m, memcached_delete(m, k, KEY_LEN, 0), "W8 delete");
      break;
    default: {
      uint64_t nv;
      lmc_ok(m, memcached_increment(m, k, KEY_LEN, 1, &nv), "W8 incr");
    }
    }
  }
}

static void pmc_single_ops(pmc_client *c, const struct w8set *s) {
  size_t i;
  for (i = 0; i < W8_OPS; i++) {
    const uint8_t *k = (const uint8_t *)s->key[i];
    switch (s->kind[i]) {
    case OP_GET: {
      pmc_value v = {0};
      pmc_ok(pmc_get(c, k, KEY_LEN, &v, NULL), "W8s get");
      if (v.len != VAL_LEN || memcmp(v.data, s->gv[s->idx[i]], VAL_LEN) != 0)
        die("pymemcache-rs W8s: wrong value");
      pmc_value_free(&v);
      break;
    }
    case OP_SET:
      pmc_ok(pmc_set(c, k, KEY_LEN, s->sv, VAL_LEN, 0, 0, PMC_REPLY_WAIT, NULL), "W8s set");
      break;
    case OP_DEL:
      pmc_ok(pmc_delete(c, k, KEY_LEN, PMC_REPLY_WAIT, NULL), "W8s delete");
      break;
    default:
      pmc_ok(pmc_incr(c, k, KEY_LEN, 1, PMC_REPLY_WAIT, NULL, NULL), "W8s incr");
    }
  }
}

static void pmc_batch_ops(pmc_client *c, const struct w8set *s) {
  size_t i;
  pmc_batch *b = w8_batch;
  pmc_batch_clear(b);
  for (i = 0; i < W8_OPS; i++) {
    const uint8_t *k = (const uint8_t *)s->key[i];
    switch (s->kind[i]) {
    case OP_GET:
      pmc_batch_get(b, k, KEY_LEN, NULL);
      break;
    case OP_SET:
      pmc_batch_set(b, k, KEY_LEN, s->sv, VAL_LEN, 0, 0, NULL);
      break;
    case OP_DEL:
      pmc_batch_delete(b, k, KEY_LEN, NULL);
      break;
    default:
      pmc_batch_incr(b, k, KEY_LEN, 1, NULL);
    }
  }
  pmc_ok(pmc_batch_execute(c, b, NULL), "W8 batch");
  size_t len;
  const pmc_op_result *res = pmc_batch_results(b, &len);
  if (len != W8_OPS)
    die("pymemcache-rs W8: %zu results", len);
  for (i = 0; i < W8_OPS; i++) {
    const pmc_op_result *r = &res[i];
    if (r->status != PMC_OK)
      die("pymemcache-rs W8: command %zu: %s", i, pmc_status_str(r->status));
    if (s->kind[i] == OP_GET &&
        (r->value_len != VAL_LEN || memcmp(r->value, s->gv[s->idx[i]], VAL_LEN) != 0))
      die("pymemcache-rs W8: wrong value");
  }
}

static double w8_floor(size_t n) { return w8_floor_run(&w8, n); }
static double w8_lmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    lmc_ops(lmc, &w8);
  return now() - t0;
}
static double w8_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    pmc_batch_ops(pmc, &w8);
  return now() - t0;
}
static double w8s_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    pmc_single_ops(pmc, &w8);
  return now() - t0;
}
static double w8h_floor(size_t n) { return w8_floor_run(&w8h, n); }
static double w8h_lmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    lmc_ops(lmc_hash, &w8l);
  return now() - t0;
}
static double w8h_pmc(size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++)
    pmc_batch_ops(pmc_hash, &w8h);
  return now() - t0;
}

/* ---- W3 at other sizes (10, 1,000, 10,000 keys); W3m: 100 keys as a batch
        of meta gets ---------------------------------------------------------- */

struct bigset {
  size_t n;
  char (*k)[KEY_LEN + 1];
  const char **kc;
  const uint8_t **ku;
  size_t *kl;
  uint8_t (*v)[VAL_LEN];
  char *req, *reply;
  size_t req_len, reply_len;
  struct rbuf rb;
  int meta; /* the floor sends meta gets (mg q + mn) */
};

static struct bigset w3s[3], w3m;
static const size_t W3S_N[3] = {10, 1000, 10000};

static void bigset_init(struct bigset *s, size_t n, const char *ns, int meta) {
  size_t i, rq = 0, rp = 0;
  s->n = n;
  s->meta = meta;
  s->k = xmalloc(n * sizeof *s->k);
  s->kc = xmalloc(n * sizeof *s->kc);
  s->ku = xmalloc(n * sizeof *s->ku);
  s->kl = xmalloc(n * sizeof *s->kl);
  s->v = xmalloc(n * sizeof *s->v);
  s->req = xmalloc(n * (KEY_LEN + 24) + 16);
  s->reply = xmalloc(n * (GET_REPLY + 24) + 16);
  if (!meta) {
    memcpy(s->req, "get", 3);
    rq = 3;
  }
  for (i = 0; i < n; i++) {
    make_key(s->k[i], ns, i);
    make_value(s->v[i], VAL_LEN, s->k[i]);
    s->kc[i] = s->k[i];
    s->ku[i] = (const uint8_t *)s->k[i];
    s->kl[i] = KEY_LEN;
    if (meta) {
      rq += (size_t)sprintf(s->req + rq, "mg %s v f q O%zu\r\n", s->k[i], i);
      rp += (size_t)sprintf(s->reply + rp, "VA %d f0 O%zu\r\n", VAL_LEN, i);
    } else {
      s->req[rq++] = ' ';
      memcpy(s->req + rq, s->k[i], KEY_LEN);
      rq += KEY_LEN;
      rp += value_header(s->reply + rp, GET_HDR + 1, s->k[i], VAL_LEN);
    }
    memcpy(s->reply + rp, s->v[i], VAL_LEN);
    memcpy(s->reply + rp + VAL_LEN, "\r\n", 2);
    rp += VAL_LEN + 2;
  }
  if (meta) {
    memcpy(s->req + rq, "mn\r\n", 4);
    memcpy(s->reply + rp, "MN\r\n", 4);
    rq += 4, rp += 4;
  } else {
    memcpy(s->req + rq, "\r\n", 2);
    memcpy(s->reply + rp, "END\r\n", 5);
    rq += 2, rp += 5;
  }
  s->req_len = rq;
  s->reply_len = rp;
  rbuf_init(&s->rb, rp + 64);
  for (i = 0; i < n; i++)
    pmc_ok(pmc_set(pmc, s->ku[i], KEY_LEN, s->v[i], VAL_LEN, 0, 0, PMC_REPLY_WAIT, NULL),
           "populate W3 sizes");
}

static double big_floor(struct bigset *s, size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    write_all(fl_fd, s->req, s->req_len);
    read_until(fl_fd, &s->rb, s->meta ? "MN\r\n" : "END\r\n", s->meta ? 4 : 5);
    if (s->rb.len != s->reply_len || memcmp(s->rb.p, s->reply, s->reply_len) != 0)
      die("floor W3 (%zu keys): unexpected reply", s->n);
  }
  return now() - t0;
}

static double big_lmc(struct bigset *s, size_t n) {
  size_t i;
  double t0 = now();
  for (i = 0; i < n; i++) {
    memcached_return_t rc = memcached_mget(lmc, s->kc, s->kl, s->n);
    memcached_result_st *r;
    size_t got = 0;
    lmc_ok(lmc, rc, "W3 sizes mget");
    while ((r = memcached_fetch_result(lmc, &lmc_res, &rc)) != NULL) {
      size_t idx = key_index(memcached_result_key_value(r), memcached_result_key_length(r));
      if (idx >= s->n || memcached_result_length(r) != VAL_LEN ||
          memcmp(memcached_result_value(r), s->v[idx], VAL_LEN) != 0)
        die("libmemcached W3 (%zu keys): wrong value", s->n);
      got++;
    }
    if (got != s->n)
      die("libmemcached W3 (%zu keys): %zu hits", s->n, got);
  }
  return now() - t0;
}

static double big_pmc(struct bigset *s, size_t n) {
  size_t i, j, len;
  double t0 = now();
  for (i = 0; i < n; i++) {
    pmc_results *res = NULL;
    pmc_ok(pmc_get_many(pmc, s->ku, s->kl, s->n, &res, NULL), "W3 sizes get_many");
    const pmc_item *items = pmc_results_items(res, &len);
    if (len != s->n)
      die("pymemcache-rs W3 (%zu keys): %zu hits", s->n, len);
    for (j = 0; j < len; j++)
      if (items[j].index != j || items[j].value_len != VAL_LEN ||
          memcmp(items[j].value, s->v[j], VAL_LEN) != 0)
        die("pymemcache-rs W3 (%zu keys): wrong hit", s->n);
    pmc_results_free(res);
  }
  return now() - t0;
}

/* pymemcache-rs's batch of meta gets for the same 100 keys. */
static double big_pmc_batch(struct bigset *s, size_t n) {
  size_t i, j;
  double t0 = now();
  for (i = 0; i < n; i++) {
    pmc_batch_clear(w8_batch);
    for (j = 0; j < s->n; j++)
      pmc_batch_get(w8_batch, s->ku[j], KEY_LEN, NULL);
    pmc_ok(pmc_batch_execute(pmc, w8_batch, NULL), "W3m batch");
    size_t len;
    const pmc_op_result *res = pmc_batch_results(w8_batch, &len);
    for (j = 0; j < s->n; j++) {
      const pmc_op_result *r = &res[j];
      if (r->status != PMC_OK || r->value_len != VAL_LEN || memcmp(r->value, s->v[j], VAL_LEN) != 0)
        die("pymemcache-rs W3m: wrong hit");
    }
  }
  return now() - t0;
}

static void w3s_setup(void) {
  static const char *const ns[3] = {"pmcbench:3a:", "pmcbench:3c:", "pmcbench:3d:"};
  size_t i;
  for (i = 0; i < 3; i++)
    bigset_init(&w3s[i], W3S_N[i], ns[i], 0);
}

static void w3m_setup(void) {
  bigset_init(&w3m, MANY, "pmcbench:3m:", 1);
  if (w8_batch == NULL)
    pmc_ok(pmc_batch_new(&w8_batch, NULL), "batch_new");
}

static double w3a_floor(size_t n) { return big_floor(&w3s[0], n); }
static double w3a_lmc(size_t n) { return big_lmc(&w3s[0], n); }
static double w3a_pmc(size_t n) { return big_pmc(&w3s[0], n); }
static double w3c_floor(size_t n) { return big_floor(&w3s[1], n); }
static double w3c_lmc(size_t n) { return big_lmc(&w3s[1], n); }
static double w3c_pmc(size_t n) { return big_pmc(&w3s[1], n); }
static double w3d_floor(size_t n) { return big_floor(&w3s[2], n); }
static double w3d_lmc(size_t n) { return big_lmc(&w3s[2], n); }
static double w3d_pmc(size_t n) { return big_pmc(&w3s[2], n); }
static double w3m_floor(size_t n) { return big_floor(&w3m, n); }
static double w3m_lmc(size_t n) { return big_lmc(&w3m, n); }
static double w3m_pmc(size_t n) { return big_pmc_batch(&w3m, n); }

/* ---- W9: one thread keeping 64 gets in flight on one server; W9b: 64
        threads of blocking gets ---------------------------------------------
   floor: raw-socket pipelining at depth 64: 64 requests written, then each
   reply read (and compared whole) lets one more request go, written
   together with the others of the same read. pymemcache-rs: the
   non-blocking API (pmc_async_*) driven by poll(2), one new get submitted
   per completion. libmemcached (no per-request async API): mget of 64 keys
   per round. W9b: 64 threads each doing blocking gets, on the pooled
   pymemcache-rs client, on a libmemcached handle each, and on a floor
   socket each (request, reply). */

#define W9_DEPTH 64
#define W9_REQ (KEY_LEN + 6) /* "get <key>\r\n" */

static char w9_keys[W9_DEPTH][KEY_LEN + 1];
static const char *w9_kc[W9_DEPTH];
static size_t w9_kl[W9_DEPTH];
static uint8_t w9_vals[W9_DEPTH][VAL_LEN];
static char w9_req[W9_DEPTH][W9_REQ + 1];
static char w9_reply[W9_DEPTH][GET_REPLY + 1];
static char w9_wbuf[W9_DEPTH * W9_REQ];
static struct rbuf w9_rb;
static pmc_async *w9_async;
static int w9b_fd[W9_DEPTH];
static struct rbuf w9b_rb[W9_DEPTH];
static memcached_st *w9b_m[W9_DEPTH];
static pthread_barrier_t w9b_barrier;

static void w9_setup(void) {
  size_t i, h;
  pmc_options *o = pmc_options_new();
  for (i = 0; i < W9_DEPTH; i++) {
    make_key(w9_keys[i], "pmcbench:w9:", i);
    make_value(w9_vals[i], VAL_LEN, w9_keys[i]);
    w9_kc[i] = w9_keys[i];
    w9_kl[i] = KEY_LEN;
    sprintf(w9_req[i], "get %s\r\n", w9_keys[i]);
    h = value_header(w9_reply[i], sizeof w9_reply[i], w9_keys[i], VAL_LEN);
    memcpy(w9_reply[i] + h, w9_vals[i], VAL_LEN);
    memcpy(w9_reply[i] + h + VAL_LEN, "\r\nEND\r\n", 7);
    pmc_ok(pmc_set(pmc, (const uint8_t *)w9_keys[i], KEY_LEN, w9_vals[i], VAL_LEN, 0, 0,
                   PMC_REPLY_WAIT, NULL),
           "populate W9");
  }
  rbuf_init(&w9_rb, W9_DEPTH * GET_REPLY + 4096);
  if (o == NULL)
    die("pmc_options_new failed");
  pmc_ok(pmc_options_set_no_delay(o, true, NULL), "no_delay");
  apply_bench_metrics(o);
  pmc_ok(pmc_async_new(&g_server, 1, o, &w9_async, NULL), "async_new");
  pmc_options_free(o);
}

static void w9b_setup(void) {
  size_t t;
  if (w9_async == NULL)
    w9_setup();
  for (t = 0; t < W9_DEPTH; t++) {
    w9b_fd[t] = connect_tcp(g_server);
    rbuf_init(&w9b_rb[t], 4096);
    w9b_m[t] = memcached_clone(NULL, lmc);
    if (w9b_m[t] == NULL)
      die("memcached_clone failed");
  }
}

static double w9_floor(size_t n) {
  size_t sent = 0, done = 0, have = 0, wlen = 0;
  double t0 = now();
  while (sent < n && sent < W9_DEPTH) {
    memcpy(w9_wbuf + wlen, w9_req[sent % W9_DEPTH], W9_REQ);
    wlen += W9_REQ;
    sent++;
  }
  write_all(fl_fd, w9_wbuf, wlen);
  while (done < n) {
    size_t off = 0;
    ssize_t r = read(fl_fd, w9_rb.p + have, w9_rb.cap - have);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      die("floor W9: read: %s", r == 0 ? "closed" : strerror(errno));
    have += (size_t)r;
    wlen = 0;
    while (have - off >= GET_REPLY) {
      if (memcmp(w9_rb.p + off, w9_reply[done % W9_DEPTH], GET_REPLY) != 0)
        die("floor W9: unexpected reply");
      off += GET_REPLY;
      done++;
      if (sent < n) {
        memcpy(w9_wbuf + wlen, w9_req[sent % W9_DEPTH], W9_REQ);
        wlen += W9_REQ;
        sent++;
      }
    }
    memmove(w9_rb.p, w9_rb.p + off, have - off);
    have -= off;
    if (wlen > 0)
      write_all(fl_fd, w9_wbuf, wlen);
  }
  return now() - t0;
}

static double w9_pmc(size_t n) {
  size_t sent = 0, done = 0;
  double t0 = now();
  for (; sent < n && sent < W9_DEPTH; sent++)
    pmc_ok(pmc_async_get(w9_async, (const uint8_t *)w9_keys[sent % W9_DEPTH], KEY_LEN, sent, 0,
                         NULL),
           "W9 submit");
  while (done < n) {
    pmc_watch w;
    struct pollfd p;
    pmc_completion c;
    int ev = 0;
    if (pmc_async_watches(w9_async, &w, 1) != 1)
      die("pymemcache-rs W9: expected one descriptor to watch");
    p.fd = w.fd;
    p.events = (short)(((w.events & PMC_WANT_READ) ? POLLIN : 0) |
                       ((w.events & PMC_WANT_WRITE) ? POLLOUT : 0));
    p.revents = 0;
    if (poll(&p, 1, pmc_async_timeout_ms(w9_async)) < 0 && errno != EINTR)
      die("poll: %s", strerror(errno));
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
      ev |= PMC_WANT_READ;
    if (p.revents & (POLLOUT | POLLHUP | POLLERR))
      ev |= PMC_WANT_WRITE;
    pmc_ok(pmc_async_step(w9_async, p.fd, ev, NULL), "W9 step");
    while (pmc_async_next(w9_async, &c)) {
      size_t k = (size_t)(c.token % W9_DEPTH);
      if (c.status != PMC_OK || c.value_len != VAL_LEN || memcmp(c.value, w9_vals[k], VAL_LEN) != 0)
        die("pymemcache-rs W9: %s for token %llu", pmc_status_str(c.status),
            (unsigned long long)c.token);
      pmc_completion_clear(&c);
      done++;
      if (sent < n) {
        pmc_ok(pmc_async_get(w9_async, (const uint8_t *)w9_keys[sent % W9_DEPTH], KEY_LEN, sent,
                             0, NULL),
               "W9 submit");
        sent++;
      }
    }
  }
  return now() - t0;
}

static double w9_lmc(size_t n) {
  size_t done = 0;
  double t0 = now();
  while (done < n) {
    size_t want = n - done < W9_DEPTH ? n - done : W9_DEPTH, got = 0;
    memcached_return_t rc = memcached_mget(lmc, w9_kc, w9_kl, want);
    memcached_result_st *r;
    lmc_ok(lmc, rc, "W9 mget");
    while ((r = memcached_fetch_result(lmc, &lmc_res, &rc)) != NULL) {
      size_t idx = key_index(memcached_result_key_value(r), memcached_result_key_length(r));
      if (idx >= want || memcached_result_length(r) != VAL_LEN ||
          memcmp(memcached_result_value(r), w9_vals[idx], VAL_LEN) != 0)
        die("libmemcached W9: wrong value");
      got++;
    }
    if (got != want)
      die("libmemcached W9: %zu hits of %zu", got, want);
    done += want;
  }
  return now() - t0;
}

struct w9b_arg {
  pthread_t th;
  int contender, t;
  size_t n;
};

static void *w9b_thread(void *p) {
  struct w9b_arg *a = p;
  size_t i, k = (size_t)a->t;
  pthread_barrier_wait(&w9b_barrier);
  for (i = 0; i < a->n; i++) {
    if (a->contender == FLOOR) {
      write_all(w9b_fd[k], w9_req[k], W9_REQ);
      read_until(w9b_fd[k], &w9b_rb[k], "END\r\n", 5);
      if (w9b_rb[k].len != GET_REPLY || memcmp(w9b_rb[k].p, w9_reply[k], GET_REPLY) != 0)
        die("floor W9b: unexpected reply");
    } else if (a->contender == LMC) {
      size_t len = 0;
      uint32_t flags = 0;
      memcached_return_t rc;
      char *v = memcached_get(w9b_m[k], w9_keys[k], KEY_LEN, &len, &flags, &rc);
      if (v == NULL || len != VAL_LEN || memcmp(v, w9_vals[k], VAL_LEN) != 0)
        die("libmemcached W9b: get: %s", memcached_strerror(w9b_m[k], rc));
      free(v);
    } else {
      pmc_value v = {0};
      pmc_ok(pmc_get(pmc_pool, (const uint8_t *)w9_keys[k], KEY_LEN, &v, NULL), "W9b get");
      if (v.len != VAL_LEN || memcmp(v.data, w9_vals[k], VAL_LEN) != 0)
        die("pymemcache-rs W9b: wrong value");
      pmc_value_free(&v);
    }
  }
  return NULL;
}

/* n gets on each of the 64 threads. */
static double w9b_run(int contender, size_t n) {
  struct w9b_arg a[W9_DEPTH];
  double t0;
  int t;
  if (pthread_barrier_init(&w9b_barrier, NULL, W9_DEPTH + 1) != 0)
    die("pthread_barrier_init failed");
  for (t = 0; t < W9_DEPTH; t++) {
    a[t].contender = contender;
    a[t].t = t;
    a[t].n = n;
    if (pthread_create(&a[t].th, NULL, w9b_thread, &a[t]) != 0)
      die("pthread_create failed");
  }
  pthread_barrier_wait(&w9b_barrier);
  t0 = now();
  for (t = 0; t < W9_DEPTH; t++)
    pthread_join(a[t].th, NULL);
  t0 = now() - t0;
  pthread_barrier_destroy(&w9b_barrier);
  return t0;
}

static double w9b_floor(size_t n) { return w9b_run(FLOOR, n); }
static double w9b_lmc(size_t n) { return w9b_run(LMC, n); }
static double w9b_pmc(size_t n) { return w9b_run(PMC, n); }

/* ---- the workloads ------------------------------------------------------- */

static struct workload WL[NWORK] = {
    {"W1", "get hit (30 B key, 100 B value)", "op", 1, 300, 200, 200000,
     {w1_floor, w1_lmc, w1_pmc}, 1, 0, {0}, {{0}}},
    {"W2", "set, wait for STORED (100 B)", "op", 1, 300, 200, 200000,
     {w2_floor, w2_lmc, w2_pmc}, 1, 0, {0}, {{0}}},
    {"W3", "get_many, 100 hits", "op", 1, 30, 20, 50000,
     {w3_floor, w3_lmc, w3_pmc}, 1, 0, {0}, {{0}}},
    {"W4", "set_many 100, noreply (+1 get)", "key", MANY, 30, 20, 50000,
     {w4_floor, w4_lmc, w4_pmc}, 1, 0, {0}, {{0}}},
    {"W5", "get of a 512 KiB value", "op", 1, 20, 10, 20000,
     {w5_floor, w5_lmc, w5_pmc}, 1, 0, {0}, {{0}}},
    {"W6", "90% get/10% set, 10k keys, 4 threads", "op", W6_THREADS, 100, 50, 100000,
     {w6_floor, w6_lmc, w6_pmc}, 1, 0, {0}, {{0}}},
    {"W7", "get_many, 100 hits over 3 servers", "op", 1, 30, 20, 50000,
     {w7_floor, w7_lmc, w7_pmc}, 1, 0, {0}, {{0}}},
    {"W8", "batch of 100 mixed (50 get/30 set/10 delete/10 incr)", "batch", 1, 30, 20, 50000,
     {w8_floor, w8_lmc, w8_pmc}, 1, 0, {0}, {{0}}},
    {"W8s", "W8's 100 commands as single calls", "batch", 1, 10, 5, 20000,
     {w8_floor, w8_lmc, w8s_pmc}, 1, 0, {0}, {{0}}},
    {"W8h", "W8 over 3 servers (hash client)", "batch", 1, 30, 20, 50000,
     {w8h_floor, w8h_lmc, w8h_pmc}, 1, 0, {0}, {{0}}},
    {"W3.10", "get_many, 10 hits", "op", 1, 100, 50, 200000,
     {w3a_floor, w3a_lmc, w3a_pmc}, 1, 0, {0}, {{0}}},
    {"W3.1k", "get_many, 1,000 hits", "op", 1, 5, 5, 5000,
     {w3c_floor, w3c_lmc, w3c_pmc}, 1, 0, {0}, {{0}}},
    {"W3.10k", "get_many, 10,000 hits", "op", 1, 2, 3, 500,
     {w3d_floor, w3d_lmc, w3d_pmc}, 1, 0, {0}, {{0}}},
    {"W3m", "100 hits as a batch of meta gets (floor: mg q + mn)", "op", 1, 30, 20, 50000,
     {w3m_floor, w3m_lmc, w3m_pmc}, 1, 0, {0}, {{0}}},
    {"W9", "64 gets in flight, one thread (async API; lmc: mget 64)", "op", 1, 2000, 1000, 2000000,
     {w9_floor, w9_lmc, w9_pmc}, 1, 0, {0}, {{0}}},
    {"W9b", "64 threads of blocking gets (pooled client)", "op", W9_DEPTH, 30, 20, 100000,
     {w9b_floor, w9b_lmc, w9b_pmc}, 1, 0, {0}, {{0}}},
};

/* `id` is one of the comma-separated names of `list`. */
static int in_list(const char *list, const char *id) {
  size_t n = strlen(id);
  const char *p = list;
  while ((p = strstr(p, id)) != NULL) {
    if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
      return 1;
    p += n;
  }
  return 0;
}

static int c_enabled(int c) { return g_contender < 0 || g_contender == c; }

static double run_one(struct workload *w, int c, size_t n) {
  double sec = w->run[c](n);
  w->units_run[c] += n;
  return sec;
}

/* ---- report -------------------------------------------------------------- */

static int g_rounds = 9;

static double ratio(const struct workload *w, int c, int base) {
  double v[MAX_ROUNDS];
  int r;
  for (r = 0; r < g_rounds; r++)
    v[r] = w->us[r][c] / w->us[r][base];
  return median(v, (size_t)g_rounds);
}

static double med_us(const struct workload *w, int c) {
  double v[MAX_ROUNDS];
  int r;
  for (r = 0; r < g_rounds; r++)
    v[r] = w->us[r][c];
  return median(v, (size_t)g_rounds);
}

static void range_us(const struct workload *w, int c, double *lo, double *hi) {
  int r;
  *lo = *hi = w->us[0][c];
  for (r = 1; r < g_rounds; r++) {
    if (w->us[r][c] < *lo)
      *lo = w->us[r][c];
    if (w->us[r][c] > *hi)
      *hi = w->us[r][c];
  }
}

/* W7 / W3 per round, median. */
static double w7_over_w3(int c) {
  double v[MAX_ROUNDS];
  int r;
  for (r = 0; r < g_rounds; r++)
    v[r] = WL[W7].us[r][c] / WL[W3].us[r][c];
  return median(v, (size_t)g_rounds);
}

static const char *fmt_us(char *buf, size_t cap, double us) {
  if (us < 10)
    snprintf(buf, cap, "%.3f", us);
  else if (us < 100)
    snprintf(buf, cap, "%.2f", us);
  else
    snprintf(buf, cap, "%.1f", us);
  return buf;
}

/* 1234567 -> "1,234,567" */
static const char *fmt_int(char *buf, size_t cap, double x) {
  char tmp[32];
  size_t len, i, o = 0;
  snprintf(tmp, sizeof tmp, "%.0f", x);
  len = strlen(tmp);
  for (i = 0; i < len && o + 2 < cap; i++) {
    if (i > 0 && (len - i) % 3 == 0)
      buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = '\0';
  return buf;
}

/* "Cpus_allowed_list" of /proc/self/status: where taskset put us. */
static void read_cpus_allowed(char *out, size_t cap) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  snprintf(out, cap, "?");
  if (f == NULL)
    return;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
      char *p = line + 18;
      size_t n;
      while (*p == ' ' || *p == '\t')
        p++;
      n = strcspn(p, "\n");
      if (n >= cap)
        n = cap - 1;
      memcpy(out, p, n);
      out[n] = '\0';
    }
  fclose(f);
}

static void read_loadavg(char *out, size_t cap) {
  FILE *f = fopen("/proc/loadavg", "r");
  double a = 0, b = 0, c = 0;
  if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
    snprintf(out, cap, "?");
  else
    snprintf(out, cap, "%.2f %.2f %.2f", a, b, c);
  if (f != NULL)
    fclose(f);
}

static char g_mc_version[64] = "?";
static char g_load_before[64], g_load_after[64], g_date[64], g_cpus[64];
static const char *g_notes[8];
static int g_nnotes;
static const char *g_commit = "?";
static double g_seconds = 0.6, g_elapsed;

static void server_version(void) {
  write_all(fl_fd, "version\r\n", 9);
  read_until(fl_fd, &fl_rb, "\r\n", 2);
  if (fl_rb.len > 10 && memcmp(fl_rb.p, "VERSION ", 8) == 0 && fl_rb.len - 10 < sizeof g_mc_version) {
    memcpy(g_mc_version, fl_rb.p + 8, fl_rb.len - 10);
    g_mc_version[fl_rb.len - 10] = '\0';
  }
}

static const char *met(int ok) { return ok ? "met" : "**missed**"; }

static void report(FILE *f, long rss_kib) {
  int w, c;
  char b1[32], b2[32], b3[32], b4[32];
  fprintf(f, "## pymemcache-rs vs libmemcached vs a raw-socket floor\n\n");
  fprintf(f, "- %s; memcached %s (`-t 2 -m 256`) on %s, W7 on %s, %s, %s; "
             "libmemcached %s; libpymemcache %s (%s)\n",
          g_date, g_mc_version, g_server, g_hash[0], g_hash[1], g_hash[2],
          memcached_lib_version(), pmc_library_version(), g_commit);
  fprintf(f, "- %ld CPUs online, the bench allowed on CPU %s; load average %s before, %s after; "
             "%.0f s of measuring\n",
          sysconf(_SC_NPROCESSORS_ONLN), g_cpus, g_load_before, g_load_after, g_elapsed);
  for (w = 0; w < g_nnotes; w++)
    fprintf(f, "- %s\n", g_notes[w]);
  fprintf(f, "- libmemcached: text protocol, TCP_NODELAY; W4 with NOREPLY%s and "
             "memcached_flush_buffers; W6 one memcached_st per thread (memcached_clone); W7 "
             "consistent distribution. pymemcache-rs: no_delay, default_noreply off; W4 "
             "pmc_set_many with PMC_REPLY_NONE; W3/W7 hits read with pmc_results_items; W6 one pooled "
             "client shared by the 4 threads; W7 a hash client. W4 ends every batch of 100 sets with a get of its last key, which "
             "must return the value just set (all three contenders).\n",
          g_w4_unbuffered ? " (BUFFER_REQUESTS off)" : " + BUFFER_REQUESTS");
  fprintf(f, "- %d rounds; in every round each workload runs each contender once for N ops "
             "(order rotated per round and workload). *median* = median over rounds; "
             "*x floor* and *x libmemcached* = median over rounds of that round's ratio; "
             "*range* = fastest..slowest round. Every reply was verified.\n\n",
          g_rounds);
  fprintf(f, "| Workload | N/round | Contender | median | ops/s | x floor | x libmemcached | range (us) |\n");
  fprintf(f, "|---|--:|---|--:|--:|--:|--:|--:|\n");
  for (w = 0; w < NWORK; w++) {
    struct workload *wl = &WL[w];
    if (!wl->enabled)
      continue;
    for (c = 0; c < NCONT; c++) {
      double m = med_us(wl, c), lo, hi;
      range_us(wl, c, &lo, &hi);
      if (c == 0)
        fprintf(f, "| %s %s | %s |", wl->id, wl->title, fmt_int(b1, sizeof b1, (double)wl->n));
      else
        fprintf(f, "| | |");
      fprintf(f, " %s | %s us/%s | %s%s | %.2f | %.2f | %s..", CNAME[c],
              fmt_us(b1, sizeof b1, m), wl->unit, fmt_int(b2, sizeof b2, 1e6 / m),
              w == W4 ? " keys/s" : "", ratio(wl, c, FLOOR), ratio(wl, c, LMC),
              fmt_us(b3, sizeof b3, lo));
      fprintf(f, "%s |\n", fmt_us(b4, sizeof b4, hi));
    }
  }
  if (WL[W3].enabled && WL[W7].enabled) {
    fprintf(f, "\n### W7 (100 keys over 3 servers) relative to W3 (100 keys, 1 server)\n\n");
    fprintf(f, "| Contender | W3 us/op | W7 us/op | W7 / W3 |\n|---|--:|--:|--:|\n");
    for (c = 0; c < NCONT; c++)
      fprintf(f, "| %s | %s | %s | %.2f |\n", CNAME[c], fmt_us(b1, sizeof b1, med_us(&WL[W3], c)),
              fmt_us(b2, sizeof b2, med_us(&WL[W7], c)), w7_over_w3(c));
    fprintf(f, "\nW7 placement (keys per server): pymemcache-rs and the floor %zu/%zu/%zu, "
               "libmemcached (consistent) %zu/%zu/%zu.\n",
            w7_count[0], w7_count[1], w7_count[2], w7_lmc_count[0], w7_lmc_count[1],
            w7_lmc_count[2]);
  }
  fprintf(f, "\n### Targets (pymemcache-rs)\n\n"
             "| Target | pymemcache-rs | Result | for reference |\n|---|--:|---|---|\n");
  {
    static const int tw[] = {W1, W2, W5};
    size_t i;
    for (i = 0; i < sizeof tw / sizeof tw[0]; i++) {
      struct workload *wl = &WL[tw[i]];
      double rf, rl;
      if (!wl->enabled)
        continue;
      rf = ratio(wl, PMC, FLOOR);
      rl = ratio(wl, PMC, LMC);
      fprintf(f, "| %s <= 1.05x floor | %.3fx | %s | libmemcached %.3fx |\n", wl->id, rf,
              met(rf <= 1.05), ratio(wl, LMC, FLOOR));
      fprintf(f, "| %s not slower than libmemcached | %.3fx libmemcached | %s | |\n", wl->id, rl,
              met(rl <= 1.0));
    }
  }
  if (WL[W3].enabled) {
    double r = ratio(&WL[W3], PMC, FLOOR);
    fprintf(f, "| W3 <= 1.1x floor | %.3fx | %s | libmemcached %.3fx |\n", r, met(r <= 1.1),
            ratio(&WL[W3], LMC, FLOOR));
  }
  if (WL[W4].enabled) {
    double us = med_us(&WL[W4], PMC), x = ratio(&WL[W4], LMC, PMC);
    fprintf(f, "| W4 <= 1 us per key | %s us/key | %s | floor %s, libmemcached %s us/key |\n",
            fmt_us(b1, sizeof b1, us), met(us <= 1.0), fmt_us(b2, sizeof b2, med_us(&WL[W4], FLOOR)),
            fmt_us(b3, sizeof b3, med_us(&WL[W4], LMC)));
    fprintf(f, "| W4 >= 5x faster per key than libmemcached noreply sets | %.2fx faster | %s | "
               "the floor is %.2fx faster |\n",
            x, met(x >= 5.0), ratio(&WL[W4], LMC, FLOOR));
  }
  if (WL[W3].enabled && WL[W7].enabled) {
    double r = w7_over_w3(PMC);
    fprintf(f, "| W7 <= 1.3x of W3 | %.3fx | %s | floor %.3fx, libmemcached %.3fx |\n", r,
            met(r <= 1.3), w7_over_w3(FLOOR), w7_over_w3(LMC));
  }
  if (WL[W8].enabled) {
    double r = ratio(&WL[W8], PMC, FLOOR);
    fprintf(f, "| W8 <= 1.2x floor (pipelined meta, one write) | %.3fx | %s | libmemcached "
               "single calls %.3fx |\n",
            r, met(r <= 1.2), ratio(&WL[W8], LMC, FLOOR));
  }
  if (WL[W8].enabled && WL[W8S].enabled) {
    double x = med_us(&WL[W8S], PMC) / med_us(&WL[W8], PMC);
    fprintf(f, "| W8 >= 20x faster than W8s (single calls) | %.2fx faster | %s | |\n", x,
            met(x >= 20.0));
  }
  if (WL[W8].enabled && WL[W8H].enabled) {
    double x = med_us(&WL[W8H], PMC) / med_us(&WL[W8], PMC);
    fprintf(f, "| W8h <= 1.3x W8 | %.3fx | %s | floor %.3fx |\n", x, met(x <= 1.3),
            med_us(&WL[W8H], FLOOR) / med_us(&WL[W8], FLOOR));
  }
  {
    static const int sw[] = {W3A, W3, W3C, W3D};
    static const double bound[] = {1.05, 1.05, 1.15, 1.15};
    size_t i;
    for (i = 0; i < 4; i++) {
      struct workload *wl = &WL[sw[i]];
      double rf, rl;
      if (!wl->enabled)
        continue;
      rf = ratio(wl, PMC, FLOOR);
      rl = ratio(wl, PMC, LMC);
      fprintf(f, "| %s <= %.2fx floor | %.3fx | %s | libmemcached %.3fx |\n", wl->id, bound[i], rf,
              met(rf <= bound[i]), ratio(wl, LMC, FLOOR));
      fprintf(f, "| %s faster than libmemcached | %.3fx libmemcached | %s | |\n", wl->id, rl,
              met(rl < 1.0));
    }
  }
  if (WL[W3].enabled && WL[W3M].enabled)
    fprintf(f, "| (W3m: meta gets vs W3 classic get, 100 keys) | %.3fx | | floor meta/classic %.3fx |\n",
            med_us(&WL[W3M], PMC) / med_us(&WL[W3], PMC),
            med_us(&WL[W3M], FLOOR) / med_us(&WL[W3], FLOOR));
  if (WL[W9].enabled) {
    double r = ratio(&WL[W9], PMC, FLOOR);
    fprintf(f, "| W9 <= 1.2x floor (64 gets in flight, async API vs raw pipelining) | %.3fx | %s | "
               "%.0f ops/s; libmemcached mget-64 %.3fx |\n",
            r, met(r <= 1.2), 1e6 / med_us(&WL[W9], PMC), ratio(&WL[W9], LMC, FLOOR));
  }
  if (WL[W9].enabled && WL[W9B].enabled)
    fprintf(f, "| (W9b: 64 threads of blocking gets, pooled client) | %.0f ops/s | | async W9 "
               "%.2fx the ops/s of W9b; floor W9b %.0f ops/s |\n",
            1e6 / med_us(&WL[W9B], PMC), med_us(&WL[W9B], PMC) / med_us(&WL[W9], PMC),
            1e6 / med_us(&WL[W9B], FLOOR));
  fprintf(f, "\nPeak RSS of the bench process (getrusage ru_maxrss): %ld KiB.\n", rss_kib);
}

/* ---- the chart ----------------------------------------------------------- */

static void write_svg(const char *path) {
  static const char *const color[NCONT] = {"#9e9e9e", "#e07b39", "#2f6fbf"};
  const int width = 980, left = 180, label_w = 190, top = 114, bar_h = 18, bar_gap = 5;
  const int head_h = 22, group_gap = 16;
  int nw = 0, w, c, y, i, height;
  double xmax = 1.0, step, scale;
  FILE *f = fopen(path, "w");
  if (f == NULL)
    die("cannot write %s: %s", path, strerror(errno));
  for (w = 0; w < NWORK; w++) {
    if (!WL[w].enabled)
      continue;
    nw++;
    for (c = 0; c < NCONT; c++)
      if (ratio(&WL[w], c, FLOOR) > xmax)
        xmax = ratio(&WL[w], c, FLOOR);
  }
  step = xmax <= 2.5 ? 0.25 : xmax <= 5 ? 0.5 : xmax <= 10 ? 1 : xmax <= 25 ? 2.5 : 10;
  xmax = step * (double)((int)(xmax / step) + 1);
  scale = (double)(width - left - label_w) / xmax;
  height = top + nw * (head_h + NCONT * (bar_h + bar_gap) + group_gap) + 40;

  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
             "font-size=\"13\">\n",
          width, height, width, height);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"16\" y=\"26\" font-size=\"17\" font-weight=\"bold\">Time per op "
             "relative to the raw-socket floor (lower is better)</text>\n");
  fprintf(f, "<text x=\"16\" y=\"46\" fill=\"#555\">median of %d alternating rounds, "
             "bench and servers on CPU %s; %s</text>\n",
          g_rounds, g_cpus, g_date);
  fprintf(f, "<text x=\"16\" y=\"64\" fill=\"#555\">memcached %s, libmemcached %s, "
             "libpymemcache %s (%s)</text>\n",
          g_mc_version, memcached_lib_version(), pmc_library_version(), g_commit);
  /* legend */
  for (c = 0; c < NCONT; c++) {
    int lx = 16 + c * 200;
    fprintf(f, "<rect x=\"%d\" y=\"76\" width=\"14\" height=\"14\" fill=\"%s\"/>"
               "<text x=\"%d\" y=\"88\">%s</text>\n",
            lx, color[c], lx + 20, CNAME[c]);
  }
  /* grid */
  for (i = 0; (double)i * step <= xmax + 1e-9; i++) {
    double v = (double)i * step;
    double x = left + v * scale;
    int one = v > 0.999 && v < 1.001;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
               "stroke-width=\"%s\"%s/>\n",
            x, top - 8, x, height - 34, one ? "#333" : "#ddd", one ? "1.5" : "1",
            one ? " stroke-dasharray=\"5,3\"" : "");
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%gx</text>\n", x,
            height - 18, v);
  }
  y = top;
  for (w = 0; w < NWORK; w++) {
    struct workload *wl = &WL[w];
    if (!wl->enabled)
      continue;
    fprintf(f, "<text x=\"16\" y=\"%d\" font-weight=\"bold\">%s %s</text>\n", y + 14, wl->id,
            wl->title);
    y += head_h;
    for (c = 0; c < NCONT; c++) {
      char b[32];
      double r = ratio(wl, c, FLOOR);
      double bw = r * scale;
      fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 8,
              y + bar_h - 4, CNAME[c]);
      fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", left,
              y, bw, bar_h, color[c]);
      fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.2fx  (%s us/%s)</text>\n", left + bw + 6,
              y + bar_h - 4, r, fmt_us(b, sizeof b, med_us(wl, c)), wl->unit);
      y += bar_h + bar_gap;
    }
    y += group_gap;
  }
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0)
    die("cannot write %s", path);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: pmc_bench [--quick] [--rounds R] [--seconds S] [--ops N] [--only W1,W2,...]\n"
          "                 [--contender floor|libmemcached|pymemcache-rs] [--svg PATH]\n"
          "                 [--note TEXT]... [--commit TEXT] [--w4-unbuffered]\n"
          "                 SERVER [HASH1 HASH2 HASH3]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *svg = NULL;
  size_t fixed_ops = 0;
  int i, w, c, r, quick = 0, nargs = 0;
  const char *args[4];
  struct sigaction sa;
  struct rusage ru;
  time_t tnow;
  struct tm tm;
  double t_start;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--quick") == 0) {
      quick = 1;
    } else if (strcmp(a, "--rounds") == 0 && i + 1 < argc) {
      g_rounds = atoi(argv[++i]);
    } else if (strcmp(a, "--seconds") == 0 && i + 1 < argc) {
      g_seconds = atof(argv[++i]);
    } else if (strcmp(a, "--ops") == 0 && i + 1 < argc) {
      fixed_ops = (size_t)strtoul(argv[++i], NULL, 10);
    } else if (strcmp(a, "--w4-unbuffered") == 0) {
      g_w4_unbuffered = 1;
    } else if (strcmp(a, "--note") == 0 && i + 1 < argc) {
      if (g_nnotes == (int)(sizeof g_notes / sizeof g_notes[0]))
        usage();
      g_notes[g_nnotes++] = argv[++i];
    } else if (strcmp(a, "--commit") == 0 && i + 1 < argc) {
      g_commit = argv[++i];
    } else if (strcmp(a, "--svg") == 0 && i + 1 < argc) {
      svg = argv[++i];
    } else if (strcmp(a, "--only") == 0 && i + 1 < argc) {
      const char *list = argv[++i];
      for (w = 0; w < NWORK; w++)
        WL[w].enabled = in_list(list, WL[w].id);
    } else if (strcmp(a, "--contender") == 0 && i + 1 < argc) {
      const char *name = argv[++i];
      g_contender = -2;
      for (c = 0; c < NCONT; c++)
        if (strcmp(name, CARG[c]) == 0)
          g_contender = c;
      if (g_contender == -2)
        usage();
    } else if (a[0] == '-') {
      usage();
    } else if (nargs < 4) {
      args[nargs++] = a;
    } else {
      usage();
    }
  }
  if (quick) {
    g_rounds = 5;
    g_seconds = 0.08;
  }
  if (g_rounds < 1 || g_rounds > MAX_ROUNDS || g_seconds <= 0)
    usage();
  if (nargs != 1 && nargs != 4)
    usage();
  g_server = args[0];
  if (nargs == 4) {
    for (i = 0; i < NHASH; i++)
      g_hash[i] = args[i + 1];
  } else if (WL[W7].enabled || WL[W8H].enabled) {
    die("W7 and W8h need three more servers (or --only without them)");
  } else {
    for (i = 0; i < NHASH; i++)
      g_hash[i] = "-";
  }

  tnow = time(NULL);
  gmtime_r(&tnow, &tm);
  strftime(g_date, sizeof g_date, "%Y-%m-%d %H:%M UTC", &tm);
  read_loadavg(g_load_before, sizeof g_load_before);
  read_cpus_allowed(g_cpus, sizeof g_cpus);

  /* connections and clients */
  fl_fd = connect_tcp(g_server);
  rbuf_init(&fl_rb, BIG_LEN + 4096);
  server_version();
  lmc = lmc_new(&g_server, 1);
  lmc_nr = lmc_new(&g_server, 1);
  lmc_ok(lmc_nr, memcached_behavior_set(lmc_nr, MEMCACHED_BEHAVIOR_NOREPLY, 1), "NOREPLY");
  if (!g_w4_unbuffered)
    lmc_ok(lmc_nr, memcached_behavior_set(lmc_nr, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1),
           "BUFFER_REQUESTS");
  if (memcached_result_create(lmc, &lmc_res) == NULL)
    die("memcached_result_create failed");
  pmc = pmc_new(&g_server, 1, 0);
  pmc_pool = pmc_new(&g_server, 1, 1);
  if (WL[W7].enabled || WL[W8H].enabled) {
    lmc_hash = lmc_new(g_hash, NHASH);
    if (memcached_result_create(lmc_hash, &lmc_hash_res) == NULL)
      die("memcached_result_create failed");
    pmc_hash = pmc_new(g_hash, NHASH, 0);
  }

  fprintf(stderr, "pmc_bench: populating\n");
  if (WL[W1].enabled)
    w1_setup();
  if (WL[W2].enabled)
    w2_setup();
  if (WL[W3].enabled)
    w3_setup();
  if (WL[W4].enabled)
    w4_setup();
  if (WL[W5].enabled)
    w5_setup();
  if (WL[W6].enabled)
    w6_setup();
  if (WL[W7].enabled)
    w7_setup();
  if (WL[W8].enabled || WL[W8S].enabled)
    w8_setup();
  if (WL[W8H].enabled) {
    if (w8_batch == NULL)
      w8_setup();
    w8h_setup();
  }
  if (WL[W3A].enabled || WL[W3C].enabled || WL[W3D].enabled)
    w3s_setup();
  if (WL[W3M].enabled)
    w3m_setup();
  if (WL[W9].enabled)
    w9_setup();
  if (WL[W9B].enabled)
    w9b_setup();

  /* warm up (connects) and calibrate N: the slowest contender takes about
     g_seconds per measurement */
  for (w = 0; w < NWORK; w++) {
    struct workload *wl = &WL[w];
    double worst = 0;
    if (!wl->enabled)
      continue;
    g_round = 1000;
    for (c = 0; c < NCONT; c++)
      if (c_enabled(c))
        run_one(wl, c, 2);
    for (c = 0; c < NCONT; c++) {
      double per;
      if (!c_enabled(c))
        continue;
      per = run_one(wl, c, wl->warm) / (double)wl->warm;
      if (per > worst)
        worst = per;
    }
    if (fixed_ops > 0) {
      wl->n = fixed_ops;
    } else {
      double n = g_seconds / worst;
      wl->n = n < (double)wl->nmin ? wl->nmin : n > (double)wl->nmax ? wl->nmax : (size_t)n;
    }
    fprintf(stderr, "pmc_bench: %s N = %zu (slowest warm-up %.2f us per %s)\n", wl->id, wl->n,
            worst * 1e6 / wl->per, wl->unit);
  }

  t_start = now();
  for (r = 0; r < g_rounds; r++) {
    g_round = r;
    for (w = 0; w < NWORK; w++) {
      struct workload *wl = &WL[w];
      int k;
      if (!wl->enabled)
        continue;
      for (k = 0; k < NCONT; k++) {
        c = (r + w + k) % NCONT;
        if (!c_enabled(c))
          continue;
        wl->us[r][c] = run_one(wl, c, wl->n) * 1e6 / ((double)wl->n * wl->per);
      }
    }
    fprintf(stderr, "pmc_bench: round %d/%d done (%.0f s)\n", r + 1, g_rounds, now() - t_start);
  }
  g_elapsed = now() - t_start;
  read_loadavg(g_load_after, sizeof g_load_after);
  getrusage(RUSAGE_SELF, &ru);

  for (w = 0; w < NWORK; w++)
    for (c = 0; c < NCONT; c++)
      if (WL[w].enabled && g_contender >= 0 && c_enabled(c))
        fprintf(stderr, "pmc_bench: %s %s: %llu units run (x%g %ss)\n", WL[w].id, CARG[c],
                WL[w].units_run[c], WL[w].per, WL[w].unit);

  if (g_contender >= 0) {
    /* one contender (for profilers): no ratios */
    for (w = 0; w < NWORK; w++)
      if (WL[w].enabled)
        printf("%s %s: median %.3f us/%s\n", WL[w].id, CARG[g_contender],
               med_us(&WL[w], g_contender), WL[w].unit);
  } else {
    report(stdout, ru.ru_maxrss);
    if (svg != NULL)
      write_svg(svg);
  }

  memcached_result_free(&lmc_res);
  memcached_free(lmc);
  memcached_free(lmc_nr);
  for (i = 0; i < W6_THREADS; i++)
    if (lmc_w6[i] != NULL)
      memcached_free(lmc_w6[i]);
  if (lmc_hash != NULL) {
    memcached_result_free(&lmc_hash_res);
    memcached_free(lmc_hash);
  }
  pmc_client_free(pmc);
  pmc_client_free(pmc_pool);
  pmc_client_free(pmc_hash);
  pmc_batch_free(w8_batch);
  return 0;
}

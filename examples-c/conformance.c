/*
 * conformance.c: the conformance table (tests/conformance/cases.txt) run
 * through the C surface. The same table tests/conformance.rs runs against
 * every Rust client kind; this driver parses it the same way, runs each line
 * with the pmc_* functions and writes each outcome in the same notation, so
 * a C client must give exactly the table's outcomes.
 *
 *   conformance CASES_FILE tcp STATE_DIR    single-server client on the
 *                                           fixture's TCP memcached
 *   conformance CASES_FILE mock [STATE_DIR] the in-memory mock client
 *
 * Before each case the cache is emptied: flush_all (waiting for the reply)
 * for tcp, a new client for mock. Every difference is printed with the case
 * name and line number; the exit status is 1 if there was any, 2 if the
 * table or the arguments could not be used, 77 if the kind is not available
 * in this build (ctest reports that as skipped).
 *
 * Outcome notation (as tests/conformance.rs): OK NOT_STORED EXISTS NOT_FOUND
 * MISS, `value/flags` with the value escaped, incr/decr's new value (NONE
 * with reply=none), delete_many's count, `failed:` + set_many's failed
 * indices, `err:KIND` for errors. Anything the driver finds wrong that is
 * not an outcome (a results handle that does not match its keys, a status
 * that contradicts its out-parameters) is appended to the outcome, so it
 * shows up as a difference too.
 */
#include "test_util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <time.h>

#define EXIT_DIFFERENCES 1
#define EXIT_BAD_INPUT 2
#define EXIT_SKIPPED 77

/* ---- small helpers ----------------------------------------------------------- */

/* Print the reason the run cannot go on and exit with EXIT_BAD_INPUT. */
TEST_NORETURN static void die(const char *fmt, ...) TEST_PRINTF(1, 2);

static void die(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fputs("conformance: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(EXIT_BAD_INPUT);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL)
    die("out of memory (%zu bytes)", n);
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (p == NULL)
    die("out of memory (%zu bytes)", n);
  return p;
}

static char *xstrndup(const char *s, size_t n) {
  char *d = xmalloc(n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* A growing byte string, always NUL-terminated. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_reserve(sbuf *b, size_t more) {
  if (b->len + more + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (b->len + more + 1 > cap)
      cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
  }
}

static void sb_putn(sbuf *b, const void *s, size_t n) {
  sb_reserve(b, n);
  if (n > 0)
    memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_putc(sbuf *b, char c) { sb_putn(b, &c, 1); }

static void sb_printf(sbuf *b, const char *fmt, ...) TEST_PRINTF(2, 3);

static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    die("vsnprintf failed");
  sb_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* The contents as a C string ("" when nothing was written). */
static const char *sb_str(sbuf *b) {
  sb_reserve(b, 0);
  b->p[b->len] = '\0';
  return b->p;
}

static void sb_free(sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- the table's notation ----------------------------------------------------- */

/* A decoded token: bytes that may hold NUL, \r, \n. */
typedef struct bytes {
  uint8_t *p;
  size_t len;
} bytes;

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Parse a whole string as an unsigned decimal (optional '+', as Rust's
   integer parsing); false if it is not one or exceeds `max`. */
static bool parse_u64_max(const char *s, size_t n, uint64_t max,
                          uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  if (n > 0 && s[0] == '+')
    i = 1;
  if (i == n)
    return false;
  for (; i < n; i++) {
    unsigned d;
    if (s[i] < '0' || s[i] > '9')
      return false;
    d = (unsigned)(s[i] - '0');
    if (v > (max - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static bool parse_i64(const char *s, int64_t *out) {
  uint64_t mag;
  bool neg = false;
  size_t n = strlen(s);
  if (n > 0 && s[0] == '-') {
    neg = true;
    s++;
    n--;
    if (n > 0 && s[0] == '+')
      return false;
  }
  if (!parse_u64_max(s, n, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX,
                     &mag))
    return false;
  if (neg)
    *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
  else
    *out = (int64_t)mag;
  return true;
}

/* Decode `n` bytes of a token into `out` (appending): escapes \xNN \r \n \t
   \0 \\ and {c*N} repetitions. False (with a reason) if malformed. */
static bool decode_into(const char *t, size_t n, sbuf *out, const char **why) {
  size_t i = 0;
  while (i < n) {
    char c = t[i];
    if (c == '\\') {
      char e = i + 1 < n ? t[i + 1] : '\0';
      switch (e) {
      case 'x': {
        int hi = i + 2 < n ? hexval(t[i + 2]) : -1;
        int lo = i + 3 < n ? hexval(t[i + 3]) : -1;
        if (hi < 0 || lo < 0) {
          *why = "bad \\x escape";
          return false;
        }
        sb_putc(out, (char)(hi * 16 + lo));
        i += 4;
        continue;
      }
      case 'r': sb_putc(out, '\r'); break;
      case 'n': sb_putc(out, '\n'); break;
      case 't': sb_putc(out, '\t'); break;
      case '0': sb_putc(out, '\0'); break;
      case '\\': sb_putc(out, '\\'); break;
      default:
        *why = "bad escape";
        return false;
      }
      i += 2;
    } else if (c == '{') {
      const char *end = memchr(t + i, '}', n - i);
      const char *star = NULL;
      sbuf one = {0};
      uint64_t count;
      if (end == NULL) {
        *why = "{ without }";
        return false;
      }
      for (const char *p = t + i + 1; p < end; p++)
        if (*p == '*')
          star = p; /* the last one, as rsplit_once */
      if (star == NULL) {
        *why = "{c*N} without *";
        return false;
      }
      if (!decode_into(t + i + 1, (size_t)(star - (t + i + 1)), &one, why)) {
        sb_free(&one);
        return false;
      }
      if (one.len != 1) {
        sb_free(&one);
        *why = "{c*N} repeats one byte";
        return false;
      }
      if (!parse_u64_max(star + 1, (size_t)(end - star - 1), SIZE_MAX,
                         &count)) {
        sb_free(&one);
        *why = "bad count in {c*N}";
        return false;
      }
      sb_reserve(out, (size_t)count);
      memset(out->p + out->len, (unsigned char)one.p[0], (size_t)count);
      out->len += (size_t)count;
      out->p[out->len] = '\0';
      sb_free(&one);
      i = (size_t)(end - t) + 1;
    } else {
      sb_putc(out, c);
      i++;
    }
  }
  return true;
}

/* Decode a whole token (the table is unusable if it is malformed). */
static bytes decode(const char *tok, size_t line_no) {
  sbuf b = {0};
  const char *why = NULL;
  bytes r;
  if (!decode_into(tok, strlen(tok), &b, &why))
    die("line %zu: %s in token `%s`", line_no, why, tok);
  sb_reserve(&b, 0);
  r.p = (uint8_t *)b.p;
  r.len = b.len;
  return r;
}

/* Append bytes in the table's notation (for outcomes). */
static void encode(sbuf *out, const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t c = v[i];
    if (c == '\r')
      sb_puts(out, "\\r");
    else if (c == '\n')
      sb_puts(out, "\\n");
    else if (c == '\\')
      sb_puts(out, "\\\\");
    else if (c >= 0x21 && c <= 0x7e)
      sb_putc(out, (char)c);
    else
      sb_printf(out, "\\x%02x", (unsigned)c);
  }
}

/* The expected outcome in the notation of actual ones: value tokens
   (`v/flags`) are decoded and encoded again, so `{z*3}/0` reads `zzz/0`. */
static char *normalize(const char *expect, size_t line_no) {
  sbuf out = {0};
  const char *t = expect;
  for (;;) {
    const char *sp = strchr(t, ' ');
    size_t n = sp ? (size_t)(sp - t) : strlen(t);
    const char *slash = NULL;
    uint64_t flags;
    for (const char *p = t; p < t + n; p++)
      if (*p == '/')
        slash = p; /* the last one, as rsplit_once */
    if (slash != NULL &&
        parse_u64_max(slash + 1, (size_t)(t + n - slash - 1), UINT32_MAX,
                      &flags)) {
      char *v = xstrndup(t, (size_t)(slash - t));
      bytes b = decode(v, line_no);
      encode(&out, b.p, b.len);
      sb_putn(&out, slash, (size_t)(t + n - slash));
      free(b.p);
      free(v);
    } else {
      sb_putn(&out, t, n);
    }
    if (sp == NULL)
      break;
    sb_putc(&out, ' ');
    t = sp + 1;
  }
  sb_reserve(&out, 0);
  return out.p;
}

/* ---- parsing the table --------------------------------------------------------- */

typedef struct line {
  size_t no;
  char *cmd;
  char **args;
  size_t nargs;
  char *flags, *expire, *reply; /* NULL when not given */
  char *expect;
} line;

typedef struct cases_case {
  char *name;
  line *lines;
  size_t nlines, cap;
} cases_case;

typedef struct table {
  cases_case *cases;
  size_t ncases, cap;
} table;

static bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

/* Split `s` (n bytes) at runs of whitespace into freshly allocated words. */
static void split_words(const char *s, size_t n, char ***words,
                        size_t *nwords) {
  size_t i = 0;
  *words = NULL;
  *nwords = 0;
  while (i < n) {
    size_t j;
    while (i < n && is_ws(s[i]))
      i++;
    if (i == n)
      break;
    j = i;
    while (j < n && !is_ws(s[j]))
      j++;
    *words = xrealloc(*words, (*nwords + 1) * sizeof **words);
    (*words)[(*nwords)++] = xstrndup(s + i, j - i);
    i = j;
  }
}

static void parse_line(table *tb, const char *s, size_t n, size_t no) {
  const char *arrow = NULL;
  size_t lhs_len;
  line l;
  char **words;
  size_t nwords;
  cases_case *c;

  memset(&l, 0, sizeof l);
  l.no = no;
  for (size_t i = 0; i + 4 <= n; i++)
    if (memcmp(s + i, " -> ", 4) == 0) {
      arrow = s + i;
      break;
    }
  if (arrow != NULL) {
    const char *e = arrow + 4, *end = s + n;
    lhs_len = (size_t)(arrow - s);
    while (e < end && is_ws(*e))
      e++;
    while (end > e && is_ws(end[-1]))
      end--;
    l.expect = xstrndup(e, (size_t)(end - e));
  } else {
    lhs_len = n;
    if (n >= 3 && memcmp(s + n - 3, " ->", 3) == 0)
      lhs_len = n - 3;
    l.expect = xstrndup("", 0);
  }

  split_words(s, lhs_len, &words, &nwords);
  if (nwords == 0)
    die("line %zu: no command", no);
  l.cmd = words[0];
  l.args = xmalloc(nwords * sizeof *l.args);
  for (size_t i = 1; i < nwords; i++) {
    char *w = words[i];
    char *eq = strchr(w, '=');
    char **opt = NULL;
    if (eq != NULL) {
      size_t k = (size_t)(eq - w);
      if (k == 5 && memcmp(w, "flags", 5) == 0)
        opt = &l.flags;
      else if (k == 6 && memcmp(w, "expire", 6) == 0)
        opt = &l.expire;
      else if (k == 5 && memcmp(w, "reply", 5) == 0)
        opt = &l.reply;
    }
    if (opt != NULL) {
      free(*opt); /* a later option overrides an earlier one */
      *opt = xstrndup(eq + 1, strlen(eq + 1));
      free(w);
    } else {
      l.args[l.nargs++] = w;
    }
  }
  free(words);

  if (tb->ncases == 0)
    die("line %zu: a command before the first \"== name\" case header", no);
  c = &tb->cases[tb->ncases - 1];
  if (c->nlines == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 16;
    c->lines = xrealloc(c->lines, c->cap * sizeof *c->lines);
  }
  c->lines[c->nlines++] = l;
}

static void parse_table(table *tb, const char *text, size_t size) {
  size_t pos = 0, no = 0;
  memset(tb, 0, sizeof *tb);
  while (pos < size) {
    const char *nl = memchr(text + pos, '\n', size - pos);
    size_t end = nl ? (size_t)(nl - text) : size;
    const char *s = text + pos;
    size_t n = end - pos;
    no++;
    pos = nl ? end + 1 : size;
    while (n > 0 && is_ws(s[0])) {
      s++;
      n--;
    }
    while (n > 0 && is_ws(s[n - 1]))
      n--;
    if (n == 0 || s[0] == '#')
      continue;
    if (n >= 3 && memcmp(s, "== ", 3) == 0) {
      if (tb->ncases == tb->cap) {
        tb->cap = tb->cap ? tb->cap * 2 : 16;
        tb->cases = xrealloc(tb->cases, tb->cap * sizeof *tb->cases);
      }
      memset(&tb->cases[tb->ncases], 0, sizeof tb->cases[0]);
      tb->cases[tb->ncases++].name = xstrndup(s + 3, n - 3);
      continue;
    }
    parse_line(tb, s, n, no);
  }
}

static void free_table(table *tb) {
  for (size_t i = 0; i < tb->ncases; i++) {
    cases_case *c = &tb->cases[i];
    for (size_t j = 0; j < c->nlines; j++) {
      line *l = &c->lines[j];
      free(l->cmd);
      for (size_t k = 0; k < l->nargs; k++)
        free(l->args[k]);
      free(l->args);
      free(l->flags);
      free(l->expire);
      free(l->reply);
      free(l->expect);
    }
    free(c->lines);
    free(c->name);
  }
  free(tb->cases);
  memset(tb, 0, sizeof *tb);
}

static char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  sbuf b = {0};
  char chunk[8192];
  size_t n;
  if (f == NULL)
    die("cannot open %s: %s", path, strerror(errno));
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    sb_putn(&b, chunk, n);
  if (ferror(f))
    die("cannot read %s", path);
  fclose(f);
  sb_reserve(&b, 0);
  *size = b.len;
  return b.p;
}

/* ---- the CAS uniques remembered by gets/gats/gets_many ---------------------- */

typedef struct cas_entry {
  bytes key;
  uint64_t cas;
} cas_entry;

typedef struct cas_map {
  cas_entry *e;
  size_t n, cap;
} cas_map;

static void cas_remember(cas_map *m, const uint8_t *k, size_t klen,
                         uint64_t cas) {
  for (size_t i = 0; i < m->n; i++)
    if (m->e[i].key.len == klen &&
        (klen == 0 || memcmp(m->e[i].key.p, k, klen) == 0)) {
      m->e[i].cas = cas;
      return;
    }
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 8;
    m->e = xrealloc(m->e, m->cap * sizeof *m->e);
  }
  m->e[m->n].key.p = xmalloc(klen);
  if (klen > 0)
    memcpy(m->e[m->n].key.p, k, klen);
  m->e[m->n].key.len = klen;
  m->e[m->n].cas = cas;
  m->n++;
}

static bool cas_lookup(const cas_map *m, const uint8_t *k, size_t klen,
                       uint64_t *cas) {
  for (size_t i = 0; i < m->n; i++)
    if (m->e[i].key.len == klen &&
        (klen == 0 || memcmp(m->e[i].key.p, k, klen) == 0)) {
      *cas = m->e[i].cas;
      return true;
    }
  return false;
}

static void cas_clear(cas_map *m) {
  for (size_t i = 0; i < m->n; i++)
    free(m->e[i].key.p);
  m->n = 0;
}

static void cas_free(cas_map *m) {
  cas_clear(m);
  free(m->e);
  memset(m, 0, sizeof *m);
}

/* ---- running one line ------------------------------------------------------------ */

/* The outcome of a status: OK, a soft outcome, or an error class. */
static void status_outcome(sbuf *out, pmc_status st) {
  switch (st) {
  case PMC_OK: sb_puts(out, "OK"); return;
  case PMC_MISS: sb_puts(out, "MISS"); return;
  case PMC_NOT_STORED: sb_puts(out, "NOT_STORED"); return;
  case PMC_EXISTS: sb_puts(out, "EXISTS"); return;
  case PMC_NOT_FOUND: sb_puts(out, "NOT_FOUND"); return;
  case PMC_ILLEGAL_INPUT: sb_puts(out, "err:ILLEGAL_INPUT"); return;
  case PMC_CLIENT_ERROR: sb_puts(out, "err:CLIENT_ERROR"); return;
  case PMC_SERVER_ERROR: sb_puts(out, "err:SERVER_ERROR"); return;
  case PMC_TOO_LARGE: sb_puts(out, "err:TOO_LARGE"); return;
  case PMC_UNKNOWN_COMMAND: sb_puts(out, "err:UNKNOWN_COMMAND"); return;
  default:
    if (st >= 10)
      sb_printf(out, "err:OTHER(%s: %s)", pmc_status_str(st),
                pmc_last_error_message());
    else
      sb_printf(out, "status:%s(%d)", pmc_status_str(st), (int)st);
  }
}

static void item_outcome(sbuf *out, const uint8_t *data, size_t len,
                         uint32_t flags) {
  if (len > 0 && data == NULL) {
    sb_printf(out, "(NULL data with length %zu)", len);
    return;
  }
  encode(out, data, len);
  sb_printf(out, "/%" PRIu32, flags);
}

typedef struct runner {
  pmc_client *client;
  cas_map cas;
} runner;

static void need_args(const line *l, size_t n) {
  if (l->nargs < n)
    die("line %zu: %s needs %zu argument(s), has %zu", l->no, l->cmd, n,
        l->nargs);
}

static int64_t num_i64(const line *l, const char *s) {
  int64_t v;
  if (!parse_i64(s, &v))
    die("line %zu: `%s` is not an integer", l->no, s);
  return v;
}

static uint64_t num_u64(const line *l, const char *s) {
  uint64_t v;
  if (!parse_u64_max(s, strlen(s), UINT64_MAX, &v))
    die("line %zu: `%s` is not an unsigned integer", l->no, s);
  return v;
}

/* Decoded keys of every argument (for the many-key commands). */
typedef struct key_list {
  bytes *k;
  const uint8_t **ptrs;
  size_t *lens;
  size_t n;
} key_list;

static void keys_make(key_list *kl, const line *l) {
  kl->n = l->nargs;
  kl->k = xmalloc(kl->n * sizeof *kl->k);
  kl->ptrs = xmalloc(kl->n * sizeof *kl->ptrs);
  kl->lens = xmalloc(kl->n * sizeof *kl->lens);
  for (size_t i = 0; i < kl->n; i++) {
    kl->k[i] = decode(l->args[i], l->no);
    kl->ptrs[i] = kl->k[i].p;
    kl->lens[i] = kl->k[i].len;
  }
}

static void keys_free(key_list *kl) {
  for (size_t i = 0; i < kl->n; i++)
    free(kl->k[i].p);
  free(kl->k);
  free(kl->ptrs);
  free(kl->lens);
}

static void sleep_ms(uint64_t ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

typedef pmc_status (*store_fn)(const pmc_client *, const uint8_t *, size_t,
                               const uint8_t *, size_t, uint32_t, int64_t,
                               pmc_reply, pmc_error **);

/* Run line `l`; its outcome goes to `out`. */
static void run_line(runner *r, const line *l, sbuf *out) {
  const char *cmd = l->cmd;
  uint32_t flags = l->flags ? (uint32_t)num_i64(l, l->flags) : 0;
  int64_t expire = l->expire ? num_i64(l, l->expire) : 0;
  pmc_reply reply = PMC_REPLY_DEFAULT;
  pmc_client *c = r->client;
  pmc_status st;

  if (l->reply == NULL || strcmp(l->reply, "default") == 0)
    reply = PMC_REPLY_DEFAULT;
  else if (strcmp(l->reply, "wait") == 0)
    reply = PMC_REPLY_WAIT;
  else if (strcmp(l->reply, "none") == 0)
    reply = PMC_REPLY_NONE;
  else
    die("line %zu: reply=%s", l->no, l->reply);

  if (!strcmp(cmd, "set") || !strcmp(cmd, "add") || !strcmp(cmd, "replace") ||
      !strcmp(cmd, "append") || !strcmp(cmd, "prepend")) {
    store_fn fn = !strcmp(cmd, "set")       ? pmc_set
                  : !strcmp(cmd, "add")     ? pmc_add
                  : !strcmp(cmd, "replace") ? pmc_replace
                  : !strcmp(cmd, "append")  ? pmc_append
                                            : pmc_prepend;
    bytes k, v;
    need_args(l, 2);
    k = decode(l->args[0], l->no);
    v = decode(l->args[1], l->no);
    st = fn(c, k.p, k.len, v.p, v.len, flags, expire, reply, NULL);
    status_outcome(out, st);
    free(k.p);
    free(v.p);
  } else if (!strcmp(cmd, "cas")) {
    bytes k, v;
    uint64_t unique = 0;
    bool have = true;
    need_args(l, 3);
    k = decode(l->args[0], l->no);
    v = decode(l->args[1], l->no);
    if (l->args[2][0] == '$') {
      bytes ck = decode(l->args[2] + 1, l->no);
      have = cas_lookup(&r->cas, ck.p, ck.len, &unique);
      free(ck.p);
    } else {
      unique = num_u64(l, l->args[2]);
    }
    if (!have) {
      /* tests/conformance.rs fails here too: no gets/gats/gets_many of
         this key returned a CAS unique. */
      sb_printf(out, "(no CAS unique remembered for %s)", l->args[2]);
    } else {
      st = pmc_cas(c, k.p, k.len, v.p, v.len, unique, flags, expire, reply, NULL);
      status_outcome(out, st);
    }
    free(k.p);
    free(v.p);
  } else if (!strcmp(cmd, "get") || !strcmp(cmd, "gets") ||
             !strcmp(cmd, "gat") || !strcmp(cmd, "gats")) {
    bool touch = cmd[1] == 'a'; /* gat, gats */
    bool with_cas = cmd[strlen(cmd) - 1] == 's';
    pmc_value v = {0};
    int64_t exp = 0;
    bytes k;
    need_args(l, touch ? 2 : 1);
    if (touch)
      exp = num_i64(l, l->args[0]);
    k = decode(l->args[touch ? 1 : 0], l->no);
    if (!touch)
      st = with_cas ? pmc_gets(c, k.p, k.len, &v, NULL) : pmc_get(c, k.p, k.len, &v, NULL);
    else
      st = with_cas ? pmc_gats(c, k.p, k.len, exp, &v, NULL)
                    : pmc_gat(c, k.p, k.len, exp, &v, NULL);
    if (st == PMC_OK) {
      item_outcome(out, v.data, v.len, v.flags);
      if (with_cas)
        cas_remember(&r->cas, k.p, k.len, v.cas);
      else if (!touch && v.cas != 0) /* as the Rust driver's assertion */
        sb_printf(out, " (get gave CAS unique %" PRIu64 ")", v.cas);
    } else {
      status_outcome(out, st);
    }
    pmc_value_free(&v);
    free(k.p);
  } else if (!strcmp(cmd, "get_many") || !strcmp(cmd, "gets_many")) {
    bool with_cas = cmd[3] == 's';
    pmc_results *res = NULL;
    key_list kl;
    keys_make(&kl, l);
    st = with_cas ? pmc_gets_many(c, kl.ptrs, kl.lens, kl.n, &res, NULL)
                  : pmc_get_many(c, kl.ptrs, kl.lens, kl.n, &res, NULL);
    if (st == PMC_OK) {
      /* slot[i]: the hit for key i (misses are left out of the results). */
      pmc_item *slot = xmalloc(kl.n * sizeof *slot);
      bool *hit = xmalloc(kl.n * sizeof *hit);
      size_t len = pmc_results_len(res);
      sbuf problems = {0};
      for (size_t i = 0; i < kl.n; i++)
        hit[i] = false;
      if (res == NULL)
        sb_puts(&problems, " (PMC_OK without a results handle)");
      for (size_t i = 0; i < len; i++) {
        pmc_item it;
        pmc_status ist = pmc_results_at(res, i, &it, NULL);
        if (ist != PMC_OK) {
          sb_printf(&problems, " (pmc_results_at(%zu) gave %s)", i,
                    pmc_status_str(ist));
          continue;
        }
        if (it.index >= kl.n) {
          sb_printf(&problems, " (hit %zu has index %zu of %zu keys)", i,
                    it.index, kl.n);
          continue;
        }
        if (hit[it.index]) {
          sb_printf(&problems, " (index %zu reported twice)", it.index);
          continue;
        }
        if (it.key_len != kl.lens[it.index] ||
            (it.key_len > 0 &&
             (it.key == NULL ||
              memcmp(it.key, kl.ptrs[it.index], it.key_len) != 0)))
          sb_printf(&problems, " (hit %zu: key differs from key %zu)", i,
                    it.index);
        hit[it.index] = true;
        slot[it.index] = it;
      }
      for (size_t i = 0; i < kl.n; i++) {
        if (i > 0)
          sb_putc(out, ' ');
        if (hit[i]) {
          item_outcome(out, slot[i].value, slot[i].value_len, slot[i].flags);
          if (with_cas)
            cas_remember(&r->cas, kl.ptrs[i], kl.lens[i], slot[i].cas);
        } else {
          sb_puts(out, "MISS");
        }
      }
      if (problems.len > 0)
        sb_puts(out, sb_str(&problems));
      sb_free(&problems);
      free(slot);
      free(hit);
      pmc_results_free(res);
    } else {
      status_outcome(out, st);
    }
    keys_free(&kl);
  } else if (!strcmp(cmd, "set_many")) {
    size_t n = l->nargs;
    bytes *k = xmalloc(n * sizeof *k), *v = xmalloc(n * sizeof *v);
    const uint8_t **kp = xmalloc(n * sizeof *kp), **vp = xmalloc(n * sizeof *vp);
    size_t *kn = xmalloc(n * sizeof *kn), *vn = xmalloc(n * sizeof *vn);
    size_t *failed = xmalloc(n * sizeof *failed);
    size_t n_failed = 0;
    for (size_t i = 0; i < n; i++) {
      char *eq = strchr(l->args[i], '=');
      char *key;
      if (eq == NULL)
        die("line %zu: set_many takes key=value, not `%s`", l->no,
            l->args[i]);
      key = xstrndup(l->args[i], (size_t)(eq - l->args[i]));
      k[i] = decode(key, l->no);
      v[i] = decode(eq + 1, l->no);
      free(key);
      kp[i] = k[i].p;
      kn[i] = k[i].len;
      vp[i] = v[i].p;
      vn[i] = v[i].len;
    }
    st = pmc_set_many(c, kp, kn, vp, vn, n, flags, expire, reply, failed,
                      &n_failed, NULL);
    if (st == PMC_OK || st == PMC_NOT_STORED) {
      sb_puts(out, "failed:");
      for (size_t i = 0; i < n_failed && i < n; i++)
        sb_printf(out, "%s%zu", i > 0 ? "," : "", failed[i]);
      if (n_failed > n)
        sb_printf(out, " (n_failed %zu for %zu items)", n_failed, n);
      if ((st == PMC_OK) != (n_failed == 0))
        sb_printf(out, " (%s with %zu failed)", pmc_status_str(st), n_failed);
    } else {
      status_outcome(out, st);
    }
    for (size_t i = 0; i < n; i++) {
      free(k[i].p);
      free(v[i].p);
    }
    free(k);
    free(v);
    free(kp);
    free(vp);
    free(kn);
    free(vn);
    free(failed);
  } else if (!strcmp(cmd, "delete")) {
    bytes k;
    need_args(l, 1);
    k = decode(l->args[0], l->no);
    st = pmc_delete(c, k.p, k.len, reply, NULL);
    status_outcome(out, st);
    free(k.p);
  } else if (!strcmp(cmd, "delete_many")) {
    key_list kl;
    size_t deleted = 0;
    keys_make(&kl, l);
    st = pmc_delete_many(c, kl.ptrs, kl.lens, kl.n, reply, &deleted, NULL);
    if (st == PMC_OK)
      sb_printf(out, "%zu", deleted);
    else
      status_outcome(out, st);
    keys_free(&kl);
  } else if (!strcmp(cmd, "incr") || !strcmp(cmd, "decr")) {
    uint64_t delta, new_value = 0;
    bytes k;
    need_args(l, 2);
    delta = num_u64(l, l->args[1]);
    k = decode(l->args[0], l->no);
    st = cmd[0] == 'i' ? pmc_incr(c, k.p, k.len, delta, reply, &new_value, NULL)
                       : pmc_decr(c, k.p, k.len, delta, reply, &new_value, NULL);
    if (st == PMC_OK && reply == PMC_REPLY_NONE)
      sb_puts(out, "NONE"); /* sent with noreply: no new value */
    else if (st == PMC_OK)
      sb_printf(out, "%" PRIu64, new_value);
    else
      status_outcome(out, st);
    free(k.p);
  } else if (!strcmp(cmd, "touch")) {
    bytes k;
    int64_t exp;
    need_args(l, 2);
    exp = num_i64(l, l->args[1]);
    k = decode(l->args[0], l->no);
    st = pmc_touch(c, k.p, k.len, exp, reply, NULL);
    status_outcome(out, st);
    free(k.p);
  } else if (!strcmp(cmd, "flush_all")) {
    int64_t delay = l->nargs > 0 ? num_i64(l, l->args[0]) : 0;
    st = pmc_flush_all(c, delay, PMC_REPLY_WAIT, NULL);
    status_outcome(out, st);
  } else if (!strcmp(cmd, "sleep")) {
    need_args(l, 1);
    sleep_ms(num_u64(l, l->args[0]));
  } else {
    die("line %zu: unknown command %s", l->no, cmd);
  }
}

/* ---- client kinds ---------------------------------------------------------------- */

typedef enum kind { KIND_TCP, KIND_MOCK } kind;

static pmc_client *make_client(kind k, const char *server) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  pmc_status st;
  if (o == NULL)
    die("pmc_options_new failed");
  /* As the Rust driver: a timeout so that a hung server fails the run
     instead of blocking it. no_delay only spares the delayed-ACK wait after
     noreply commands; it changes no outcome. */
  CHECK_OK(pmc_options_set_timeout_ms(o, 10000, NULL));
  CHECK_OK(pmc_options_set_no_delay(o, true, NULL));
  if (k == KIND_TCP) {
    CHECK_OK(pmc_options_add_server(o, server, NULL));
  } else {
#ifdef PMC_HAVE_MOCK
    CHECK_OK(pmc_options_set_mock(o, true, NULL));
#else
    die("this build has no pmc_options_set_mock");
#endif
  }
  st = pmc_client_new(o, &c, NULL);
  pmc_options_free(o);
  if (st != PMC_OK)
    die("pmc_client_new: %s: %s", pmc_status_str(st),
        pmc_last_error_message());
  return c;
}

/* Empty the cache before a case. */
static void reset(runner *r, kind k, const char *server) {
  if (k == KIND_TCP) {
    pmc_status st = pmc_flush_all(r->client, 0, PMC_REPLY_WAIT, NULL);
    if (st != PMC_OK)
      die("flush_all before a case: %s: %s", pmc_status_str(st),
          pmc_last_error_message());
  } else {
    pmc_client_free(r->client);
    r->client = make_client(k, server);
  }
  cas_clear(&r->cas);
}

/* `s`, or its first 120 bytes and its length when longer. */
static void print_short(const char *s) {
  size_t n = strlen(s);
  if (n > 120)
    printf("%.120s... (%zu chars)", s, n);
  else
    fputs(s, stdout);
}

int main(int argc, char **argv) {
  const char *cases_path, *kind_name;
  char *text;
  size_t size, count = 0, ndiffs = 0;
  table tb;
  test_env env;
  kind k;
  runner r;

  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s CASES_FILE tcp STATE_DIR\n"
                    "       %s CASES_FILE mock [STATE_DIR]\n",
            argv[0], argv[0]);
    return EXIT_BAD_INPUT;
  }
  cases_path = argv[1];
  kind_name = argv[2];
  memset(&env, 0, sizeof env);
  if (strcmp(kind_name, "tcp") == 0) {
    char *env_argv[2];
    if (argc != 4)
      die("the tcp kind needs the fixture's STATE_DIR");
    env_argv[0] = argv[0];
    env_argv[1] = argv[3];
    test_env_load(&env, 2, env_argv);
    k = KIND_TCP;
  } else if (strcmp(kind_name, "mock") == 0) {
#ifndef PMC_HAVE_MOCK
    printf("conformance: skipped: include/pymemcache.h has no "
           "pmc_options_set_mock (client kind: mock)\n");
    return EXIT_SKIPPED;
#else
    k = KIND_MOCK;
#endif
  } else {
    die("unknown client kind `%s` (tcp or mock)", kind_name);
  }

  text = read_file(cases_path, &size);
  parse_table(&tb, text, size);
  free(text);
  if (tb.ncases == 0)
    die("%s holds no cases", cases_path);

  memset(&r, 0, sizeof r);
  r.client = make_client(k, env.server);
  for (size_t ci = 0; ci < tb.ncases; ci++) {
    const cases_case *cs = &tb.cases[ci];
    reset(&r, k, env.server);
    for (size_t li = 0; li < cs->nlines; li++) {
      const line *l = &cs->lines[li];
      sbuf got = {0}, args = {0};
      char *want;
      run_line(&r, l, &got);
      count++;
      want = normalize(l->expect, l->no);
      if (strcmp(l->cmd, "sleep") != 0 && strcmp(sb_str(&got), want) != 0) {
        for (size_t a = 0; a < l->nargs; a++) {
          if (a > 0)
            sb_putc(&args, ' ');
          sb_puts(&args, l->args[a]);
        }
        printf("%s / %s line %zu: `%s ", kind_name, cs->name, l->no, l->cmd);
        print_short(sb_str(&args));
        fputs("` gave `", stdout);
        print_short(sb_str(&got));
        fputs("`, table says `", stdout);
        print_short(want);
        fputs("`\n", stdout);
        ndiffs++;
      }
      free(want);
      sb_free(&got);
      sb_free(&args);
    }
  }
  pmc_client_free(r.client);
  cas_free(&r.cas);

  if (ndiffs > 0) {
    printf("conformance: %zu difference%s in %zu lines of %zu cases (client "
           "kind: %s)\n",
           ndiffs, ndiffs == 1 ? "" : "s", count, tb.ncases, kind_name);
    free_table(&tb);
    return EXIT_DIFFERENCES;
  }
  printf("conformance: %zu lines in %zu cases conform (client kind: %s)\n",
         count, tb.ncases, kind_name);
  free_table(&tb);
  return 0;
}

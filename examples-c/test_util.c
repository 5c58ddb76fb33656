/*
 * test_util.c: see test_util.h. Plain POSIX: sockets, posix_spawn, pthreads.
 */
#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- checks ---------------------------------------------------------------- */

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  exit(1);
}

void check_str(const char *file, int line, const char *what, const char *got,
               const char *want) {
  if (got == NULL || want == NULL) {
    if (got != want)
      test_fail(file, line, "%s is %s%s%s, expected %s%s%s", what,
                got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
                want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
    return;
  }
  if (strcmp(got, want) != 0)
    test_fail(file, line, "%s is \"%s\", expected \"%s\"", what, got, want);
}

void check_contains(const char *file, int line, const char *what,
                    const char *haystack, const char *needle) {
  if (haystack == NULL || strstr(haystack, needle) == NULL)
    test_fail(file, line, "%s (\"%s\") does not contain \"%s\"", what,
              haystack ? haystack : "(NULL)", needle);
}

void check_last_error(const char *file, int line, pmc_status status,
                      const char *needle) {
  const char *msg = pmc_last_error_message();
  const char *name = pmc_status_str(status);
  if (msg == NULL)
    test_fail(file, line, "pmc_last_error_message() returned NULL");
  if (strncmp(msg, name, strlen(name)) != 0)
    test_fail(file, line, "last error message \"%s\" does not start with %s",
              msg, name);
  if (needle != NULL && strstr(msg, needle) == NULL)
    test_fail(file, line, "last error message \"%s\" does not contain \"%s\"",
              msg, needle);
}

/* Print a few bytes around `at` in both buffers, escaped. */
static void show_bytes(const char *label, const uint8_t *p, size_t len,
                       size_t at) {
  size_t from = at > 8 ? at - 8 : 0;
  size_t to = at + 8 < len ? at + 8 : len;
  fprintf(stderr, "  %s[%zu..%zu]:", label, from, to);
  for (size_t i = from; i < to; i++)
    fprintf(stderr, " %02x", p[i]);
  fputc('\n', stderr);
}

void check_mem(const char *file, int line, const char *what, const void *got,
               size_t got_len, const void *want, size_t want_len) {
  const uint8_t *g = got, *w = want;
  size_t n = got_len < want_len ? got_len : want_len;
  size_t i = 0;
  if (n > 0 && (g == NULL || w == NULL))
    test_fail(file, line, "%s: NULL buffer with length %zu", what, n);
  while (i < n && g[i] == w[i])
    i++;
  if (i == n && got_len == want_len)
    return;
  fprintf(stderr, "%s:%d: %s differs: %zu bytes, expected %zu; first "
                  "difference at byte %zu\n",
          file, line, what, got_len, want_len, i);
  if (g != NULL)
    show_bytes("got ", g, got_len, i);
  if (w != NULL)
    show_bytes("want", w, want_len, i);
  exit(1);
}

void check_value(const char *file, int line, const char *what,
                 const pmc_value *v, const void *want, size_t want_len) {
  if (want_len == 0) {
    if (v->len != 0 || v->data != NULL)
      test_fail(file, line, "%s: expected an empty value (data NULL, len 0), "
                            "got data %p len %zu",
                what, (void *)v->data, v->len);
    return;
  }
  if (v->data == NULL)
    test_fail(file, line, "%s: data is NULL, expected %zu bytes", what,
              want_len);
  check_mem(file, line, what, v->data, v->len, want, want_len);
  if (v->data[v->len] != 0)
    test_fail(file, line, "%s: no NUL byte after the %zu bytes", what, v->len);
}

/* ---- the fixture's servers --------------------------------------------------- */

/* Read the first line of dir/name into buf; false if there is none. */
static bool read_line_file(const char *dir, const char *name, char *buf,
                           size_t size) {
  char path[1200];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "r");
  if (f == NULL)
    return false;
  if (fgets(buf, (int)size, f) == NULL) {
    fclose(f);
    return false;
  }
  fclose(f);
  buf[strcspn(buf, "\r\n")] = '\0';
  return buf[0] != '\0';
}

static void copy_str(char *dst, size_t size, const char *src) {
  snprintf(dst, size, "%s", src);
}

void test_env_load(test_env *env, int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : getenv("PMC_TEST_STATE_DIR");
  const char *server = getenv("PMC_TEST_SERVER");
  const char *sock = getenv("PMC_TEST_SOCKET");
  memset(env, 0, sizeof *env);
  if (dir != NULL)
    copy_str(env->state_dir, sizeof env->state_dir, dir);
  if (server != NULL && server[0] != '\0')
    copy_str(env->server, sizeof env->server, server);
  else if (dir == NULL ||
           !read_line_file(dir, "server", env->server, sizeof env->server))
    FAIL("no memcached: pass the fixture's state directory as argv[1] (or "
         "set PMC_TEST_STATE_DIR, or PMC_TEST_SERVER and PMC_TEST_SOCKET)");
  if (sock != NULL && sock[0] != '\0')
    copy_str(env->socket, sizeof env->socket, sock);
  else if (dir == NULL ||
           !read_line_file(dir, "socket", env->socket, sizeof env->socket))
    FAIL("no memcached UNIX socket: the fixture's state directory has no "
         "\"socket\" file and PMC_TEST_SOCKET is not set");
  if (dir != NULL)
    read_line_file(dir, "version", env->version, sizeof env->version);
}

pmc_client *test_client_noreply(const char *server, const char *ns,
                                bool default_noreply) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  CHECK(o != NULL);
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_default_noreply(o, default_noreply, NULL));
  if (ns != NULL) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.%ld.", ns, (long)getpid());
    CHECK_OK(pmc_options_set_key_prefix(o, BYTES(prefix), NULL));
  }
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  CHECK(c != NULL);
  return c;
}

pmc_client *test_client(const char *server, const char *ns) {
  return test_client_noreply(server, ns, true);
}

/* ---- private memcached processes ------------------------------------------------ */

/* Copies of the servers still running, so that they are stopped at exit
   even when a check fails half-way (test_fail calls exit). */
#define MAX_PRIVATE 16
static test_memcached running[MAX_PRIVATE];
static bool atexit_registered;

static void forget(const test_memcached *m) {
  for (int i = 0; i < MAX_PRIVATE; i++)
    if (running[i].pid != 0 && strcmp(running[i].dir, m->dir) == 0)
      memset(&running[i], 0, sizeof running[i]);
}

/* Mark a server as exited (reaped) but keep its files listed for cleanup. */
static void mark_exited(const test_memcached *m) {
  for (int i = 0; i < MAX_PRIVATE; i++)
    if (running[i].pid != 0 && strcmp(running[i].dir, m->dir) == 0)
      running[i].pid = -1;
}

static void stop_all_at_exit(void) {
  for (int i = 0; i < MAX_PRIVATE; i++)
    if (running[i].pid != 0) {
      test_memcached copy = running[i];
      test_memcached_stop(&copy);
    }
}

/* True when the server at path answers `version` within a second. A full
   round trip, not just connect(): memcached counts a connection (stats
   total_connections) in a worker thread some time after accepting it, and
   the probe must be counted before a test reads that counter. */
static bool unix_answers(const char *path) {
  struct sockaddr_un sa;
  size_t len = strlen(path), got = 0;
  char buf[128];
  int fd;
  bool ok = false;
  long long deadline;
  if (len >= sizeof sa.sun_path)
    FAIL("socket path too long: %s", path);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, len + 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      send(fd, "version\r\n", 9, MSG_NOSIGNAL) != 9) {
    close(fd);
    return false;
  }
  deadline = test_now_ms() + 1000;
  while (!ok && got < sizeof buf && test_now_ms() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t n;
    if (poll(&p, 1, 100) <= 0)
      continue;
    n = recv(fd, buf + got, sizeof buf - got, 0);
    if (n <= 0)
      break;
    got += (size_t)n;
    ok = memchr(buf, '\n', got) != NULL;
  }
  close(fd);
  return ok;
}

static void spawn_at(test_memcached *m, const char *const *extra_args);

void test_memcached_start(test_memcached *m, const char *const *extra_args) {
  const char *tmp = getenv("TMPDIR");

  memset(m, 0, sizeof *m);
  snprintf(m->dir, sizeof m->dir, "%s/pmc-test-XXXXXX",
           tmp != NULL && tmp[0] != '\0' && strlen(tmp) < 60 ? tmp : "/tmp");
  if (mkdtemp(m->dir) == NULL)
    FAIL("mkdtemp(%s): %s", m->dir, strerror(errno));
  snprintf(m->addr, sizeof m->addr, "%s/memcached.sock", m->dir);
  spawn_at(m, extra_args);
}

void test_memcached_kill(test_memcached *m) {
  if (m->pid > 0) {
    int st;
    kill(m->pid, SIGKILL);
    waitpid(m->pid, &st, 0);
  }
  forget(m);
  m->pid = 0;
  unlink(m->addr);
}

void test_memcached_restart(test_memcached *m, const char *const *extra_args) {
  if (m->pid > 0)
    test_memcached_kill(m);
  spawn_at(m, extra_args);
}

/* Start memcached on m->addr (in m->dir) and wait until it accepts. */
static void spawn_at(test_memcached *m, const char *const *extra_args) {
  const char *bin = getenv("MEMCACHED");
  const char *argv[32];
  int argc = 0, slot = -1;
  posix_spawn_file_actions_t fa;
  long long deadline;

  if (bin == NULL || bin[0] == '\0')
    bin = "memcached";
  argv[argc++] = bin;
  argv[argc++] = "-s";
  argv[argc++] = m->addr;
  argv[argc++] = "-a";
  argv[argc++] = "0700";
  argv[argc++] = "-m";
  argv[argc++] = "64";
  argv[argc++] = "-I";
  argv[argc++] = "1m";
  if (geteuid() == 0) { /* memcached refuses to run as root otherwise */
    argv[argc++] = "-u";
    argv[argc++] = "root";
  }
  for (int i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
    if (argc >= 30)
      FAIL("too many memcached arguments");
    argv[argc++] = extra_args[i];
  }
  argv[argc] = NULL;

  for (int i = 0; i < MAX_PRIVATE && slot < 0; i++)
    if (running[i].pid == 0)
      slot = i;
  if (slot < 0)
    FAIL("too many private memcached servers");
  if (!atexit_registered) {
    atexit(stop_all_at_exit);
    atexit_registered = true;
  }

  /* memcached's stdout is noise; its stderr stays visible in test logs. */
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (posix_spawnp(&m->pid, bin, &fa, NULL, (char *const *)argv, environ) !=
      0)
    FAIL("cannot start %s", bin);
  posix_spawn_file_actions_destroy(&fa);
  running[slot] = *m;

  deadline = test_now_ms() + 10000;
  while (!unix_answers(m->addr)) {
    int st;
    if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
      mark_exited(m);
      m->pid = -1;
      FAIL("%s exited before accepting connections on %s", bin, m->addr);
    }
    if (test_now_ms() > deadline)
      FAIL("%s did not accept connections on %s within 10 s", bin, m->addr);
    test_sleep_ms(10);
  }
}

void test_memcached_pause(test_memcached *m) {
  int st = 0;
  if (m->pid <= 0 || kill(m->pid, SIGSTOP) != 0)
    FAIL("cannot stop memcached (pid %ld)", (long)m->pid);
  /* WUNTRACED reports the stop of a child without reaping it. */
  if (waitpid(m->pid, &st, WUNTRACED) != m->pid || !WIFSTOPPED(st))
    FAIL("memcached (pid %ld) did not stop", (long)m->pid);
}

void test_memcached_stop(test_memcached *m) {
  if (m->pid > 0) {
    int st;
    kill(m->pid, SIGTERM);
    waitpid(m->pid, &st, 0);
  }
  forget(m);
  m->pid = 0;
  unlink(m->addr);
  rmdir(m->dir);
}

bool test_memcached_wait_exit(test_memcached *m, int timeout_ms) {
  long long deadline = test_now_ms() + timeout_ms;
  int st;
  if (m->pid <= 0)
    return true;
  for (;;) {
    if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
      mark_exited(m);
      m->pid = -1;
      return true;
    }
    if (test_now_ms() > deadline)
      return false;
    test_sleep_ms(10);
  }
}

/* ---- sockets that misbehave ------------------------------------------------------- */

static int bound_tcp_socket(char *addr, size_t addr_size) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    FAIL("socket: %s", strerror(errno));
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    FAIL("bind: %s", strerror(errno));
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
    FAIL("getsockname: %s", strerror(errno));
  snprintf(addr, addr_size, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
  return fd;
}

int test_socket_refusing(char *addr, size_t addr_size) {
  return bound_tcp_socket(addr, addr_size);
}

int test_socket_silent(char *addr, size_t addr_size, int backlog) {
  int fd = bound_tcp_socket(addr, addr_size);
  if (listen(fd, backlog) != 0)
    FAIL("listen: %s", strerror(errno));
  return fd;
}

/* ---- a scripted fake server ---------------------------------------------------------- */

typedef struct conn_reader {
  int fd;
  int wake;
  char buf[8192];
  size_t start, end;
} conn_reader;

/* Wait until `fd` is readable; false if the wake pipe fired first. */
static bool wait_readable(int fd, int wake) {
  struct pollfd p[2];
  p[0].fd = fd;
  p[0].events = POLLIN;
  p[1].fd = wake;
  p[1].events = POLLIN;
  for (;;) {
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || (p[1].revents & POLLIN))
      return false;
    if (p[0].revents)
      return true;
  }
}

/* Read more bytes; false on EOF, error or stop. */
static bool reader_fill(conn_reader *r) {
  ssize_t n;
  if (r->start > 0) {
    memmove(r->buf, r->buf + r->start, r->end - r->start);
    r->end -= r->start;
    r->start = 0;
  }
  if (r->end == sizeof r->buf)
    return false; /* a line longer than the buffer: not a client we know */
  if (!wait_readable(r->fd, r->wake))
    return false;
  n = read(r->fd, r->buf + r->end, sizeof r->buf - r->end);
  if (n <= 0)
    return false;
  r->end += (size_t)n;
  return true;
}

/* Next line without "\r\n", NUL-terminated in `line`; false at EOF. */
static bool reader_line(conn_reader *r, char *line, size_t size) {
  for (;;) {
    char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
    if (nl != NULL) {
      size_t len = (size_t)(nl - (r->buf + r->start));
      size_t copy = len < size - 1 ? len : size - 1;
      memcpy(line, r->buf + r->start, copy);
      line[copy] = '\0';
      if (copy > 0 && line[copy - 1] == '\r')
        line[copy - 1] = '\0';
      r->start += len + 1;
      return true;
    }
    if (!reader_fill(r))
      return false;
  }
}

/* Skip `n` bytes (a value block); false at EOF. */
static bool reader_skip(conn_reader *r, size_t n) {
  while (n > 0) {
    size_t have = r->end - r->start;
    size_t take = have < n ? have : n;
    r->start += take;
    n -= take;
    if (n > 0 && !reader_fill(r))
      return false;
  }
  return true;
}

static void send_str(int fd, const char *s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
    if (n <= 0)
      return; /* the client went away; nothing to do */
    s += n;
    len -= (size_t)n;
  }
}

/* Split `line` at spaces into at most `max` words (modifies it). */
static int split_words(char *line, char **words, int max) {
  int n = 0;
  char *save = NULL;
  for (char *w = strtok_r(line, " ", &save); w != NULL && n < max;
       w = strtok_r(NULL, " ", &save))
    words[n++] = w;
  return n;
}

/* Serve one connection; returns when the client closes or on stop. */
static void fake_serve(fake_server *f, int fd) {
  conn_reader r;
  char line[4096], reply[4400];
  memset(&r, 0, sizeof r);
  r.fd = fd;
  r.wake = f->wake[0];
  while (reader_line(&r, line, sizeof line)) {
    char *w[8];
    int n;
    pthread_mutex_lock(&f->lock);
    f->lines++;
    pthread_mutex_unlock(&f->lock);
    n = split_words(line, w, 8);
    if (n == 0)
      continue;
    switch (f->mode) {
    case FAKE_STORE:
      if (n >= 5 && (!strcmp(w[0], "set") || !strcmp(w[0], "add") ||
                     !strcmp(w[0], "replace") || !strcmp(w[0], "append") ||
                     !strcmp(w[0], "prepend") || !strcmp(w[0], "cas"))) {
        size_t len = (size_t)strtoul(w[4], NULL, 10);
        bool noreply = !strcmp(w[n - 1], "noreply");
        if (!reader_skip(&r, len + 2))
          return;
        if (!noreply)
          send_str(fd, strstr(w[1], "fail") ? "NOT_STORED\r\n" : "STORED\r\n");
      } else if (!strcmp(w[0], "get") || !strcmp(w[0], "gets")) {
        send_str(fd, "END\r\n");
      } else if (!strcmp(w[0], "quit")) {
        return;
      } else {
        send_str(fd, "ERROR\r\n");
      }
      break;
    case FAKE_CLOSE_MID_VALUE:
      snprintf(reply, sizeof reply, "VALUE %s 0 10\r\nabc",
               n > 1 ? w[1] : "k");
      send_str(fd, reply);
      return;
    case FAKE_GARBAGE:
      send_str(fd, "HELLO THERE, THIS IS NOT MEMCACHED\r\n");
      break;
    case FAKE_HUGE_VALUE:
      snprintf(reply, sizeof reply, "VALUE %s 0 999999999\r\n",
               n > 1 ? w[1] : "k");
      send_str(fd, reply);
      break;
    case FAKE_GATED: {
      char b;
      if (!wait_readable(f->gate[0], f->wake[0]) || read(f->gate[0], &b, 1) != 1)
        return;
      send_str(fd, "END\r\n");
      break;
    }
    }
  }
}

static void *fake_main(void *arg) {
  fake_server *f = arg;
  for (;;) {
    int fd;
    if (!wait_readable(f->listen_fd, f->wake[0]))
      return NULL;
    fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    fake_serve(f, fd);
    close(fd);
  }
}

void fake_server_start(fake_server *f, fake_mode mode) {
  memset(f, 0, sizeof *f);
  f->mode = mode;
  f->listen_fd = test_socket_silent(f->addr, sizeof f->addr, 16);
  if (pipe(f->wake) != 0 || pipe(f->gate) != 0)
    FAIL("pipe: %s", strerror(errno));
  pthread_mutex_init(&f->lock, NULL);
  if (pthread_create(&f->thread, NULL, fake_main, f) != 0)
    FAIL("pthread_create failed");
}

void fake_server_stop(fake_server *f) {
  if (write(f->wake[1], "x", 1) != 1)
    FAIL("write to the wake pipe: %s", strerror(errno));
  pthread_join(f->thread, NULL);
  close(f->listen_fd);
  close(f->wake[0]);
  close(f->wake[1]);
  close(f->gate[0]);
  close(f->gate[1]);
  pthread_mutex_destroy(&f->lock);
}

void fake_server_release(fake_server *f) {
  if (write(f->gate[1], "g", 1) != 1)
    FAIL("write to the gate pipe: %s", strerror(errno));
}

unsigned long fake_server_lines(fake_server *f) {
  unsigned long n;
  pthread_mutex_lock(&f->lock);
  n = f->lines;
  pthread_mutex_unlock(&f->lock);
  return n;
}

/* ---- misc ------------------------------------------------------------------------------ */

long long test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void test_sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/*
 * fixture_probe: a helper for memcached-fixture.sh and pmc-cli-test.sh,
 * written without libpymemcache so that starting the test servers does not
 * depend on the library under test.
 *
 *   fixture_probe free-port
 *       print a TCP port on 127.0.0.1 that is free right now
 *   fixture_probe wait ADDRESS PID TIMEOUT_MS
 *       wait until the memcached at ADDRESS ("127.0.0.1:PORT" or a socket
 *       path) answers `stats` with "STAT pid PID" - i.e. until the process
 *       we started (and not some other server that happens to hold the
 *       port) accepts connections; exit 0 then, 1 on timeout
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int usage(void) {
  fprintf(stderr, "usage: fixture_probe free-port\n"
                  "       fixture_probe wait ADDRESS PID TIMEOUT_MS\n");
  return 2;
}

static int free_port(void) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return 1;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    perror("fixture_probe: bind");
    close(fd);
    return 1;
  }
  printf("%u\n", (unsigned)ntohs(sa.sin_port));
  close(fd);
  return 0;
}

/* Connect to "host:port" (IPv4 literal) or a socket path; -1 on failure. */
static int connect_to(const char *addr) {
  int fd;
  struct timeval tv = {2, 0};
  if (addr[0] == '/') {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(addr) >= sizeof sa.sun_path)
      return -1;
    strcpy(sa.sun_path, addr);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
      return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      close(fd);
      return -1;
    }
  } else {
    struct sockaddr_in sa;
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host)
      return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
      return -1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
      return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      close(fd);
      return -1;
    }
  }
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

/* The pid the server at `addr` reports in `stats`, or -1. */
static long server_pid(const char *addr) {
  char buf[16384];
  size_t have = 0;
  long pid = -1;
  int fd = connect_to(addr);
  if (fd < 0)
    return -1;
  /* A server with ASCII authentication (-Y) answers only after a login:
     PMC_PROBE_LOGIN="user password". */
  const char *login = getenv("PMC_PROBE_LOGIN");
  if (login != NULL) {
    char req[512];
    int len = snprintf(req, sizeof req, "set probe 0 -1 %zu\r\n%s\r\n",
                       strlen(login), login);
    char ok[16] = {0};
    if (len <= 0 || (size_t)len >= sizeof req ||
        write(fd, req, (size_t)len) != len || read(fd, ok, 8) != 8 ||
        strncmp(ok, "STORED\r\n", 8) != 0) {
      close(fd);
      return -1;
    }
  }
  if (write(fd, "stats\r\n", 7) != 7) {
    close(fd);
    return -1;
  }
  while (have < sizeof buf - 1) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0)
      break;
    have += (size_t)n;
    buf[have] = '\0';
    if (strstr(buf, "END\r\n") != NULL)
      break;
  }
  buf[have] = '\0';
  if (strncmp(buf, "STAT pid ", 9) == 0)
    pid = strtol(buf + 9, NULL, 10);
  close(fd);
  return pid;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "free-port") == 0)
    return free_port();
  if (argc == 5 && strcmp(argv[1], "wait") == 0) {
    long want = strtol(argv[3], NULL, 10);
    long long deadline = now_ms() + atol(argv[4]);
    struct timespec pause = {0, 20 * 1000000L};
    for (;;) {
      long got = server_pid(argv[2]);
      if (got == want)
        return 0;
      if (now_ms() > deadline) {
        fprintf(stderr, "fixture_probe: %s did not answer as pid %ld "
                        "(last answer: %ld)\n",
                argv[2], want, got);
        return 1;
      }
      nanosleep(&pause, NULL);
    }
  }
  return usage();
}

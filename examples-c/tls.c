/*
 * tls.c: TLS (memcached -Z) and ASCII authentication (memcached -Y).
 *
 * A client with TLS options talks to a TLS memcached; a pooled one keeps
 * its connections (one handshake each, not one per call). Mutual TLS
 * presents a client certificate. Each failure has its own status and a
 * message saying what failed: an unknown CA, a name mismatch, a server
 * wanting a client certificate, a TLS client at a plaintext server and the
 * reverse (PMC_TLS_ERROR, or PMC_IO_ERROR naming TLS), unusable
 * certificate files (PMC_TLS_ERROR from pmc_client_new), a wrong password
 * (PMC_AUTH_ERROR, at once: no hang).
 *
 * The servers and certificates come from tls-fixture.sh (STATE_DIR/certs).
 *
 * Usage: tls TLS_STATE_DIR PLAIN_STATE_DIR
 */
#include "test_util.h"

static char dir[1024];
static char plain_server[256];

static void read_line(const char *name, char *out, size_t size) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (f == NULL || fgets(out, (int)size, f) == NULL)
    FAIL("cannot read %s", path);
  fclose(f);
  out[strcspn(out, "\r\n")] = '\0';
}

static const char *cert(const char *name) {
  static char paths[8][1200];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, sizeof paths[0], "%s/certs/%s", dir, name);
  return p;
}

/* Options for one server with timeouts and no reconnect backoff. The
   timeouts are generous: under valgrind ring's handshake arithmetic runs
   some 50x slower (the handshake's own bound is tested in tests/tls.rs). */
static pmc_options *options_for(const char *server) {
  pmc_options *o = pmc_options_new();
  CHECK(o != NULL);
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_connect_timeout_ms(o, 15000, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 15000, NULL));
  CHECK_OK(pmc_options_set_reconnect_backoff_ms(o, 0, 0, NULL));
  return o;
}

static pmc_client *client_from(pmc_options *o) {
  pmc_client *c = NULL;
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

static void roundtrip(pmc_client *c, const char *key) {
  pmc_value v = {0};
  CHECK_OK(pmc_set(c, BYTES(key), BYTES("over TLS"), 5, 0, PMC_REPLY_WAIT, NULL));
  CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
  CHECK_VALUE_STR(&v, "over TLS");
  CHECK_UINT(v.flags, 5);
  pmc_value_free(&v);
}

/* The first command of `c` fails with `status`, the error object saying
   `words`; `c` is freed. */
static void expect_failure(pmc_client *c, pmc_status status, const char *words) {
  char *ver = NULL;
  pmc_error *e = NULL;
  long long start = test_now_ms();
  CHECK_STATUS(pmc_version(c, &ver, &e), status);
  CHECK(test_now_ms() - start < 2500);
  CHECK(ver == NULL);
  CHECK(pmc_error_status(e) == status);
  CHECK_CONTAINS(pmc_error_message(e), words);
  printf("  %s: %s\n", pmc_status_str(status), pmc_error_message(e));
  pmc_error_free(e);
  pmc_client_free(c);
}

int main(int argc, char **argv) {
  char tls_server[256], mtls_server[256], auth_server[256];
  pmc_options *o;
  pmc_client *c;
  pmc_error *e = NULL;

  if (argc != 3)
    FAIL("usage: tls TLS_STATE_DIR PLAIN_STATE_DIR");
  snprintf(dir, sizeof dir, "%s", argv[1]);
  read_line("tls_server", tls_server, sizeof tls_server);
  read_line("mtls_server", mtls_server, sizeof mtls_server);
  read_line("auth_server", auth_server, sizeof auth_server);
  {
    char path[1200];
    snprintf(path, sizeof path, "%s/server", argv[2]);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(plain_server, sizeof plain_server, f) == NULL)
      FAIL("cannot read %s", path);
    fclose(f);
    plain_server[strcspn(plain_server, "\r\n")] = '\0';
  }

  /* TLS with the test CA: single and pooled clients. */
  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  CHECK_OK(pmc_options_set_tls_min_version(o, "1.2", NULL));
  c = client_from(o);
  roundtrip(c, "c-tls");
  pmc_client_free(c);

  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls(o, true, NULL));
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  CHECK_OK(pmc_options_set_tls_min_version(o, "1.3", NULL));
  CHECK_OK(pmc_options_set_use_pooling(o, true, NULL));
  c = client_from(o);
  for (int i = 0; i < 20; i++)
    roundtrip(c, "c-tls-pooled");
  pmc_client_free(c);

  /* The name checked may be given; by default it is the address's host. */
  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  CHECK_OK(pmc_options_set_tls_server_name(o, "localhost", NULL));
  c = client_from(o);
  roundtrip(c, "c-tls-sni");
  pmc_client_free(c);

  /* Failure modes. */
  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("other-ca.pem"), NULL));
  expect_failure(client_from(o), PMC_TLS_ERROR, "unknown CA");

  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  CHECK_OK(pmc_options_set_tls_server_name(o, "cache.example.com", NULL));
  expect_failure(client_from(o), PMC_TLS_ERROR, "name mismatch");

  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_system_roots(o, true, NULL));
  expect_failure(client_from(o), PMC_TLS_ERROR, "unknown CA");

  o = options_for(plain_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  expect_failure(client_from(o), PMC_TLS_ERROR, "not TLS");

  o = options_for(tls_server);
  expect_failure(client_from(o), PMC_IO_ERROR, "TLS");

  /* TLS turned off again: plaintext. */
  o = options_for(plain_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  CHECK_OK(pmc_options_set_tls(o, false, NULL));
  c = client_from(o);
  roundtrip(c, "c-plain");
  pmc_client_free(c);

  /* Insecure mode (tests only): any certificate. */
  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_insecure_no_verify_testing_only(o, true, NULL));
  c = client_from(o);
  roundtrip(c, "c-insecure");
  pmc_client_free(c);

  /* Unusable files fail when the client is made. */
  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("missing.pem"), NULL));
  c = NULL;
  CHECK_STATUS(pmc_client_new(o, &c, &e), PMC_TLS_ERROR);
  CHECK(c == NULL);
  CHECK_CONTAINS(pmc_error_message(e), "missing.pem");
  pmc_error_free(e);
  e = NULL;
  pmc_options_free(o);
  o = options_for(tls_server);
  CHECK_OK(pmc_options_set_tls_ca_dir(o, cert(""), NULL));
  c = client_from(o);
  roundtrip(c, "c-ca-dir");
  pmc_client_free(c);
  o = options_for(tls_server);
  CHECK_STATUS(pmc_options_set_tls_min_version(o, "1.1", NULL), PMC_INVALID_ARGUMENT);
  CHECK_STATUS(pmc_options_set_tls_server_name(o, "not a name", NULL), PMC_CONFIG_ERROR);
  CHECK_STATUS(pmc_options_set_tls_ca_file(o, NULL, NULL), PMC_NULL_ARGUMENT);
  pmc_options_free(o);

  /* Mutual TLS. */
  o = options_for(mtls_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  CHECK_OK(pmc_options_set_tls_client_cert(o, cert("client.pem"), cert("client.key"), NULL));
  c = client_from(o);
  roundtrip(c, "c-mtls");
  pmc_client_free(c);
  o = options_for(mtls_server);
  CHECK_OK(pmc_options_set_tls_ca_file(o, cert("ca.pem"), NULL));
  expect_failure(client_from(o), PMC_TLS_ERROR, "client certificate");

  /* ASCII authentication. */
  o = options_for(auth_server);
  CHECK_OK(pmc_options_set_auth(o, "pmc", "s3cret", NULL));
  c = client_from(o);
  roundtrip(c, "c-auth");
  pmc_client_free(c);
  o = options_for(auth_server);
  CHECK_OK(pmc_options_set_auth(o, "pmc", "wrong", NULL));
  expect_failure(client_from(o), PMC_AUTH_ERROR, "pmc");
  o = options_for(auth_server);
  expect_failure(client_from(o), PMC_AUTH_ERROR, "requires authentication");
  o = options_for(auth_server);
  CHECK_OK(pmc_options_set_auth(o, "pmc", "s3cret", NULL));
  CHECK_OK(pmc_options_set_auth(o, NULL, NULL, NULL));
  expect_failure(client_from(o), PMC_AUTH_ERROR, "requires authentication");
  o = options_for(auth_server);
  CHECK_STATUS(pmc_options_set_auth(o, "p m c", "x", NULL), PMC_CONFIG_ERROR);
  CHECK_STATUS(pmc_options_set_auth(o, "pmc", NULL, NULL), PMC_NULL_ARGUMENT);
  pmc_options_free(o);

  printf("tls: ok\n");
  return 0;
}

/*
 * metrics.c: per-server metrics through the C surface.
 *
 * A client against a private memcached: 10 sets, 5 hits and 5 misses are
 * read back as requests, hits and misses by server index
 * (pmc_metrics_snapshot, pmc_metrics_get), with bytes both ways, one
 * connection opened and none in use; latency quantiles
 * (pmc_metrics_latency_us); the Prometheus text (pmc_metrics_prometheus);
 * pmc_metrics_reset; a killed server counted as connection errors; bad
 * arguments; and pmc_options_set_metrics(false) counting nothing.
 *
 * Usage: metrics STATE_DIR
 */
#include "test_util.h"

static pmc_client *client_for(const char *server, bool metrics) {
  pmc_options *o = pmc_options_new();
  pmc_client *c = NULL;
  CHECK_OK(pmc_options_add_server(o, server, NULL));
  CHECK_OK(pmc_options_set_default_noreply(o, false, NULL));
  CHECK_OK(pmc_options_set_timeout_ms(o, 10000, NULL));
  CHECK_OK(pmc_options_set_metrics(o, metrics, NULL));
  CHECK_OK(pmc_client_new(o, &c, NULL));
  pmc_options_free(o);
  return c;
}

static uint64_t get(const pmc_metrics *m, size_t i, pmc_metric which) {
  uint64_t v = 0;
  CHECK_OK(pmc_metrics_get(m, i, which, &v, NULL));
  return v;
}

static void workload(pmc_client *c) {
  char key[32];
  for (int i = 0; i < 10; i++) {
    snprintf(key, sizeof key, "m%d", i);
    CHECK_OK(pmc_set(c, BYTES(key), BYTES("value"), 0, 0, PMC_REPLY_WAIT, NULL));
  }
  for (int i = 0; i < 5; i++) {
    pmc_value v = {0};
    snprintf(key, sizeof key, "m%d", i);
    CHECK_OK(pmc_get(c, BYTES(key), &v, NULL));
    pmc_value_free(&v);
  }
  for (int i = 0; i < 5; i++) {
    pmc_value v = {0};
    snprintf(key, sizeof key, "nope%d", i);
    CHECK_STATUS(pmc_get(c, BYTES(key), &v, NULL), PMC_MISS);
    pmc_value_free(&v);
  }
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  test_memcached mc;
  test_memcached_start(&mc, NULL);
  pmc_client *c = client_for(mc.addr, true);
  workload(c);

  pmc_metrics *m = NULL;
  CHECK_OK(pmc_metrics_snapshot(c, &m, NULL));
  CHECK_UINT(pmc_metrics_server_count(m), 1);
  CHECK_STR(pmc_metrics_server_name(m, 0), mc.addr);
  CHECK(pmc_metrics_server_name(m, 1) == NULL);
  CHECK_UINT(get(m, 0, PMC_METRIC_REQUESTS), 20);
  CHECK_UINT(get(m, 0, PMC_METRIC_HITS), 5);
  CHECK_UINT(get(m, 0, PMC_METRIC_MISSES), 5);
  CHECK(get(m, 0, PMC_METRIC_BYTES_SENT) > 0);
  CHECK(get(m, 0, PMC_METRIC_BYTES_RECEIVED) > 0);
  CHECK_UINT(get(m, 0, PMC_METRIC_CONNECTIONS_OPENED), 1);
  CHECK_UINT(get(m, 0, PMC_METRIC_IN_USE), 0);
  CHECK_UINT(get(m, 0, PMC_METRIC_PEAK_IN_USE), 1);
  CHECK_UINT(get(m, 0, PMC_METRIC_CONNECTION_ERRORS), 0);
  CHECK_UINT(get(m, 0, PMC_METRIC_STATE), 0);
  CHECK_UINT(get(m, 0, PMC_METRIC_LATENCY_COUNT), 20);
  uint64_t p50 = 0, p99 = 0, max = 0;
  CHECK_OK(pmc_metrics_latency_us(m, 0, 0.5, &p50, NULL));
  CHECK_OK(pmc_metrics_latency_us(m, 0, 0.99, &p99, NULL));
  CHECK_OK(pmc_metrics_latency_us(m, 0, 1.0, &max, NULL));
  CHECK(p50 <= p99 && p99 <= max && max > 0);
  CHECK_UINT(max, get(m, 0, PMC_METRIC_LATENCY_MAX_US));

  /* Bad inputs: a clear status and message. */
  uint64_t v = 0;
  pmc_error *err = NULL;
  CHECK_STATUS(pmc_metrics_get(m, 1, PMC_METRIC_HITS, &v, &err), PMC_INVALID_ARGUMENT);
  CHECK_CONTAINS(pmc_error_message(err), "out of range");
  pmc_error_free(err);
  CHECK_STATUS(pmc_metrics_get(m, 0, 999, &v, &err), PMC_INVALID_ARGUMENT);
  CHECK_CONTAINS(pmc_error_message(err), "unknown metric");
  pmc_error_free(err);
  CHECK_STATUS(pmc_metrics_latency_us(m, 0, 1.5, &v, &err), PMC_INVALID_ARGUMENT);
  CHECK_CONTAINS(pmc_error_message(err), "outside [0, 1]");
  pmc_error_free(err);
  CHECK_STATUS(pmc_metrics_get(NULL, 0, PMC_METRIC_HITS, &v, NULL), PMC_NULL_ARGUMENT);
  CHECK_STATUS(pmc_metrics_snapshot(NULL, &m, NULL), PMC_NULL_ARGUMENT);
  CHECK_UINT(pmc_metrics_server_count(NULL), 0);

  /* The Prometheus text: parse the hits line and the histogram count. */
  char *text = NULL;
  size_t len = 0;
  CHECK_OK(pmc_metrics_prometheus(m, &text, &len, NULL));
  CHECK_UINT(len, strlen(text));
  char want[512];
  snprintf(want, sizeof want, "pymemcache_hits_total{server=\"%s\"} ", mc.addr);
  const char *at = strstr(text, want);
  CHECK(at != NULL);
  CHECK_UINT(strtoull(at + strlen(want), NULL, 10), 5);
  snprintf(want, sizeof want, "pymemcache_request_duration_seconds_count{server=\"%s\"} ",
           mc.addr);
  at = strstr(text, want);
  CHECK(at != NULL);
  CHECK_UINT(strtoull(at + strlen(want), NULL, 10), 20);
  CHECK_CONTAINS(text, "# TYPE pymemcache_request_duration_seconds histogram");
  CHECK_CONTAINS(text, "le=\"+Inf\"");
  pmc_string_free(text);
  pmc_metrics_free(m);

  /* A batch of meta gets: each command a request, a hit or a miss. */
  CHECK_OK(pmc_metrics_reset(c, NULL));
  pmc_batch *b = NULL;
  CHECK_OK(pmc_batch_new(&b, NULL));
  CHECK_OK(pmc_batch_get(b, BYTES("m1"), NULL));
  CHECK_OK(pmc_batch_get(b, BYTES("m2"), NULL));
  CHECK_OK(pmc_batch_get(b, BYTES("nope1"), NULL));
  CHECK_OK(pmc_batch_execute(c, b, NULL));
  CHECK_OK(pmc_metrics_snapshot(c, &m, NULL));
  CHECK_UINT(get(m, 0, PMC_METRIC_REQUESTS), 3);
  CHECK_UINT(get(m, 0, PMC_METRIC_HITS), 2);
  CHECK_UINT(get(m, 0, PMC_METRIC_MISSES), 1);
  CHECK_UINT(get(m, 0, PMC_METRIC_LATENCY_COUNT), 3);
  pmc_metrics_free(m);
  pmc_batch_free(b);

  /* Reset, then a killed server: connection errors. */
  CHECK_OK(pmc_metrics_reset(c, NULL));
  test_memcached_stop(&mc);
  pmc_value gone = {0};
  CHECK(pmc_get(c, BYTES("m1"), &gone, NULL) >= 20);
  CHECK(pmc_get(c, BYTES("m1"), &gone, NULL) >= 20);
  CHECK_OK(pmc_metrics_snapshot(c, &m, NULL));
  CHECK_UINT(get(m, 0, PMC_METRIC_REQUESTS), 2);
  CHECK_UINT(get(m, 0, PMC_METRIC_HITS), 0);
  CHECK_UINT(get(m, 0, PMC_METRIC_CONNECTION_ERRORS), 2);
  CHECK_UINT(get(m, 0, PMC_METRIC_IN_USE), 0);
  pmc_metrics_free(m);
  pmc_client_free(c);

  /* Metrics off: nothing counted, no servers in the snapshot. */
  test_memcached mc2;
  test_memcached_start(&mc2, NULL);
  c = client_for(mc2.addr, false);
  workload(c);
  CHECK_OK(pmc_metrics_snapshot(c, &m, NULL));
  CHECK_UINT(pmc_metrics_server_count(m), 0);
  pmc_metrics_free(m);
  pmc_client_free(c);
  test_memcached_stop(&mc2);
  pmc_metrics_free(NULL);
  printf("metrics: ok\n");
  return 0;
}

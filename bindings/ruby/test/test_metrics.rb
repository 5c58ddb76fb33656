# frozen_string_literal: true

# Per-server metrics: counts against a real memcached, Prometheus text,
# reset, and metrics: false.
require_relative 'helper'

class PymemcacheMetricsTest < PymemcacheTestCase
  def test_metrics_count_requests_hits_and_misses
    c = client
    k = key('metrics')
    c.set(k, 'v')
    assert_equal 'v', c.get(k)
    assert_nil c.get("#{k}-missing")
    m = c.metrics
    assert_equal 1, m.size
    s = m.first
    assert_equal server1, s[:server]
    assert_equal [3, 1, 1, 0], s.values_at(:requests, :hits, :misses, :in_use)
    assert_equal 1, s[:connections_opened]
    assert_operator s[:bytes_sent], :>, 0
    assert_operator s[:p50_us], :<=, s[:latency_max_us]
    assert_includes c.metrics_prometheus, %(pymemcache_hits_total{server="#{server1}"} 1\n)
    assert c.metrics_reset
    assert_equal 0, c.metrics.first[:requests]
    assert_empty client(metrics: false).metrics
  end
end

package pymemcache

// Per-server metrics: counters, latency quantiles and Prometheus text.

/*
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

// ServerMetrics are one server's metrics at one moment.
type ServerMetrics struct {
	Server                                                   string // "host:port" or a socket path
	Requests, Hits, Misses                                   uint64
	Timeouts, ConnectionErrors, ServerErrors, ProtocolErrors uint64
	BytesSent, BytesReceived                                 uint64
	ConnectionsOpened, InUse, PeakInUse                      uint64
	StateChanges                                             uint64
	State                                                    uint64 // 0 up, 1 failing, 2 dead, 3 soft-down, 4 probing
	LatencyCount, LatencySumUs                               uint64
	P50Us, P90Us, P99Us, MaxUs                               uint64 // from power-of-two buckets
}

// Metrics are every server's metrics (empty with Options.DisableMetrics).
type Metrics struct {
	Servers []ServerMetrics
}

// withSnapshot runs f on a metrics snapshot taken for the call named op,
// and frees the snapshot after.
func (c *Client) withSnapshot(op string, f func(snap *C.pmc_metrics, e **C.pmc_error) C.pmc_status) error {
	_, err := c.do(bg, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var snap *C.pmc_metrics
		st := C.pmc_metrics_snapshot(p, &snap, e)
		if st != C.PMC_OK {
			return st
		}
		defer C.pmc_metrics_free(snap)
		return f(snap, e)
	})
	return err
}

// Metrics reads every server's metrics.
func (c *Client) Metrics() (Metrics, error) {
	var m Metrics
	err := c.withSnapshot("Metrics", func(snap *C.pmc_metrics, e **C.pmc_error) C.pmc_status {
		n := int(C.pmc_metrics_server_count(snap))
		for i := 0; i < n; i++ {
			idx := C.size_t(i)
			get := func(which C.pmc_metric) uint64 {
				var v C.uint64_t
				C.pmc_metrics_get(snap, idx, which, &v, nil)
				return uint64(v)
			}
			q := func(quantile float64) uint64 {
				var v C.uint64_t
				C.pmc_metrics_latency_us(snap, idx, C.double(quantile), &v, nil)
				return uint64(v)
			}
			m.Servers = append(m.Servers, ServerMetrics{
				Server:            C.GoString(C.pmc_metrics_server_name(snap, idx)),
				Requests:          get(C.PMC_METRIC_REQUESTS),
				Hits:              get(C.PMC_METRIC_HITS),
				Misses:            get(C.PMC_METRIC_MISSES),
				Timeouts:          get(C.PMC_METRIC_TIMEOUTS),
				ConnectionErrors:  get(C.PMC_METRIC_CONNECTION_ERRORS),
				ServerErrors:      get(C.PMC_METRIC_SERVER_ERRORS),
				ProtocolErrors:    get(C.PMC_METRIC_PROTOCOL_ERRORS),
				BytesSent:         get(C.PMC_METRIC_BYTES_SENT),
				BytesReceived:     get(C.PMC_METRIC_BYTES_RECEIVED),
				ConnectionsOpened: get(C.PMC_METRIC_CONNECTIONS_OPENED),
				InUse:             get(C.PMC_METRIC_IN_USE),
				PeakInUse:         get(C.PMC_METRIC_PEAK_IN_USE),
				StateChanges:      get(C.PMC_METRIC_STATE_CHANGES),
				State:             get(C.PMC_METRIC_STATE),
				LatencyCount:      get(C.PMC_METRIC_LATENCY_COUNT),
				LatencySumUs:      get(C.PMC_METRIC_LATENCY_SUM_US),
				P50Us:             q(0.5),
				P90Us:             q(0.9),
				P99Us:             q(0.99),
				MaxUs:             get(C.PMC_METRIC_LATENCY_MAX_US),
			})
		}
		return C.PMC_OK
	})
	return m, err
}

// MetricsPrometheus gives every server's metrics in Prometheus text
// exposition format (names prefixed pymemcache_, label server).
func (c *Client) MetricsPrometheus() (string, error) {
	var text string
	err := c.withSnapshot("MetricsPrometheus", func(snap *C.pmc_metrics, e **C.pmc_error) C.pmc_status {
		var s *C.char
		var n C.size_t
		st := C.pmc_metrics_prometheus(snap, &s, &n, e)
		if st == C.PMC_OK {
			text = C.GoStringN(s, C.int(n))
			C.pmc_string_free(s)
		}
		return st
	})
	return text, err
}

// MetricsReset zeroes every server's counters.
func (c *Client) MetricsReset() error {
	_, err := c.do(bg, "MetricsReset", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_metrics_reset(p, e)
	})
	return err
}

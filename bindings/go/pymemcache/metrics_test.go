package pymemcache

import (
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	c := client1(t)
	if err := c.MetricsReset(); err != nil {
		t.Fatal(err)
	}
	k := key(t, "metrics")
	mustSet(t, c, k, []byte("v"), 0)
	if _, found, err := c.Get(k); err != nil || !found {
		t.Fatal(found, err)
	}
	if _, found, err := c.Get(k + "-missing"); err != nil || found {
		t.Fatal(found, err)
	}
	m, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Servers) != 1 {
		t.Fatalf("servers: %+v", m.Servers)
	}
	s := m.Servers[0]
	if s.Server != server1.addr || s.Requests != 3 || s.Hits != 1 || s.Misses != 1 || s.InUse != 0 || s.BytesSent == 0 || s.LatencyCount != 3 {
		t.Fatalf("metrics: %+v", s)
	}
	text, err := c.MetricsPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, `pymemcache_hits_total{server="`+server1.addr+`"} 1`) {
		t.Fatalf("prometheus text:\n%s", text)
	}
	off := newClient(t, Options{Servers: []string{server1.addr}, DisableMetrics: true})
	mustSet(t, off, k, []byte("v"), 0)
	if m, err := off.Metrics(); err != nil || len(m.Servers) != 0 {
		t.Fatalf("metrics off: %+v %v", m, err)
	}
}

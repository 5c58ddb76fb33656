package pymemcache

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func newBatch(t *testing.T) *Batch {
	t.Helper()
	b, err := NewBatch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A mixed batch: hits, misses, refusals and a bad key, each with its own
// status, in request order.
func TestBatchMixed(t *testing.T) {
	c := client1(t)
	a, bk, missing, ctr := key(t, "ba"), key(t, "bb"), key(t, "bmiss"), key(t, "bctr")
	must(t, c.Set(a, []byte("va"), 7, 0))
	must(t, c.Set(ctr, []byte("5"), 0, 0))
	b := newBatch(t)
	if b.Len() != 0 {
		t.Fatalf("new batch has %d commands", b.Len())
	}
	if rs, err := b.Execute(c); err != nil || len(rs) != 0 {
		t.Fatalf("empty batch: %v %v", rs, err)
	}
	must(t, b.Get(a))                                         // 0 hit
	must(t, b.Get(missing))                                   // 1 miss
	must(t, b.Add(a, []byte("x"), 0, 0))                      // 2 not stored
	must(t, b.Set(bk, []byte("vb"), 3, 0))                    // 3 ok
	must(t, b.Replace(missing, []byte("x"), 0, 0))            // 4 not stored
	must(t, b.Append(a, []byte("+")))                         // 5 ok
	must(t, b.Prepend(missing, []byte("x")))                  // 6 not stored
	must(t, b.Gets(a))                                        // 7 hit "va+" with cas
	must(t, b.Incr(ctr, 3))                                   // 8 8
	must(t, b.Decr(ctr, 100))                                 // 9 0
	must(t, b.Incr(missing, 1))                               // 10 not found
	must(t, b.Delete(bk))                                     // 11 ok
	must(t, b.Delete(missing))                                // 12 not found
	must(t, b.Touch(a, 100))                                  // 13 ok
	must(t, b.Touch(missing, 100))                            // 14 not found
	must(t, b.CompareAndSwap(a, []byte("z"), 1, 0, 0))        // 15 exists
	must(t, b.Get("bad key"))                                 // 16 illegal input
	must(t, b.Gat(a, 200))                                    // 17 hit
	must(t, b.Meta("mg", a, []string{"v", "f", "t"}, nil))    // 18 VA
	must(t, b.Meta("ms", bk, []string{"F9"}, []byte("meta"))) // 19 HD
	must(t, b.Meta("mg", missing, []string{"v"}, nil))        // 20 EN
	if err := b.Meta("zz", a, nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown meta command: %v", err)
	}
	if b.Len() != 21 {
		t.Fatalf("Len %d, want 21", b.Len())
	}
	rs, err := b.Execute(c)
	must(t, err)
	want := []Status{StatusOK, StatusMiss, StatusNotStored, StatusOK, StatusNotStored, StatusOK, StatusNotStored,
		StatusOK, StatusOK, StatusOK, StatusNotFound, StatusOK, StatusNotFound, StatusOK, StatusNotFound,
		StatusExists, StatusIllegalInput, StatusOK, StatusOK, StatusOK, StatusMiss}
	if len(rs) != len(want) {
		t.Fatalf("%d results, want %d", len(rs), len(want))
	}
	for i, st := range want {
		if rs[i].Status != st {
			t.Errorf("result %d: %v (%v), want %v", i, rs[i].Status, rs[i].Err, st)
		}
		if (rs[i].Err != nil) != st.IsError() {
			t.Errorf("result %d: Err %v for %v", i, rs[i].Err, st)
		}
	}
	if string(rs[0].Value) != "va" || rs[0].Flags != 7 || rs[0].CAS != 0 {
		t.Errorf("get: %+v", rs[0])
	}
	if len(rs[1].Value) != 0 {
		t.Errorf("miss with a value: %q", rs[1].Value)
	}
	if string(rs[7].Value) != "va+" || rs[7].CAS == 0 {
		t.Errorf("gets after append: %+v", rs[7])
	}
	if rs[8].Number != 8 || string(rs[8].Value) != "8" || rs[9].Number != 0 {
		t.Errorf("incr/decr: %+v %+v", rs[8], rs[9])
	}
	var e *Error
	if !errors.As(rs[16].Err, &e) || !strings.Contains(e.Message, "key") || !errors.Is(rs[16].Err, ErrIllegalInput) {
		t.Errorf("bad key's error: %v", rs[16].Err)
	}
	if string(rs[17].Value) != "va+" {
		t.Errorf("gat: %+v", rs[17])
	}
	if rs[18].Code != "VA" || string(rs[18].Value) != "va+" || !strings.Contains(rs[18].MetaFlags, "f7") {
		t.Errorf("meta get: %+v", rs[18])
	}
	if rs[19].Code != "HD" || rs[20].Code != "EN" || rs[0].Code != "" {
		t.Errorf("meta codes: %q %q %q", rs[19].Code, rs[20].Code, rs[0].Code)
	}
	for i, r := range rs {
		if r.Lease != LeaseNone {
			t.Errorf("result %d has lease %v", i, r.Lease)
		}
	}
	// The commands ran: the server agrees.
	if it, found, err := c.Get(bk); err != nil || !found || string(it.Value) != "meta" || it.Flags != 9 {
		t.Fatalf("after the batch %s = %+v %v %v", bk, it, found, err)
	}
	// Executed again: same commands, new results; cleared: nothing.
	rs2, err := b.Execute(c)
	must(t, err)
	if len(rs2) != 21 || rs2[3].Status != StatusOK || rs2[11].Status != StatusOK || rs2[19].Status != StatusOK {
		t.Fatalf("second run: %d results", len(rs2))
	}
	b.Clear()
	if b.Len() != 0 {
		t.Fatal("Clear left commands")
	}
	must(t, b.Close())
	must(t, b.Close())
	if err := b.Get(a); !errors.Is(err, ErrBatchClosed) {
		t.Fatalf("queue on a closed batch: %v", err)
	}
	if _, err := b.Execute(c); !errors.Is(err, ErrBatchClosed) {
		t.Fatalf("execute a closed batch: %v", err)
	}
	b2 := newBatch(t)
	must(t, b2.Get(a))
	cc := newClient(t, Options{Servers: []string{server1.addr}})
	cc.Close()
	if _, err := b2.Execute(cc); !errors.Is(err, ErrClosed) {
		t.Fatalf("execute on a closed client: %v", err)
	}
}

// Across a hash client, a server that is down fails its own commands only.
// The second live server is one of the test's own: server2 is left to the
// conformance test (see TestConformanceMemcached), whose counter lines
// memcached 1.6.18 has been seen to answer with "non-numeric value" after
// meta commands ran on the same server.
func TestBatchHashClientServerDown(t *testing.T) {
	dead := closedAddr(t)
	own, err := startMemcached()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(own.stop)
	c := newClient(t, Options{Servers: []string{server1.addr, own.addr, dead}})
	b := newBatch(t)
	var keys []string
	on := map[string]int{}
	for i := 0; i < 30; i++ {
		k := key(t, "bhash")
		s, err := c.ServerForKey(k)
		must(t, err)
		on[s]++
		keys = append(keys, k)
		must(t, b.Set(k, []byte("v-"+k), 0, 0))
		must(t, b.Get(k))
	}
	if on[dead] == 0 || on[server1.addr] == 0 || on[own.addr] == 0 {
		t.Fatalf("keys not spread over the three servers: %v", on)
	}
	servers := map[string]string{}
	for _, k := range keys {
		servers[k], _ = c.ServerForKey(k)
	}
	rs, err := b.Execute(c)
	must(t, err)
	for i, k := range keys {
		set, get := rs[2*i], rs[2*i+1]
		if servers[k] == dead {
			if set.Err == nil || get.Err == nil || !IsConnectionError(set.Err) || !IsConnectionError(get.Err) {
				t.Errorf("%s on the dead server: %v / %v", k, set.Err, get.Err)
			}
			var e *Error
			if errors.As(get.Err, &e) && e.Message == "" {
				t.Errorf("%s: no message", k)
			}
		} else if set.Status != StatusOK || get.Status != StatusOK || string(get.Value) != "v-"+k {
			t.Errorf("%s on %s: %v %v %q", k, servers[k], set.Status, get.Status, get.Value)
		}
	}
}

// Stampede control: on a miss one goroutine of many wins, the others are
// busy; after Invalidate one wins the recompute and the others get the
// stale value.
func TestGetOrLockStampede(t *testing.T) {
	c := newClient(t, Options{Servers: []string{server1.addr}, UsePooling: true})
	k := key(t, "stampede")
	const n = 8
	type got struct {
		it    Item
		lease Lease
		err   error
	}
	race := func() []got {
		res := make([]got, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				it, l, err := c.GetOrLock(k, 30, 0)
				res[i] = got{it, l, err}
			}(i)
		}
		close(start)
		wg.Wait()
		return res
	}
	count := func(rs []got) map[Lease]int {
		m := map[Lease]int{}
		for _, r := range rs {
			if r.err != nil {
				t.Fatal(r.err)
			}
			m[r.lease]++
		}
		return m
	}
	rs := race()
	if m := count(rs); m[LeaseMissWon] != 1 || m[LeaseMissBusy] != n-1 {
		t.Fatalf("on a miss: %v", m)
	}
	for _, r := range rs {
		if r.it.Value != nil {
			t.Fatalf("%v with a value %q", r.lease, r.it.Value)
		}
	}
	must(t, c.Set(k, []byte("v1"), 0, 0))
	it, l, err := c.GetOrLock(k, 30, 0)
	if err != nil || l != LeaseHit || string(it.Value) != "v1" || it.CAS == 0 || l.Won() || !l.HasValue() {
		t.Fatalf("after the set: %+v %v %v", it, l, err)
	}
	if found, err := c.Invalidate(k, 30); err != nil || !found {
		t.Fatalf("Invalidate: %v %v", found, err)
	}
	rs = race()
	if m := count(rs); m[LeaseStaleWon] != 1 || m[LeaseStale] != n-1 {
		t.Fatalf("after Invalidate: %v", m)
	}
	for _, r := range rs {
		if string(r.it.Value) != "v1" {
			t.Fatalf("%v: value %q, want the stale v1", r.lease, r.it.Value)
		}
	}
	must(t, c.Set(k, []byte("v2"), 0, 0))
	if it, l, err := c.GetOrLockBytes([]byte(k), 30, 0); err != nil || l != LeaseHit || string(it.Value) != "v2" {
		t.Fatalf("after the recompute: %+v %v %v", it, l, err)
	}
	if found, err := c.InvalidateBytes([]byte(key(t, "nothing")), 30); err != nil || found {
		t.Fatalf("Invalidate of a missing key: %v %v", found, err)
	}
	if _, _, err := c.GetOrLock("bad key", 30, 0); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("bad key: %v", err)
	}
	if LeaseMissBusy.String() != "miss_busy" || LeaseStaleWon.String() != "stale_won" {
		t.Fatal("lease names")
	}
}

// The same states through a batch: the first of two reads of a missing key
// wins, the second is busy; an invalidation and a read of the same key then
// give stale_won with the old value.
func TestBatchGetOrLock(t *testing.T) {
	c := client1(t)
	k, missing := key(t, "bgol"), key(t, "bgolmiss")
	b := newBatch(t)
	must(t, b.GetOrLock(k, 30, 0))
	must(t, b.GetOrLock(k, 30, 0))
	must(t, b.Invalidate(missing, 30))
	rs, err := b.Execute(c)
	must(t, err)
	if rs[0].Lease != LeaseMissWon || rs[1].Lease != LeaseMissBusy || rs[2].Status != StatusNotFound {
		t.Fatalf("batch on a miss: %v %v %v", rs[0].Lease, rs[1].Lease, rs[2].Status)
	}
	must(t, c.Set(k, []byte("old"), 0, 0))
	b.Clear()
	must(t, b.Invalidate(k, 30))
	must(t, b.GetOrLock(k, 30, 0))
	must(t, b.GetOrLock(k, 30, 0))
	rs, err = b.Execute(c)
	must(t, err)
	if rs[0].Status != StatusOK || rs[1].Lease != LeaseStaleWon || rs[2].Lease != LeaseStale ||
		string(rs[1].Value) != "old" || string(rs[2].Value) != "old" || rs[1].TTL == 0 {
		t.Fatalf("batch after invalidate: %+v", rs)
	}
}

// String keys follow the client's rule: non-ASCII text is refused when
// queued unless the batch allows unicode keys; a context that has ended
// fails Execute before any I/O and leaves the batch usable.
func TestBatchKeysAndContext(t *testing.T) {
	c := newClient(t, Options{Servers: []string{server1.addr}, AllowUnicodeKeys: true})
	b := newBatch(t)
	if err := b.Get("clé"); !errors.Is(err, ErrIllegalInput) || !strings.Contains(err.Error(), "non-ASCII") {
		t.Fatalf("non-ASCII key: %v", err)
	}
	if b.Len() != 0 {
		t.Fatal("a refused key was queued")
	}
	u, err := NewBatch(BatchAllowUnicodeKeys(true))
	must(t, err)
	defer u.Close()
	k := key(t, "clé")
	must(t, u.Set(k, []byte("unicode"), 0, 0))
	must(t, u.Get(k))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := u.ExecuteCtx(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("ExecuteCtx with a canceled context: %v", err)
	}
	rs, err := u.ExecuteCtx(context.Background(), c)
	must(t, err)
	if rs[0].Status != StatusOK || string(rs[1].Value) != "unicode" {
		t.Fatalf("unicode batch: %+v", rs)
	}
	if it, found, err := c.Get(k); err != nil || !found || string(it.Value) != "unicode" {
		t.Fatalf("the client reads the batch's key: %v %v %v", it, found, err)
	}
}

// Every batch and value is freed: 350 batches each holding two 256 KiB
// results, and 350 GetOrLock hits of 256 KiB (262 MiB in all), must not
// grow the process by as much.
func TestBatchNoLeaks(t *testing.T) {
	c := client1(t)
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = 0xAB
	}
	k := key(t, "bleak")
	must(t, c.Set(k, big, 0, 0))
	round := func(n int) {
		for i := 0; i < n; i++ {
			b, err := NewBatch()
			must(t, err)
			must(t, b.Get(k))
			must(t, b.Gets(k))
			rs, err := b.Execute(c)
			must(t, err)
			if len(rs) != 2 || len(rs[0].Value) != len(big) || len(rs[1].Value) != len(big) {
				t.Fatalf("batch read: %d results", len(rs))
			}
			must(t, b.Close())
			it, l, err := c.GetOrLock(k, 30, 0)
			if err != nil || l != LeaseHit || len(it.Value) != len(big) {
				t.Fatalf("GetOrLock: %v %v %d", l, err, len(it.Value))
			}
		}
	}
	round(50)
	runtime.GC()
	before := rssBytes(t)
	round(350)
	runtime.GC()
	grown := rssBytes(t) - before
	if grown > 96<<20 {
		t.Fatalf("RSS grew by %d MiB: batches or values leak", grown>>20)
	}
	t.Logf("RSS grew by %d KiB", grown>>10)
}

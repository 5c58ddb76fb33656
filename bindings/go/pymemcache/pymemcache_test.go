package pymemcache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var keySeq struct {
	sync.Mutex
	n int
}

// key returns a key no other test uses.
func key(t *testing.T, name string) string {
	keySeq.Lock()
	defer keySeq.Unlock()
	keySeq.n++
	return fmt.Sprintf("go-%s-%d-%d", name, os.Getpid(), keySeq.n)
}

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 2 * time.Second
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func client1(t *testing.T) *Client {
	return newClient(t, Options{Servers: []string{server1.addr}})
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func mustSet(t *testing.T, c *Client, k string, v []byte, flags uint32) {
	t.Helper()
	if err := c.Set(k, v, flags, 0); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	c := client1(t)
	k := key(t, "bin")
	val := allBytes()
	val = append(val, []byte("\r\nEND\r\n\x00")...)
	mustSet(t, c, k, val, 0xdeadbeef)
	it, found, err := c.Get(k)
	if err != nil || !found {
		t.Fatalf("Get: found=%v err=%v", found, err)
	}
	if !bytes.Equal(it.Value, val) {
		t.Fatalf("value mismatch: got %d bytes %q", len(it.Value), it.Value)
	}
	if it.Flags != 0xdeadbeef {
		t.Fatalf("flags = %#x, want 0xdeadbeef", it.Flags)
	}
	if it.CAS != 0 {
		t.Fatalf("Get must not report a CAS unique, got %d", it.CAS)
	}

	// Every byte value is allowed in values (keys: see keys_test.go),
	// including an empty one.
	ke := key(t, "empty")
	mustSet(t, c, ke, nil, 7)
	it, found, err = c.Get(ke)
	if err != nil || !found || len(it.Value) != 0 || it.Flags != 7 {
		t.Fatalf("empty value: %+v found=%v err=%v", it, found, err)
	}

	// The returned slice is Go memory owned by the caller.
	it2, _, _ := c.Get(k)
	it2.Value[0] = 'X'
	it3, _, _ := c.Get(k)
	if it3.Value[0] != 0 {
		t.Fatal("values returned by Get share memory")
	}
}

func TestMiss(t *testing.T) {
	c := client1(t)
	it, found, err := c.Get(key(t, "miss"))
	if err != nil {
		t.Fatal(err)
	}
	if found || it.Value != nil {
		t.Fatalf("miss reported as hit: %+v", it)
	}
	_, found, err = c.Gets(key(t, "miss"))
	if err != nil || found {
		t.Fatalf("Gets miss: found=%v err=%v", found, err)
	}
}

func TestGetMulti(t *testing.T) {
	c := client1(t)
	a, b, missing1, missing2 := key(t, "ma"), key(t, "mb"), key(t, "mx"), key(t, "my")
	mustSet(t, c, a, []byte("alpha\x00\r\n"), 1)
	mustSet(t, c, b, allBytes(), 2)
	got, err := c.GetMulti([]string{missing1, a, missing2, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("want 2 hits, got %d: %v", len(got), got)
	}
	if it := got[a]; string(it.Value) != "alpha\x00\r\n" || it.Flags != 1 {
		t.Fatalf("%s = %+v", a, it)
	}
	if it := got[b]; !bytes.Equal(it.Value, allBytes()) || it.Flags != 2 {
		t.Fatalf("%s = %+v", b, it)
	}
	for _, m := range []string{missing1, missing2} {
		if _, ok := got[m]; ok {
			t.Fatalf("miss %s reported as hit", m)
		}
	}

	none, err := c.GetMulti([]string{missing1, missing2})
	if err != nil || len(none) != 0 {
		t.Fatalf("all misses: %v %v", none, err)
	}
	empty, err := c.GetMulti(nil)
	if err != nil || len(empty) != 0 {
		t.Fatalf("no keys: %v %v", empty, err)
	}
}

func TestCompareAndSwap(t *testing.T) {
	c := client1(t)
	other := client1(t) // a second connection: a concurrent writer
	k := key(t, "cas")
	mustSet(t, c, k, []byte("v1"), 0)

	it, found, err := c.Gets(k)
	if err != nil || !found {
		t.Fatalf("Gets: %v %v", found, err)
	}
	if it.CAS == 0 || string(it.Value) != "v1" {
		t.Fatalf("Gets = %+v", it)
	}
	mustSet(t, other, k, []byte("v2"), 0)

	res, err := c.CompareAndSwap(k, []byte("v3"), it.CAS, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res != CASExists {
		t.Fatalf("stale cas: got %v, want %v", res, CASExists)
	}
	if it, _, _ := c.Get(k); string(it.Value) != "v2" {
		t.Fatalf("stale cas stored: %q", it.Value)
	}

	fresh, _, err := c.Gets(k)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.CAS == it.CAS {
		t.Fatal("CAS unique did not change after a set")
	}
	res, err = c.CompareAndSwap(k, []byte("v4\x00"), fresh.CAS, 9, 0)
	if err != nil || res != CASStored {
		t.Fatalf("fresh cas: %v %v", res, err)
	}
	if it, _, _ := c.Get(k); string(it.Value) != "v4\x00" || it.Flags != 9 {
		t.Fatalf("after cas: %+v", it)
	}

	res, err = c.CompareAndSwap(key(t, "cas-missing"), []byte("x"), 12345, 0, 0)
	if err != nil || res != CASNotFound {
		t.Fatalf("cas on a missing key: %v %v", res, err)
	}
}

func TestCounters(t *testing.T) {
	c := client1(t)
	k := key(t, "ctr")
	mustSet(t, c, k, []byte("10"), 0)
	if v, found, err := c.Incr(k, 5); err != nil || !found || v != 15 {
		t.Fatalf("Incr: %d %v %v", v, found, err)
	}
	if v, found, err := c.Decr(k, 3); err != nil || !found || v != 12 {
		t.Fatalf("Decr: %d %v %v", v, found, err)
	}
	if v, found, err := c.Decr(k, 100); err != nil || !found || v != 0 {
		t.Fatalf("Decr below zero must stop at 0: %d %v %v", v, found, err)
	}
	mustSet(t, c, k, []byte("18446744073709551615"), 0)
	if v, found, err := c.Incr(k, 2); err != nil || !found || v != 1 {
		t.Fatalf("Incr must wrap at 2^64: %d %v %v", v, found, err)
	}
	// memcached rewrites a shorter result in place, padded with spaces.
	if it, _, _ := c.Get(k); strings.TrimRight(string(it.Value), " ") != "1" {
		t.Fatalf("counter stored as %q", it.Value)
	}

	missing := key(t, "ctr-missing")
	if _, found, err := c.Incr(missing, 1); err != nil || found {
		t.Fatalf("Incr on a missing key: found=%v err=%v", found, err)
	}
	if _, found, err := c.Decr(missing, 1); err != nil || found {
		t.Fatalf("Decr on a missing key: found=%v err=%v", found, err)
	}

	text := key(t, "ctr-text")
	mustSet(t, c, text, []byte("not a number"), 0)
	_, _, err := c.Incr(text, 1)
	if !errors.Is(err, ErrClientError) {
		t.Fatalf("Incr on text: want a client error, got %v", err)
	}
}

func TestDelete(t *testing.T) {
	c := client1(t)
	k := key(t, "del")
	mustSet(t, c, k, []byte("x"), 0)
	if ok, err := c.Delete(k); err != nil || !ok {
		t.Fatalf("Delete existing: %v %v", ok, err)
	}
	if _, found, _ := c.Get(k); found {
		t.Fatal("deleted key still there")
	}
	if ok, err := c.Delete(k); err != nil || ok {
		t.Fatalf("Delete missing: %v %v", ok, err)
	}
}

func TestIllegalKeyNothingSent(t *testing.T) {
	// Nothing listens at the address: were anything sent, the error would be
	// a connection error.
	c := newClient(t, Options{Servers: []string{closedAddr(t)}})
	bad := []string{"has space", "new\nline", "cr\rx", strings.Repeat("k", 251), ""}
	for _, k := range bad {
		_, _, err := c.Get(k)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Get(%q): want *Error, got %v", k, err)
		}
		if e.Status != 12 || !errors.Is(err, ErrIllegalInput) {
			t.Fatalf("Get(%q): status %v (%d), want PMC_ILLEGAL_INPUT", k, e.Status, e.Status)
		}
		if e.Status.String() != "PMC_ILLEGAL_INPUT" || e.Message == "" {
			t.Fatalf("Get(%q): status name %q, message %q", k, e.Status.String(), e.Message)
		}
		if IsConnectionError(err) {
			t.Fatalf("illegal key reported as a connection error: %v", err)
		}
	}
	if err := c.Set("has space", []byte("v"), 0, 0); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("Set: %v", err)
	}
	if _, err := c.GetMulti([]string{"fine", "not fine"}); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("GetMulti with one bad key: %v", err)
	}
	if _, _, err := c.Incr("bad key", 1); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("Incr: %v", err)
	}
	if _, err := c.CompareAndSwap("bad key", nil, 1, 0, 0); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	// A legal key on the same client does reach for the network.
	if _, _, err := c.Get("legal"); !IsConnectionError(err) {
		t.Fatalf("legal key on a closed port: want a connection error, got %v", err)
	}
}

func TestIllegalKeyOnListeningServerSendsNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns <- conn
		}
	}()
	c := newClient(t, Options{Servers: []string{l.Addr().String()}, Timeout: 300 * time.Millisecond})
	if _, _, err := c.Get("two words"); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("want ErrIllegalInput, got %v", err)
	}
	select {
	case conn := <-conns:
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		conn.Close()
		t.Fatalf("an illegal key opened a connection and sent %q", buf[:n])
	case <-time.After(200 * time.Millisecond):
	}
}

func TestConnectionError(t *testing.T) {
	c := newClient(t, Options{Servers: []string{closedAddr(t)}})
	_, _, err := c.Get("some-key")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if e.Status != StatusIOError || !errors.Is(err, ErrIO) || !IsConnectionError(err) {
		t.Fatalf("closed port: status %v, want PMC_IO_ERROR", e.Status)
	}
	if !strings.Contains(e.Message, "PMC_IO_ERROR") {
		t.Fatalf("message %q does not name the status", e.Message)
	}
	if err := c.Set("some-key", []byte("v"), 0, 0); !errors.Is(err, ErrIO) {
		t.Fatalf("Set on a closed port: %v", err)
	}
	if _, err := c.GetMulti([]string{"a", "b"}); !errors.Is(err, ErrIO) {
		t.Fatalf("GetMulti on a closed port: %v", err)
	}
}

// The error message is per OS thread in the library; the binding must read
// it on the thread that made the call even when goroutines migrate.
func TestErrorMessagesBelongToTheirCall(t *testing.T) {
	c := newClient(t, Options{Servers: []string{closedAddr(t)}, UsePooling: true})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				var err error
				want := "PMC_IO_ERROR"
				if (g+i)%2 == 0 {
					_, _, err = c.Get("bad key")
					want = "PMC_ILLEGAL_INPUT"
				} else {
					_, _, err = c.Get("good-key")
				}
				var e *Error
				if !errors.As(err, &e) || e.Status.String() != want || !strings.Contains(e.Message, want) {
					errs <- fmt.Errorf("goroutine %d call %d: want %s, got %v", g, i, want, err)
					return
				}
				runtime.Gosched()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Options{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no server: %v", err)
	}
	if _, err := New(Options{Servers: []string{"not an address"}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad address: %v", err)
	}
	if _, err := New(Options{Servers: []string{server1.addr, server1.addr}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("server given twice: %v", err)
	}
}

func TestKeyPrefix(t *testing.T) {
	plain := client1(t)
	prefixed := newClient(t, Options{Servers: []string{server1.addr}, KeyPrefix: "pfx:"})
	k := key(t, "prefix")
	mustSet(t, prefixed, k, []byte("p"), 0)
	if it, found, err := plain.Get("pfx:" + k); err != nil || !found || string(it.Value) != "p" {
		t.Fatalf("prefixed key: %+v %v %v", it, found, err)
	}
}

func TestClose(t *testing.T) {
	c, err := New(Options{Servers: []string{server1.addr}})
	if err != nil {
		t.Fatal(err)
	}
	k := key(t, "close")
	mustSet(t, c, k, []byte("x"), 0)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(k); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// Clients that are dropped without Close are freed by the finalizer, which
// closes their connections.
func TestFinalizerFreesForgottenClients(t *testing.T) {
	runtime.GC()
	before := openFDs(t)
	const n = 40
	func() {
		for i := 0; i < n; i++ {
			c, err := New(Options{Servers: []string{server1.addr}})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Get("finalizer-probe"); err != nil { // opens a connection
				t.Fatal(err)
			}
		}
	}()
	if open := openFDs(t); open < before+n {
		t.Fatalf("expected %d open connections, fds %d -> %d", n, before, open)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		if openFDs(t) <= before+2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("forgotten clients were not freed: fds %d -> %d", before, openFDs(t))
		}
	}
}

// checkConcurrent has 8 goroutines store and read back distinct values
// through one shared client.
func checkConcurrent(t *testing.T, c *Client, prefix string) []string {
	const workers, perWorker = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	keys := make([][]string, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				k := fmt.Sprintf("%s-%d-%d-%d", prefix, os.Getpid(), w, i)
				v := append([]byte(fmt.Sprintf("w%d-i%d|", w, i)), allBytes()...)
				if err := c.Set(k, v, uint32(w*1000+i), 0); err != nil {
					errs <- err
					return
				}
				it, found, err := c.Get(k)
				if err != nil || !found || !bytes.Equal(it.Value, v) || it.Flags != uint32(w*1000+i) {
					errs <- fmt.Errorf("worker %d key %s: found=%v err=%v value ok=%v flags=%d",
						w, k, found, err, bytes.Equal(it.Value, v), it.Flags)
					return
				}
				keys[w] = append(keys[w], k)
			}
			got, err := c.GetMulti(keys[w])
			if err != nil || len(got) != perWorker {
				errs <- fmt.Errorf("worker %d GetMulti: %d hits, err %v", w, len(got), err)
				return
			}
			for i, k := range keys[w] {
				want := append([]byte(fmt.Sprintf("w%d-i%d|", w, i)), allBytes()...)
				if !bytes.Equal(got[k].Value, want) {
					errs <- fmt.Errorf("worker %d GetMulti %s: wrong value", w, k)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var all []string
	for _, ks := range keys {
		all = append(all, ks...)
	}
	return all
}

func TestPooledClientSharedByGoroutines(t *testing.T) {
	c := newClient(t, Options{Servers: []string{server1.addr}, UsePooling: true, MaxPoolSize: 16, PoolTimeout: 5 * time.Second})
	checkConcurrent(t, c, "go-pooled")
	st, err := c.PoolStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.InUse != 0 || st.Created < 1 || uint64(st.Free) != st.Created-st.Destroyed {
		t.Fatalf("pool stats after the run: %+v", st)
	}
	t.Logf("pool stats: %+v", st)

	// A client without a pool says so.
	if _, err := client1(t).PoolStats(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("PoolStats on a plain client: %v", err)
	}
}

func TestHashClientSharedByGoroutines(t *testing.T) {
	c := newClient(t, Options{
		Servers:       []string{server1.addr, server2.addr},
		RetryAttempts: new(int), // dead at the first failure
		DeadTimeout:   30 * time.Second,
	})
	keys := checkConcurrent(t, c, "go-hash")
	if t.Failed() {
		return
	}
	// Both servers hold some of the keys, and together all of them.
	a, b := client1(t), newClient(t, Options{Servers: []string{server2.addr}})
	onA, err := a.GetMulti(keys)
	if err != nil {
		t.Fatal(err)
	}
	onB, err := b.GetMulti(keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(onA) == 0 || len(onB) == 0 || len(onA)+len(onB) != len(keys) {
		t.Fatalf("keys not spread over both servers: %d on one, %d on the other, of %d", len(onA), len(onB), len(keys))
	}
	for k := range onA {
		if _, dup := onB[k]; dup {
			t.Fatalf("key %s on both servers", k)
		}
	}
}

func rssBytes(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb int64
		if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &kb); n == 1 {
			return kb * 1024
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// Every value and result set the library hands back is freed: reading
// 256 MiB through Get and GetMulti must not grow the process by as much.
func TestNoLeakedBuffers(t *testing.T) {
	c := client1(t)
	big := bytes.Repeat([]byte{0xAB}, 256<<10)
	k1, k2 := key(t, "leak1"), key(t, "leak2")
	mustSet(t, c, k1, big, 0)
	mustSet(t, c, k2, big, 0)
	read := func(rounds int) {
		for i := 0; i < rounds; i++ {
			it, found, err := c.Get(k1)
			if err != nil || !found || len(it.Value) != len(big) {
				t.Fatalf("Get: %v %v %d", found, err, len(it.Value))
			}
			got, err := c.GetMulti([]string{k1, k2})
			if err != nil || len(got) != 2 {
				t.Fatalf("GetMulti: %d %v", len(got), err)
			}
		}
	}
	read(50) // warm up allocator and heap
	runtime.GC()
	before := rssBytes(t)
	read(350) // 350 * 3 * 256 KiB = 262 MiB handed back by the library
	runtime.GC()
	grown := rssBytes(t) - before
	if grown > 96<<20 {
		t.Fatalf("RSS grew by %d MiB reading 262 MiB: library buffers leak", grown>>20)
	}
	t.Logf("RSS grew by %d KiB", grown>>10)
}

// A server that accepts and reads but never answers: Timeout (5s) would wait
// long, Deadline (200ms) ends the whole call with ErrTimeout.
func TestDeadlineBoundsTheWholeCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	var heldMu sync.Mutex
	defer func() {
		heldMu.Lock()
		for _, c := range held {
			c.Close()
		}
		heldMu.Unlock()
	}()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, conn)
			heldMu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, conn) }()
		}
	}()
	c := newClient(t, Options{Servers: []string{l.Addr().String()}, Timeout: 5 * time.Second, Deadline: 200 * time.Millisecond})
	start := time.Now()
	_, _, err = c.Get(key(t, "deadline"))
	elapsed := time.Since(start)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusTimeout || !errors.Is(err, ErrTimeout) {
		t.Fatalf("want PMC_TIMEOUT, got %v", err)
	}
	if !strings.Contains(e.Message, "deadline") {
		t.Fatalf("message %q does not mention the deadline", e.Message)
	}
	if elapsed < 150*time.Millisecond || elapsed > 2*time.Second {
		t.Fatalf("failed after %v, want 150ms..2s", elapsed)
	}
}

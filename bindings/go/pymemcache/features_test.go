package pymemcache

// Tests of the surface beyond the basic commands: contexts, typed values,
// client kinds, options, server-wide commands.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// silentServer accepts connections, reads, and never answers; it counts
// the connections it accepted.
type silentServer struct {
	l        net.Listener
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

func newSilentServer(t *testing.T) *silentServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{l: l}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, conn) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

func (s *silentServer) addr() string { return s.l.Addr().String() }

func TestEndedContextFailsBeforeAnyIO(t *testing.T) {
	s := newSilentServer(t)
	c := newClient(t, Options{Servers: []string{s.addr()}})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	_, _, err := c.GetCtx(cancelled, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: want context.Canceled, got %v", err)
	}
	err = c.SetCtx(expired, "k", []byte("v"), 0, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("expired context: want DeadlineExceeded and ErrTimeout, got %v", err)
	}
	if _, err := c.GetMultiBytesCtx(expired, [][]byte{[]byte("a")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetMultiBytesCtx: %v", err)
	}
	if _, err := c.StatsCtx(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("StatsCtx: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := s.accepted.Load(); n != 0 {
		t.Fatalf("%d connection(s) made for calls whose context had ended", n)
	}
}

// A context's deadline bounds a call even with no Options.Deadline and a
// long socket timeout; Close then waits for the abandoned call.
func TestContextDeadlineBoundsTheCall(t *testing.T) {
	s := newSilentServer(t)
	c, err := New(Options{Servers: []string{s.addr()}, Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	key := []byte("go-ctx-deadline")
	start := time.Now()
	_, _, err = c.GetBytesCtx(ctx, key)
	elapsed := time.Since(start)
	key[0] = 'X' // the abandoned call holds its own copy
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("want the context's deadline, got %v", err)
	}
	if elapsed < 150*time.Millisecond || elapsed > time.Second {
		t.Fatalf("returned after %v, want about 200ms", elapsed)
	}
	start = time.Now()
	c.Close()
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Fatalf("Close returned after %v: it must wait for the call still in the library", waited)
	}
}

func TestCtxVariantsRoundTrip(t *testing.T) {
	c := client1(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k := key(t, "ctx")
	val := []byte("value")
	if err := c.SetCtx(ctx, k, val, 3, 0); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X'
	it, found, err := c.GetCtx(ctx, k)
	if err != nil || !found || string(it.Value) != "value" || it.Flags != 3 {
		t.Fatalf("GetCtx: %+v %v %v", it, found, err)
	}
	if n, found, err := c.IncrCtx(ctx, k, 1); err == nil || found || n != 0 {
		t.Fatalf("IncrCtx on text: %d %v %v", n, found, err)
	} else if !errors.Is(err, ErrClientError) || !strings.Contains(err.Error(), "CLIENT_ERROR") {
		t.Fatalf("IncrCtx on text: %v", err)
	}
	hits, err := c.GetsMultiCtx(ctx, []string{k, key(t, "ctx-miss")})
	if err != nil || len(hits) != 1 || hits[k].CAS == 0 {
		t.Fatalf("GetsMultiCtx: %v %v", hits, err)
	}
	res, err := c.CompareAndSwapCtx(ctx, k, []byte("new"), hits[k].CAS, 0, 0)
	if err != nil || res != CASStored {
		t.Fatalf("CompareAndSwapCtx: %v %v", res, err)
	}
	if found, err := c.DeleteCtx(ctx, k); err != nil || !found {
		t.Fatalf("DeleteCtx: %v %v", found, err)
	}
}

func TestTypedValues(t *testing.T) {
	c := client1(t)
	kt, ki, kj, kb := key(t, "text"), key(t, "int"), key(t, "json"), key(t, "bytes")
	if err := c.SetText(kt, "héllo", 0); err != nil {
		t.Fatal(err)
	}
	if s, found, err := c.GetText(kt); err != nil || !found || s != "héllo" {
		t.Fatalf("GetText: %q %v %v", s, found, err)
	}
	if it, _, _ := c.Get(kt); it.Flags != 16 || string(it.Value) != "héllo" {
		t.Fatalf("text stored as %+v, want flag 16", it)
	}
	if err := c.SetText(kt, "\xff", 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SetText of non-UTF-8: %v", err)
	}
	if err := c.SetInt64(ki, -42, 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c.GetInt64(ki); err != nil || !found || v != -42 {
		t.Fatalf("GetInt64: %d %v %v", v, found, err)
	}
	if it, _, _ := c.Get(ki); it.Flags != 2 || string(it.Value) != "-42" {
		t.Fatalf("int stored as %+v, want flag 2", it)
	}
	if _, _, err := c.GetInt64(kt); !errors.Is(err, ErrNotInteger) {
		t.Fatalf("GetInt64 of text: %v", err)
	}
	if _, _, err := c.GetText(ki); !errors.Is(err, ErrNotText) {
		t.Fatalf("GetText of an int: %v", err)
	}
	if _, found, err := c.GetInt64(key(t, "nothing")); err != nil || found {
		t.Fatalf("GetInt64 miss: %v %v", found, err)
	}

	doc := []byte(`{"name":"x","list":[1,2.5,"three",null,true],"$set":null}`)
	if err := c.SetJSON(kj, doc, 0); err != nil {
		t.Fatal(err)
	}
	if it, _, _ := c.Get(kj); it.Flags != 1 {
		t.Fatalf("JSON object stored with flags %d, want 1 (a pickle)", it.Flags)
	}
	got, found, err := c.GetJSON(kj)
	if err != nil || !found {
		t.Fatalf("GetJSON: %v %v", found, err)
	}
	var want, have any
	_ = json.Unmarshal(doc, &want)
	if err := json.Unmarshal(got, &have); err != nil || !reflect.DeepEqual(want, have) {
		t.Fatalf("GetJSON gave %s, want %s", got, doc)
	}
	if err := c.SetJSON(kj, []byte(`{"unclosed":`), 0); !errors.Is(err, ErrCorruptValue) {
		t.Fatalf("SetJSON of bad JSON: %v", err)
	}
	if got, _, err := c.GetJSON(kt); err != nil || string(got) != `"héllo"` {
		t.Fatalf("GetJSON of text: %s %v", got, err)
	}
	if got, _, err := c.GetJSON(ki); err != nil || string(got) != `-42` {
		t.Fatalf("GetJSON of an int: %s %v", got, err)
	}
	mustSet(t, c, kb, []byte{0, 0xff}, 0)
	if got, _, err := c.GetJSON(kb); err != nil || !strings.Contains(string(got), `"$bytes"`) || !strings.Contains(string(got), `00ff`) {
		t.Fatalf("GetJSON of bytes: %s %v", got, err)
	}
	type rec struct {
		A int      `json:"a"`
		B []string `json:"b"`
	}
	if err := c.SetValue(kj, rec{7, []string{"x", "y"}}, 0); err != nil {
		t.Fatal(err)
	}
	var r rec
	if found, err := c.GetValue(kj, &r); err != nil || !found || r.A != 7 || len(r.B) != 2 || r.B[1] != "y" {
		t.Fatalf("GetValue: %+v %v %v", r, found, err)
	}
	if err := c.SetTextBytes([]byte(kt), "b", 0); err != nil {
		t.Fatal(err)
	}
	if s, _, err := c.GetTextBytes([]byte(kt)); err != nil || s != "b" {
		t.Fatalf("GetTextBytes: %q %v", s, err)
	}
}

func TestMockClient(t *testing.T) {
	c := newClient(t, Options{Mock: true})
	if err := c.Set("k", []byte("v"), 5, 0); err != nil {
		t.Fatal(err)
	}
	if it, found, err := c.Get("k"); err != nil || !found || string(it.Value) != "v" || it.Flags != 5 {
		t.Fatalf("mock Get: %+v %v %v", it, found, err)
	}
	if _, _, err := c.Get("bad key"); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("mock illegal key: %v", err)
	}
	other := newClient(t, Options{Mock: true})
	if _, found, _ := other.Get("k"); found {
		t.Fatal("two mock clients share their items")
	}
}

func TestFallbackClient(t *testing.T) {
	k := key(t, "fallback")
	oldC, err := New(Options{Servers: []string{server2.addr}})
	if err != nil {
		t.Fatal(err)
	}
	newC, err := New(Options{Servers: []string{server1.addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := oldC.Set(k, []byte("old"), 0, 0); err != nil {
		t.Fatal(err)
	}
	fb, err := NewFallback(newC, oldC)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if _, _, err := oldC.Get(k); !errors.Is(err, ErrClosed) {
		t.Fatalf("a client owned by the fallback: %v", err)
	}
	if it, found, err := fb.Get(k); err != nil || !found || string(it.Value) != "old" {
		t.Fatalf("fallback read: %+v %v %v", it, found, err)
	}
	if err := fb.Set(k, []byte("new"), 0, 0); err != nil {
		t.Fatal(err)
	}
	direct := client1(t)
	if it, found, _ := direct.Get(k); !found || string(it.Value) != "new" {
		t.Fatalf("the write went elsewhere than the first client: %+v", it)
	}
	if _, err := NewFallback(newC); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewFallback of an owned client: %v", err)
	}
	a := newClient(t, Options{Mock: true})
	if _, err := NewFallback(a, a); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a client twice: %v", err)
	}
	if _, _, err := a.Get("k"); err != nil {
		t.Fatalf("a client refused by NewFallback must stay usable: %v", err)
	}
	if _, err := NewFallback(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("no clients: %v", err)
	}
}

func TestRetryingClient(t *testing.T) {
	dead := closedAddr(t)
	inner, err := New(Options{Servers: []string{dead}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRetrying(inner, RetryOptions{Attempts: 0}); !errors.Is(err, ErrConfig) {
		t.Fatalf("zero attempts: %v", err)
	}
	if _, _, err := inner.Get("k"); !errors.Is(err, ErrIO) {
		t.Fatalf("inner after a failed NewRetrying must stay usable: %v", err)
	}
	r, err := NewRetrying(inner, RetryOptions{Attempts: 3, Delay: 100 * time.Millisecond, RetryFor: []Status{StatusIOError}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	_, _, err = r.Get("k")
	if !errors.Is(err, ErrIO) || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("3 attempts 100ms apart: %v after %v", err, time.Since(start))
	}
	inner2, _ := New(Options{Servers: []string{dead}})
	r2, err := NewRetrying(inner2, RetryOptions{Attempts: 5, Delay: time.Second, DoNotRetryFor: []Status{StatusIOError}})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	start = time.Now()
	if _, _, err := r2.Get("k"); !errors.Is(err, ErrIO) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("an error not to retry: %v after %v", err, time.Since(start))
	}
	works, _ := New(Options{Servers: []string{server1.addr}})
	r3, err := NewRetrying(works, RetryOptions{Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	k := key(t, "retrying")
	if err := r3.Set(k, []byte("v"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if it, found, err := r3.Get(k); err != nil || !found || string(it.Value) != "v" {
		t.Fatalf("retrying Get: %+v %v %v", it, found, err)
	}
}

func TestCompression(t *testing.T) {
	c := newClient(t, Options{Servers: []string{server1.addr}, Compression: &Compression{MinLen: 10}})
	plain := client1(t)
	k := key(t, "zlib")
	val := bytes.Repeat([]byte("abc"), 1000)
	mustSet(t, c, k, val, 0)
	raw, _, _ := plain.Get(k)
	if raw.Flags&8 == 0 || len(raw.Value) >= len(val) {
		t.Fatalf("stored %d bytes with flags %d: not compressed", len(raw.Value), raw.Flags)
	}
	if it, _, err := c.Get(k); err != nil || !bytes.Equal(it.Value, val) || it.Flags != 0 {
		t.Fatalf("read back %d bytes, flags %d, %v", len(it.Value), it.Flags, err)
	}
	if _, err := New(Options{Servers: []string{server1.addr}, Compression: &Compression{MinLen: -1}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative MinLen: %v", err)
	}
}

func TestSerdeCallbacks(t *testing.T) {
	upper := func(key, v []byte, flags uint32) ([]byte, uint32, error) {
		if string(v) == "fail" {
			return nil, 0, errors.New("refused")
		}
		return bytes.ToUpper(v), 77, nil
	}
	var sawKey atomic.Value
	lower := func(key, v []byte, flags uint32) ([]byte, uint32, error) {
		sawKey.Store(string(key))
		if flags != 77 {
			return v, flags, nil
		}
		return bytes.ToLower(v), 1, nil
	}
	c := newClient(t, Options{Servers: []string{server1.addr}, Serializer: upper, Deserializer: lower})
	plain := client1(t)
	k := key(t, "serde")
	mustSet(t, c, k, []byte("Hello"), 0)
	if raw, _, _ := plain.Get(k); string(raw.Value) != "HELLO" || raw.Flags != 77 {
		t.Fatalf("serialized as %q/%d", raw.Value, raw.Flags)
	}
	if it, _, err := c.Get(k); err != nil || string(it.Value) != "hello" || it.Flags != 1 {
		t.Fatalf("deserialized as %q/%d %v", it.Value, it.Flags, err)
	}
	if sawKey.Load() != k {
		t.Fatalf("the deserializer saw key %v, want %s", sawKey.Load(), k)
	}
	if err := c.Set(k, []byte("fail"), 0, 0); !errors.Is(err, ErrSerdeCallback) {
		t.Fatalf("a failing serializer: %v", err)
	}
	panicky := newClient(t, Options{Servers: []string{server1.addr}, Serializer: func(k, v []byte, f uint32) ([]byte, uint32, error) { panic("boom") }})
	if err := panicky.Set(k, []byte("x"), 0, 0); !errors.Is(err, ErrSerdeCallback) {
		t.Fatalf("a panicking serializer: %v", err)
	}
	// Shared between goroutines: the callbacks run on many threads at once.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if it, _, err := c.Get(k); err != nil || string(it.Value) != "hello" {
					t.Errorf("concurrent Get: %q %v", it.Value, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestServerCommands(t *testing.T) {
	c := client1(t)
	v, err := c.Version()
	if err != nil || v == "" || !strings.Contains(v, ".") {
		t.Fatalf("Version: %q %v", v, err)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := st.Get("pid"); !ok || pid == "" || st[0].Server != server1.addr {
		t.Fatalf("Stats: pid %q %v, first entry %+v", pid, ok, st[0])
	}
	if s, err := c.Stats("settings"); err != nil {
		t.Fatal(err)
	} else if _, ok := s.Get("maxbytes"); !ok {
		t.Fatalf("stats settings without maxbytes: %v", s)
	}
	if _, err := c.Stats("bad arg"); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("Stats with whitespace: %v", err)
	}
	if err := c.CacheMemlimit(64); err != nil {
		t.Fatal(err)
	}
	reply, err := c.RawCommand([]byte("version"), []byte("\r\n"))
	if err != nil || string(reply) != "VERSION "+v {
		t.Fatalf("RawCommand(version): %q %v", reply, err)
	}
	if _, err := c.RawCommand([]byte("version\r\nflush_all"), []byte("\r\n")); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("RawCommand with a line break: %v", err)
	}
	if _, err := c.RawCommand([]byte("bogus_command"), []byte("\r\n")); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("RawCommand(bogus): %v", err)
	}
	k := key(t, "admin")
	mustSet(t, c, k, []byte("v"), 0)
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Get(k); err != nil || !found {
		t.Fatalf("Get after Quit: %v %v", found, err)
	}
	if err := c.CloseConnections(); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.Get(k); err != nil || !found {
		t.Fatalf("Get after CloseConnections: %v %v", found, err)
	}
	if err := c.Shutdown(false); !errors.Is(err, ErrUnknownCommand) {
		t.Fatalf("Shutdown without -A: %v", err)
	}

	m, err := startMemcached("-A")
	if err != nil {
		t.Fatal(err)
	}
	defer m.stop()
	sc := newClient(t, Options{Servers: []string{m.addr}})
	sk := key(t, "flush")
	mustSet(t, sc, sk, []byte("v"), 0)
	if err := sc.FlushAll(0, ReplyWait); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := sc.Get(sk); found {
		t.Fatal("FlushAll left the item")
	}
	if err := sc.Shutdown(true); err != nil {
		t.Fatalf("Shutdown with -A: %v", err)
	}
	// startMemcached's goroutine waits for the process; here it is enough
	// that nothing listens any more.
	for deadline := time.Now().Add(5 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", m.addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("memcached still listens after Shutdown")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPoolStatsAndClear(t *testing.T) {
	c := newClient(t, Options{Servers: []string{server1.addr}, UsePooling: true, MaxPoolSize: 4, PoolTimeout: time.Second, PoolIdleTimeout: time.Minute})
	k := key(t, "pool")
	mustSet(t, c, k, []byte("v"), 0)
	s, err := c.PoolStats()
	if err != nil || s.Created < 1 || s.Free < 1 || s.InUse != 0 {
		t.Fatalf("PoolStats: %+v %v", s, err)
	}
	if err := c.PoolClear(); err != nil {
		t.Fatal(err)
	}
	if s, err := c.PoolStats(); err != nil || s.Free != 0 || s.Destroyed < 1 {
		t.Fatalf("PoolStats after PoolClear: %+v %v", s, err)
	}
	if _, err := client1(t).PoolStats(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("PoolStats without a pool: %v", err)
	}
}

func TestAddAndRemoveServers(t *testing.T) {
	c := newClient(t, Options{Servers: []string{server1.addr}, UseHashClient: true})
	placed := func() map[string]int {
		m := map[string]int{}
		for i := 0; i < 40; i++ {
			on, err := c.ServerForKey(key(t, "place"))
			if err != nil {
				t.Fatal(err)
			}
			m[on]++
		}
		return m
	}
	if m := placed(); m[server1.addr] != 40 {
		t.Fatalf("one server: %v", m)
	}
	if err := c.AddServer(server2.addr); err != nil {
		t.Fatal(err)
	}
	if m := placed(); m[server1.addr] == 0 || m[server2.addr] == 0 {
		t.Fatalf("two servers, keys on one only: %v", m)
	}
	if err := c.AddServer(server2.addr); !errors.Is(err, ErrConfig) {
		t.Fatalf("adding a present server: %v", err)
	}
	if err := c.RemoveServer(server2.addr); err != nil {
		t.Fatal(err)
	}
	if m := placed(); m[server1.addr] != 40 {
		t.Fatalf("after RemoveServer: %v", m)
	}
	if err := c.RemoveServer(server2.addr); !errors.Is(err, ErrConfig) {
		t.Fatalf("removing an absent server: %v", err)
	}
	if err := client1(t).AddServer(server2.addr); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("AddServer on a single-server client: %v", err)
	}
}

// A hash client with a dead server: with RetryAttempts 0 the first failure
// declares it dead, and its keys move to the live server.
func TestHashClientFailover(t *testing.T) {
	dead := closedAddr(t)
	c := newClient(t, Options{Servers: []string{server1.addr, dead}, RetryAttempts: new(int), RetryTimeout: 10 * time.Millisecond, DeadTimeout: time.Minute})
	var k string
	for i := 0; ; i++ {
		k = key(t, "failover")
		if on, _ := c.ServerForKey(k); on == dead {
			break
		}
		if i > 100 {
			t.Fatal("no key placed on the second server")
		}
	}
	if err := c.Set(k, []byte("v"), 0, 0); !errors.Is(err, ErrIO) {
		t.Fatalf("set on the dead server: %v", err)
	}
	if on, err := c.ServerForKey(k); err != nil || on != server1.addr {
		t.Fatalf("after the failure the key is placed on %q (%v), want %s", on, err, server1.addr)
	}
	if err := c.Set(k, []byte("v"), 0, 0); err != nil {
		t.Fatalf("set after failover: %v", err)
	}
}

// Failure tracking: a dead server is soft-down after Threshold failures;
// its keys then fail fast with a message naming it; NodeState reports it.
func TestFailureTracking(t *testing.T) {
	dead := closedAddr(t)
	ft := &FailureTracking{Threshold: 2, InitialBackoff: time.Minute, MaxBackoff: time.Minute}
	c := newClient(t, Options{Servers: []string{server1.addr, dead}, FailureTracking: ft})
	var k string
	for i := 0; ; i++ {
		k = key(t, "tko")
		if on, _ := c.ServerForKey(k); on == dead {
			break
		}
		if i > 100 {
			t.Fatal("no key placed on the second server")
		}
	}
	for i := 0; i < 2; i++ {
		if _, _, err := c.Get(k); !errors.Is(err, ErrIO) {
			t.Fatalf("get on the dead server: %v", err)
		}
	}
	h, err := c.NodeState(dead)
	if err != nil || h.State != NodeSoftDown || h.Refusals != 2 || h.ConsecutiveFailures != 2 {
		t.Fatalf("NodeState(%s) = %+v, %v", dead, h, err)
	}
	_, _, err = c.Get(k)
	if !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "marked down") {
		t.Fatalf("fail fast: %v", err)
	}
	if h, err := c.NodeState(server1.addr); err != nil || h.State != NodeUp {
		t.Fatalf("NodeState(%s) = %+v, %v", server1.addr, h, err)
	}
	bad := &FailureTracking{Threshold: 0, InitialBackoff: time.Second, MaxBackoff: time.Second}
	if _, err := New(Options{Servers: []string{server1.addr}, FailureTracking: bad}); !errors.Is(err, ErrConfig) {
		t.Fatalf("threshold 0: %v", err)
	}
}

func TestOptions(t *testing.T) {
	if _, _, err := newClient(t, Options{Servers: []string{closedAddr(t)}, IgnoreExc: true}).Get("k"); err != nil {
		t.Fatalf("IgnoreExc: a connection error must read as a miss, got %v", err)
	}
	small := newClient(t, Options{Servers: []string{server1.addr}, MaxValueLen: 10, Keepalive: true, NoDelay: true})
	if err := small.Set(key(t, "big"), make([]byte, 11), 0, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxValueLen: %v", err)
	}
	if _, err := New(Options{Servers: []string{server1.addr}, KeyPrefix: "bad prefix"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("a prefix with a space: %v", err)
	}
	c := client1(t)
	k := key(t, "noreply")
	if found, err := c.Delete(k, ReplyNone); err != nil || !found {
		t.Fatalf("Delete with ReplyNone reports success: %v %v", found, err)
	}
	if found, err := c.Delete(k); err != nil || found {
		t.Fatalf("Delete waits by default: %v %v", found, err)
	}
	if LibraryVersion() != HeaderVersion {
		t.Fatalf("library %s, header %s", LibraryVersion(), HeaderVersion)
	}
}

func TestManyKeyCommandsWithTextKeys(t *testing.T) {
	c := client1(t)
	a, b, z := key(t, "many"), key(t, "many"), key(t, "many")
	failed, err := c.SetMulti([]string{a, b}, [][]byte{[]byte("1"), []byte("2")}, 4, 0)
	if err != nil || len(failed) != 0 {
		t.Fatalf("SetMulti: %v %v", failed, err)
	}
	if _, err := c.SetMulti([]string{a}, nil, 0, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SetMulti with fewer values: %v", err)
	}
	hits, err := c.GetsMulti([]string{a, b, z})
	if err != nil || len(hits) != 2 || hits[a].Flags != 4 || hits[b].CAS == 0 {
		t.Fatalf("GetsMulti: %v %v", hits, err)
	}
	if n, err := c.DeleteMulti([]string{a, b, z}); err != nil || n != 2 {
		t.Fatalf("DeleteMulti: %d %v", n, err)
	}
	if _, err := c.DeleteMulti([]string{a, "bad key"}); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("DeleteMulti with a bad key: %v", err)
	}
	if stored, err := c.Add(a, []byte("x"), 0, 0); err != nil || !stored {
		t.Fatalf("Add: %v %v", stored, err)
	}
	if stored, err := c.Add(a, []byte("y"), 0, 0); err != nil || stored {
		t.Fatalf("Add of a present key: %v %v", stored, err)
	}
	if stored, err := c.Append(a, []byte("z")); err != nil || !stored {
		t.Fatalf("Append: %v %v", stored, err)
	}
	if stored, err := c.Prepend(a, []byte("w")); err != nil || !stored {
		t.Fatalf("Prepend: %v %v", stored, err)
	}
	if stored, err := c.Replace(z, []byte("w"), 0, 0); err != nil || stored {
		t.Fatalf("Replace of an absent key: %v %v", stored, err)
	}
	it, found, err := c.Gats(a, 100)
	if err != nil || !found || string(it.Value) != "wxz" || it.CAS == 0 {
		t.Fatalf("Gats: %+v %v %v", it, found, err)
	}
	if it, found, err := c.Gat(a, 0); err != nil || !found || string(it.Value) != "wxz" {
		t.Fatalf("Gat: %+v %v %v", it, found, err)
	}
}

// TestReconnectBackoff: after a refused connect the next call fails at once
// with the same error, saying so; ReconnectBackoff{} (Initial 0) turns it off.
func TestReconnectBackoff(t *testing.T) {
	dead := closedAddr(t)
	c := newClient(t, Options{Servers: []string{dead}})
	if _, _, err := c.Get("k"); !errors.Is(err, ErrIO) || strings.Contains(err.Error(), "backoff") {
		t.Fatalf("first call: %v", err)
	}
	if _, _, err := c.Get("k"); !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "reconnect backoff") {
		t.Fatalf("second call: %v", err)
	}
	off := newClient(t, Options{Servers: []string{dead}, ReconnectBackoff: &Backoff{}})
	for i := 0; i < 3; i++ {
		if _, _, err := off.Get("k"); !errors.Is(err, ErrIO) || strings.Contains(err.Error(), "backoff") {
			t.Fatalf("backoff off, call %d: %v", i, err)
		}
	}
	if _, err := New(Options{Servers: []string{dead}, ReconnectBackoff: &Backoff{Initial: time.Second, Max: time.Millisecond}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("max below initial: %v", err)
	}
}

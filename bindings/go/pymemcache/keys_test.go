package pymemcache

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// pymemcache's rules: a []byte key is refused only for ASCII whitespace,
// NUL, length, or emptiness; a string key is text, ASCII only unless
// AllowUnicodeKeys. Touch follows the noreply default. The hash key form
// moves keys as pymemcache 4.0.0 moves them.

func wantIllegal(t *testing.T, what string, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusIllegalInput || !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("%s: want PMC_ILLEGAL_INPUT (%d), got %v", what, StatusIllegalInput, err)
	}
	if IsConnectionError(err) {
		t.Fatalf("%s: reported as a connection error: %v", what, err)
	}
	return e
}

func TestBytesKeysAnyByteButWhitespaceAndNUL(t *testing.T) {
	c := client1(t) // AllowUnicodeKeys off: it does not apply to bytes keys
	uniq := []byte(key(t, "bk"))
	var ctl []byte // every byte value a bytes key may hold that is not printable ASCII
	for b := 1; b < 256; b++ {
		if (b >= 0x09 && b <= 0x0d) || b == ' ' || (b > ' ' && b < 0x7f) {
			continue
		}
		ctl = append(ctl, byte(b))
	}
	keys := map[string][]byte{
		"control bytes": append(append([]byte{}, uniq...), 0x01, 0x1b, 0x7f, 0x1f),
		"UTF-8":         append(append([]byte{}, uniq...), "-clé-ключ-鍵"...),
		"invalid UTF-8": append(append([]byte{}, uniq...), 0xff, 0xfe, 0xc3, 0x28, 0x80),
		"every other":   append(append([]byte{}, uniq...), ctl...),
	}
	var all [][]byte
	for name, k := range keys {
		val := append([]byte(name+"|"), allBytes()...)
		if err := c.SetBytes(k, val, 5, 0); err != nil {
			t.Fatalf("SetBytes(%s %q): %v", name, k, err)
		}
		it, found, err := c.GetBytes(k)
		if err != nil || !found || !bytes.Equal(it.Value, val) || it.Flags != 5 {
			t.Fatalf("GetBytes(%s): found=%v err=%v flags=%d", name, found, err, it.Flags)
		}
		g, found, err := c.GetsBytes(k)
		if err != nil || !found || g.CAS == 0 {
			t.Fatalf("GetsBytes(%s): %+v %v %v", name, g, found, err)
		}
		if res, err := c.CompareAndSwapBytes(k, val, g.CAS, 6, 0); err != nil || res != CASStored {
			t.Fatalf("CompareAndSwapBytes(%s): %v %v", name, res, err)
		}
		if ok, err := c.TouchBytes(k, 0); err != nil || !ok {
			t.Fatalf("TouchBytes(%s): %v %v", name, ok, err)
		}
		all = append(all, k)
	}
	got, err := c.GetMultiBytes(append(all, []byte(key(t, "bk-miss"))))
	if err != nil || len(got) != len(all) {
		t.Fatalf("GetMultiBytes: %d hits of %d, err %v", len(got), len(all), err)
	}
	for name, k := range keys {
		if it, ok := got[string(k)]; !ok || !bytes.HasPrefix(it.Value, []byte(name+"|")) || it.Flags != 6 {
			t.Fatalf("GetMultiBytes %s: %+v %v", name, it, ok)
		}
	}
	// An ASCII key is the same key as text or bytes.
	ctlKey := keys["control bytes"]
	if it, found, err := c.Get(string(ctlKey)); err != nil || !found || it.Flags != 6 {
		t.Fatalf("Get(control bytes as a string): %v %v", found, err)
	}

	// Counters and delete take bytes keys too.
	ctr := append([]byte(key(t, "bk-ctr")), 0xe2, 0x82, 0xac, 0x01)
	if err := c.SetBytes(ctr, []byte("41"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.IncrBytes(ctr, 2); err != nil || !ok || v != 43 {
		t.Fatalf("IncrBytes: %d %v %v", v, ok, err)
	}
	if v, ok, err := c.DecrBytes(ctr, 1); err != nil || !ok || v != 42 {
		t.Fatalf("DecrBytes: %d %v %v", v, ok, err)
	}
	if ok, err := c.DeleteBytes(ctr); err != nil || !ok {
		t.Fatalf("DeleteBytes: %v %v", ok, err)
	}
	if ok, err := c.DeleteBytes(ctr); err != nil || ok {
		t.Fatalf("DeleteBytes again: %v %v", ok, err)
	}
	// The length limit counts bytes: 250 is fine, 251 is not.
	long := bytes.Repeat([]byte{0xff}, 250)
	if err := c.SetBytes(long, []byte("x"), 0, 0); err != nil {
		t.Fatalf("250-byte key: %v", err)
	}
	wantIllegal(t, "251-byte key", c.SetBytes(append(long, 0xff), []byte("x"), 0, 0))
}

func TestWhitespaceAndNULKeysRefusedAsTextAndBytes(t *testing.T) {
	// Nothing listens there: had anything been sent, this would be a
	// connection error.
	for _, allow := range []bool{false, true} {
		c := newClient(t, Options{Servers: []string{closedAddr(t)}, AllowUnicodeKeys: allow})
		for _, sep := range []string{" ", "\t", "\n", "\r", "\v", "\f", "\x00"} {
			for _, k := range []string{"a" + sep + "b", sep + "lead", "trail" + sep, "é" + sep} {
				what := fmt.Sprintf("allow=%v key %q", allow, k)
				wantIllegal(t, what+" GetBytes", errOf3(c.GetBytes([]byte(k))))
				wantIllegal(t, what+" SetBytes", c.SetBytes([]byte(k), []byte("v"), 0, 0))
				_, err := c.GetMultiBytes([][]byte{[]byte("fine"), []byte(k)})
				wantIllegal(t, what+" GetMultiBytes", err)
				_, err = c.TouchBytes([]byte(k), 0)
				wantIllegal(t, what+" TouchBytes", err)
				_, err = c.DeleteBytes([]byte(k))
				wantIllegal(t, what+" DeleteBytes", err)
				if strings.HasPrefix(k, "é") && !allow {
					continue // refused as non-ASCII text first (below)
				}
				e := wantIllegal(t, what+" Get", errOf3(c.Get(k)))
				if !strings.Contains(e.Message, "whitespace") && !strings.Contains(e.Message, "null") {
					t.Fatalf("%s: message %q", what, e.Message)
				}
				wantIllegal(t, what+" Set", c.Set(k, []byte("v"), 0, 0))
				_, err = c.GetMulti([]string{"fine", k})
				wantIllegal(t, what+" GetMulti", err)
				_, err = c.Touch(k, 0)
				wantIllegal(t, what+" Touch", err)
			}
		}
		// The client still reaches for the server with a legal key.
		if _, _, err := c.GetBytes([]byte{0x01, 0xff}); !IsConnectionError(err) {
			t.Fatalf("legal bytes key on a closed port: want a connection error, got %v", err)
		}
	}
}

// errOf2 and errOf3 keep the error of a call's results.
func errOf2[A any](_ A, err error) error         { return err }
func errOf3[A, B any](_ A, _ B, err error) error { return err }

func TestNonASCIITextKeys(t *testing.T) {
	// Without AllowUnicodeKeys a non-ASCII string key is refused by the
	// binding, by every method, before anything is sent.
	closed := newClient(t, Options{Servers: []string{closedAddr(t)}})
	k := "clé"
	checks := map[string]error{
		"Get":            errOf3(closed.Get(k)),
		"Gets":           errOf3(closed.Gets(k)),
		"Set":            closed.Set(k, []byte("v"), 0, 0),
		"Delete":         errOf2(closed.Delete(k)),
		"Touch":          errOf2(closed.Touch(k, 0)),
		"Incr":           errOf3(closed.Incr(k, 1)),
		"Decr":           errOf3(closed.Decr(k, 1)),
		"CompareAndSwap": errOf2(closed.CompareAndSwap(k, nil, 1, 0, 0)),
		"ServerForKey":   errOf2(closed.ServerForKey(k)),
	}
	_, checks["GetMulti"] = closed.GetMulti([]string{"fine", k})
	_, checks["not UTF-8"] = closed.Delete("bad\xff")
	for op, err := range checks {
		e := wantIllegal(t, op, err)
		if !strings.HasPrefix(e.Message, "PMC_ILLEGAL_INPUT: ") ||
			!strings.Contains(e.Message, "key contains non-ASCII characters and allow_unicode_keys is off") {
			t.Fatalf("%s: message %q", op, e.Message)
		}
	}

	// With it, the key's UTF-8 bytes are stored: a bytes key of the same
	// UTF-8, on a client without the option, reads them back.
	uni := newClient(t, Options{Servers: []string{server1.addr}, AllowUnicodeKeys: true})
	plain := client1(t)
	text := key(t, "uni") + "-clé-ключ-鍵-🔑"
	if err := uni.Set(text, []byte("unicode"), 3, 0); err != nil {
		t.Fatalf("Set with AllowUnicodeKeys: %v", err)
	}
	it, found, err := plain.GetBytes([]byte(text))
	if err != nil || !found || string(it.Value) != "unicode" || it.Flags != 3 {
		t.Fatalf("GetBytes of the UTF-8: %+v %v %v", it, found, err)
	}
	if _, _, err := plain.Get(text); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("the same text key without AllowUnicodeKeys: %v", err)
	}
	got, err := uni.GetMulti([]string{text, key(t, "uni-miss") + "-é"})
	if err != nil || len(got) != 1 || string(got[text].Value) != "unicode" {
		t.Fatalf("GetMulti: %v %v", got, err)
	}
	if ok, err := uni.Touch(text, 0); err != nil || !ok {
		t.Fatalf("Touch: %v %v", ok, err)
	}
	if ok, err := uni.Delete(text); err != nil || !ok {
		t.Fatalf("Delete: %v %v", ok, err)
	}
	// The limit counts the UTF-8 bytes: 125 'é' are 250 bytes, 126 are 252.
	if err := uni.Set(strings.Repeat("é", 125), []byte("x"), 0, 0); err != nil {
		t.Fatalf("250 bytes of UTF-8: %v", err)
	}
	wantIllegal(t, "252 bytes of UTF-8", uni.Set(strings.Repeat("é", 126), []byte("x"), 0, 0))
	// A string that is not UTF-8 is not text: refused, while the same
	// bytes as a []byte key are stored.
	bad := key(t, "uni-bad") + "\xff\xfe"
	if e := wantIllegal(t, "invalid UTF-8 string", uni.Set(bad, []byte("x"), 0, 0)); !strings.Contains(e.Message, "not valid UTF-8") {
		t.Fatalf("invalid UTF-8 string: message %q", e.Message)
	}
	if err := uni.SetBytes([]byte(bad), []byte("x"), 0, 0); err != nil {
		t.Fatalf("the same bytes as a []byte key: %v", err)
	}
}

func TestTextKeyCheckDoesNotAllocate(t *testing.T) {
	c := newClient(t, Options{Servers: []string{closedAddr(t)}})
	k := "an-ordinary:ascii-key/with.symbols~0123456789"
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		a, err := c.textKey("Get", k)
		if err != nil {
			t.Fatal(err)
		}
		n = int(a.n)
	})
	if allocs != 0 || int(n) != len(k) {
		t.Fatalf("textKey on an ASCII key: %v allocations, length %d", allocs, n)
	}
}

func TestTouch(t *testing.T) {
	c := client1(t) // the binding's default: Noreply off, Touch waits
	k := key(t, "touch")
	mustSet(t, c, k, []byte("x"), 0)
	if ok, err := c.Touch(k, 3600); err != nil || !ok {
		t.Fatalf("Touch existing: %v %v", ok, err)
	}
	if _, found, _ := c.Get(k); !found {
		t.Fatal("touched key gone")
	}
	missing := key(t, "touch-missing")
	if ok, err := c.Touch(missing, 10); err != nil || ok {
		t.Fatalf("Touch missing: want false, got %v %v", ok, err)
	}
	// The exptime reaches the server: a negative one expires the item.
	if ok, err := c.Touch(k, -1); err != nil || !ok {
		t.Fatalf("Touch(-1): %v %v", ok, err)
	}
	if _, found, _ := c.Get(k); found {
		t.Fatal("Touch(-1) did not expire the item")
	}

	// With Noreply the outcome is not known: true, as pymemcache's
	// touch(noreply=None) under default_noreply.
	nr := newClient(t, Options{Servers: []string{server1.addr}, Noreply: true})
	if ok, err := nr.Touch(missing, 10); err != nil || !ok {
		t.Fatalf("Touch missing with Noreply: want true, got %v %v", ok, err)
	}
	k2 := key(t, "touch-nr")
	mustSet(t, c, k2, []byte("y"), 0)
	if ok, err := nr.Touch(k2, -1); err != nil || !ok {
		t.Fatalf("Touch(-1) with Noreply: %v %v", ok, err)
	}
	// The noreply command was sent: the item expires (checked on the same
	// connection, after the noreply touch).
	if _, found, _ := nr.Get(k2); found {
		t.Fatal("noreply Touch(-1) did not reach the server")
	}
	if _, err := client1(t).Touch("bad key", 0); !errors.Is(err, ErrIllegalInput) {
		t.Fatalf("Touch of an illegal key: %v", err)
	}
}

// pymemcache 4.0.0's HashClient over these nodes places these keys so,
// for str keys (text) and for bytes keys (the repr b'...' is hashed).
var fixedNodes = []string{"127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"}

var placementVectors = []struct{ key, text, bytes string }{
	{"a", "127.0.0.1:11213", "127.0.0.1:11211"},
	{"foo", "127.0.0.1:11213", "127.0.0.1:11212"},
	{"key1", "127.0.0.1:11212", "127.0.0.1:11213"},
	{"user:42", "127.0.0.1:11212", "127.0.0.1:11212"},
}

func TestHashKeyFormPlacementVectors(t *testing.T) {
	// Placement needs no connection: nothing needs to listen on these ports.
	text := newClient(t, Options{Servers: fixedNodes})
	textExplicit := newClient(t, Options{Servers: fixedNodes, HashKeyForm: KeyFormText})
	py := newClient(t, Options{Servers: fixedNodes, HashKeyForm: KeyFormPythonBytes})
	for _, v := range placementVectors {
		for _, c := range []struct {
			name   string
			client *Client
			want   string
		}{{"default", text, v.text}, {"text", textExplicit, v.text}, {"python_bytes", py, v.bytes}} {
			got, err := c.client.ServerForKey(v.key)
			if err != nil || got != c.want {
				t.Errorf("%s: ServerForKey(%q) = %q, %v; pymemcache places it on %s", c.name, v.key, got, err, c.want)
			}
			got, err = c.client.ServerForKeyBytes([]byte(v.key))
			if err != nil || got != c.want {
				t.Errorf("%s: ServerForKeyBytes(%q) = %q, %v; want %s", c.name, v.key, got, err, c.want)
			}
		}
	}
	if _, err := New(Options{Servers: fixedNodes, HashKeyForm: 7}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unknown HashKeyForm: want ErrInvalidArgument, got %v", err)
	}
	if _, err := New(Options{Servers: fixedNodes, HashKeyForm: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative HashKeyForm: want ErrInvalidArgument, got %v", err)
	}
}

func TestHashKeyFormPlacementOnServers(t *testing.T) {
	servers := []string{server1.addr, server2.addr}
	opts := func(form KeyForm) Options {
		return Options{Servers: servers, HashKeyForm: form, RetryAttempts: new(int), DeadTimeout: 30 * time.Second}
	}
	text, py := newClient(t, opts(KeyFormText)), newClient(t, opts(KeyFormPythonBytes))
	direct := map[string]*Client{server1.addr: client1(t), server2.addr: newClient(t, Options{Servers: []string{server2.addr}})}
	moved := 0
	for i := 0; i < 40; i++ {
		k := key(t, "form")
		onText, err := text.ServerForKey(k)
		if err != nil {
			t.Fatal(err)
		}
		onBytes, err := py.ServerForKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if onText != onBytes {
			moved++
		}
		// Each form's client stores the key on the server it names, and only
		// there.
		for _, c := range []struct {
			client *Client
			val    string
		}{{text, "text"}, {py, "bytes"}} {
			kk := k + "-" + c.val
			on, _ := c.client.ServerForKey(kk)
			mustSet(t, c.client, kk, []byte(c.val), 0)
			for addr, d := range direct {
				_, found, err := d.Get(kk)
				if err != nil || found != (addr == on) {
					t.Fatalf("%s key %s: found=%v on %s, placed on %s (err %v)", c.val, kk, found, addr, on, err)
				}
			}
		}
	}
	// About half of the keys move; none moving would mean the form is ignored.
	if moved < 5 || moved > 35 {
		t.Fatalf("%d of 40 keys placed differently by the two forms", moved)
	}
}

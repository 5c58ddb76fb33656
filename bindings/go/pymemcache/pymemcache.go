// Package pymemcache is a thin cgo binding of libpymemcache, the C-ABI
// memcached client of pymemcache-rs (include/pymemcache.h).
//
// Every call goes straight to the matching pmc_* function: the binding only
// converts arguments, copies the bytes the library hands back into Go memory
// (and frees the library's buffers at once), and turns statuses into
// outcomes and errors.
//
// Keys follow pymemcache's rules. A key given as a Go string is text, held
// to pymemcache's rule for str keys: ASCII only, unless the client was made
// with Options.AllowUnicodeKeys, which sends its UTF-8 bytes (a string that
// is not valid UTF-8 is then refused: it is not text). A key given as []byte
// (GetBytes, SetBytes, ...) is bytes: it goes to the library as it is and is
// refused only if it holds ASCII whitespace or NUL, is longer than 250 bytes
// with the prefix, or is empty without a prefix.
//
// Sharing: a *Client may be used from any number of goroutines. A client
// with one server (and no pooling) serializes concurrent calls on its single
// connection; a pooled client (Options.UsePooling) or a hash client (two or
// more servers, or Options.UseHashClient) runs them in parallel.
package pymemcache

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: -L${SRCDIR}/../../../target/release -lpymemcache -Wl,-rpath,${SRCDIR}/../../../target/release
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Status is a pmc_status code.
type Status int32

// The pmc_status codes of include/pymemcache.h.
const (
	StatusOK                Status = C.PMC_OK
	StatusMiss              Status = C.PMC_MISS
	StatusNotStored         Status = C.PMC_NOT_STORED
	StatusExists            Status = C.PMC_EXISTS
	StatusNotFound          Status = C.PMC_NOT_FOUND
	StatusNullArgument      Status = C.PMC_NULL_ARGUMENT
	StatusInvalidArgument   Status = C.PMC_INVALID_ARGUMENT
	StatusIllegalInput      Status = C.PMC_ILLEGAL_INPUT
	StatusConfigError       Status = C.PMC_CONFIG_ERROR
	StatusTooLarge          Status = C.PMC_TOO_LARGE
	StatusTimeout           Status = C.PMC_TIMEOUT
	StatusIOError           Status = C.PMC_IO_ERROR
	StatusUnexpectedClose   Status = C.PMC_UNEXPECTED_CLOSE
	StatusPoolExhausted     Status = C.PMC_POOL_EXHAUSTED
	StatusNoServers         Status = C.PMC_NO_SERVERS
	StatusUnknownCommand    Status = C.PMC_UNKNOWN_COMMAND
	StatusClientError       Status = C.PMC_CLIENT_ERROR
	StatusServerError       Status = C.PMC_SERVER_ERROR
	StatusUnknownError      Status = C.PMC_UNKNOWN_ERROR
	StatusNotText           Status = C.PMC_NOT_TEXT
	StatusNotInteger        Status = C.PMC_NOT_INTEGER
	StatusUnsupportedPickle Status = C.PMC_UNSUPPORTED_PICKLE
	StatusCorruptValue      Status = C.PMC_CORRUPT_VALUE
	StatusSerdeCallback     Status = C.PMC_SERDE_CALLBACK
	StatusPanic             Status = C.PMC_PANIC
	firstErrorStatus        Status = 10
)

// String is the library's name of the status, e.g. "PMC_MISS".
func (s Status) String() string {
	return C.GoString(C.pmc_status_str(C.pmc_status(s)))
}

// IsError reports whether s is an error status (10 and above) rather than
// success or a soft outcome (miss, not stored, exists, not found).
func (s Status) IsError() bool { return s >= firstErrorStatus }

// Error is an error status returned by the library, with the message
// pmc_last_error_message gave for it (read on the thread that made the call).
type Error struct {
	Op      string // the binding's method, e.g. "Get"
	Status  Status
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Status.String()
	}
	if e.Op == "" {
		return "pymemcache: " + msg
	}
	return "pymemcache: " + e.Op + ": " + msg
}

// Is makes errors.Is(err, ErrIllegalInput) (and the other sentinels) match
// any *Error with the same status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is; they match by status only.
var (
	ErrNullArgument    = &Error{Status: StatusNullArgument}
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrIllegalInput    = &Error{Status: StatusIllegalInput}
	ErrConfig          = &Error{Status: StatusConfigError}
	ErrTooLarge        = &Error{Status: StatusTooLarge}
	ErrTimeout         = &Error{Status: StatusTimeout}
	ErrIO              = &Error{Status: StatusIOError}
	ErrUnexpectedClose = &Error{Status: StatusUnexpectedClose}
	ErrPoolExhausted   = &Error{Status: StatusPoolExhausted}
	ErrNoServers       = &Error{Status: StatusNoServers}
	ErrUnknownCommand  = &Error{Status: StatusUnknownCommand}
	ErrClientError     = &Error{Status: StatusClientError}
	ErrServerError     = &Error{Status: StatusServerError}
	ErrUnknownError    = &Error{Status: StatusUnknownError}
	ErrPanic           = &Error{Status: StatusPanic}
)

// ErrClosed is returned by every method of a client after Close.
var ErrClosed = errors.New("pymemcache: client is closed")

// IsConnectionError reports whether err is a connection-level failure:
// timeout, socket error, unexpected close, exhausted pool or no live server.
func IsConnectionError(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Status {
	case StatusTimeout, StatusIOError, StatusUnexpectedClose, StatusPoolExhausted, StatusNoServers:
		return true
	}
	return false
}

// KeyForm names how the fleet's Python services pass keys to pymemcache's
// HashClient, which hashes f"{node}-{key}": the key's text for a str key,
// its repr (b'...') for a bytes key. It changes placement only.
type KeyForm int32

// The key forms of pmc_options_set_hash_key_form.
const (
	KeyFormText        KeyForm = C.PMC_KEY_FORM_TEXT         // Python str keys (the default)
	KeyFormPythonBytes KeyForm = C.PMC_KEY_FORM_PYTHON_BYTES // Python bytes keys
)

// Options configure a client. The zero value of a field leaves the
// library's default, except Noreply (see there).
type Options struct {
	// Servers: "host:port", "[ipv6]:port" or a UNIX socket path. One server
	// makes a single-server client, two or more a hash client.
	Servers []string

	ConnectTimeout time.Duration // 0: no limit
	Timeout        time.Duration // each read/write; 0: no limit
	// Deadline bounds a whole call: waiting for the connection (another
	// goroutine's call on a single-server client, or a full pool),
	// connecting, writing and reading together; past it the call fails with
	// ErrTimeout ("the call's deadline passed ..."). 0: none (the default).
	// Whole milliseconds, rounded up.
	Deadline  time.Duration
	NoDelay   bool
	Keepalive bool
	IgnoreExc bool // get errors read as misses
	// Noreply makes Set, Delete and Touch send "noreply" (the library's and
	// pymemcache's default). The binding's default, false, waits for the
	// server so that errors and the outcome of Delete and Touch are reported.
	Noreply bool
	// AllowUnicodeKeys accepts string keys with non-ASCII characters and
	// sends their UTF-8 bytes (pymemcache's allow_unicode_keys). []byte keys
	// are not affected.
	AllowUnicodeKeys bool
	MaxValueLen      int    // 0: library default (64 MiB)
	KeyPrefix        string // counts toward the 250-byte key limit

	UsePooling      bool
	MaxPoolSize     int           // 0: unbounded
	PoolTimeout     time.Duration // 0: fail at once when the pool is full
	PoolIdleTimeout time.Duration // 0: never

	UseHashClient bool          // a hash client even with one server
	RetryAttempts *int          // nil: library default (2)
	RetryTimeout  time.Duration // 0: library default (1s)
	DeadTimeout   time.Duration // 0: library default (60s)
	// HashKeyForm: place keys where pymemcache places them when the fleet's
	// Python services pass keys as str (KeyFormText, the default) or as
	// bytes (KeyFormPythonBytes). Another value makes New fail.
	HashKeyForm KeyForm
}

// Item is a value read from the server.
type Item struct {
	Value []byte
	Flags uint32
	CAS   uint64 // set by Gets only
}

// CASResult is the outcome of CompareAndSwap.
type CASResult int

const (
	CASStored   CASResult = iota // the value was stored
	CASExists                    // the item changed since Gets: not stored
	CASNotFound                  // no such item: not stored
)

func (r CASResult) String() string {
	switch r {
	case CASStored:
		return "stored"
	case CASExists:
		return "exists"
	case CASNotFound:
		return "not found"
	}
	return fmt.Sprintf("CASResult(%d)", int(r))
}

// PoolStats are a pooled client's connection counts.
type PoolStats struct {
	InUse, Free        int
	Created, Destroyed uint64
}

// Client is a memcached client; safe for concurrent use (see the package
// documentation). Call Close when done; a finalizer frees a forgotten one.
type Client struct {
	mu           sync.RWMutex // read-held by calls, write-held by Close
	ptr          *C.pmc_client
	allowUnicode bool // Options.AllowUnicodeKeys, for string keys
}

// callStatus runs f with the calling goroutine locked to its OS thread, so
// that the per-thread pmc_last_error_message belongs to this very call.
func callStatus(op string, f func() C.pmc_status) (Status, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := Status(f())
	if st.IsError() {
		return st, &Error{Op: op, Status: st, Message: C.GoString(C.pmc_last_error_message())}
	}
	return st, nil
}

func msClamp(d time.Duration) C.uint32_t {
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		ms = math.MaxUint32
	}
	return C.uint32_t(ms)
}

// New makes a client. No connection is made until the first command.
func New(opts Options) (*Client, error) {
	o := C.pmc_options_new()
	if o == nil {
		return nil, errors.New("pymemcache: pmc_options_new: out of memory")
	}
	defer C.pmc_options_free(o)

	set := func(what string, f func() C.pmc_status) error {
		_, err := callStatus("New("+what+")", f)
		return err
	}
	for _, s := range opts.Servers {
		cs := C.CString(s)
		err := set("server "+s, func() C.pmc_status { return C.pmc_options_add_server(o, cs) })
		C.free(unsafe.Pointer(cs))
		if err != nil {
			return nil, err
		}
	}
	setters := []struct {
		name string
		f    func() C.pmc_status
		use  bool
	}{
		{"connect timeout", func() C.pmc_status { return C.pmc_options_set_connect_timeout_ms(o, msClamp(opts.ConnectTimeout)) }, opts.ConnectTimeout > 0},
		{"timeout", func() C.pmc_status { return C.pmc_options_set_timeout_ms(o, msClamp(opts.Timeout)) }, opts.Timeout > 0},
		{"deadline", func() C.pmc_status { return C.pmc_options_set_deadline_ms(o, msClamp(opts.Deadline)) }, opts.Deadline > 0},
		{"no_delay", func() C.pmc_status { return C.pmc_options_set_no_delay(o, C.bool(opts.NoDelay)) }, true},
		{"keepalive", func() C.pmc_status { return C.pmc_options_set_keepalive(o, C.bool(opts.Keepalive)) }, true},
		{"ignore_exc", func() C.pmc_status { return C.pmc_options_set_ignore_exc(o, C.bool(opts.IgnoreExc)) }, true},
		{"default_noreply", func() C.pmc_status { return C.pmc_options_set_default_noreply(o, C.bool(opts.Noreply)) }, true},
		{"allow_unicode_keys", func() C.pmc_status { return C.pmc_options_set_allow_unicode_keys(o, C.bool(opts.AllowUnicodeKeys)) }, true},
		{"max_value_len", func() C.pmc_status { return C.pmc_options_set_max_value_len(o, C.size_t(opts.MaxValueLen)) }, opts.MaxValueLen > 0},
		{"use_pooling", func() C.pmc_status { return C.pmc_options_set_use_pooling(o, C.bool(opts.UsePooling)) }, true},
		{"max_pool_size", func() C.pmc_status { return C.pmc_options_set_max_pool_size(o, C.size_t(opts.MaxPoolSize)) }, opts.MaxPoolSize > 0},
		{"pool_timeout", func() C.pmc_status { return C.pmc_options_set_pool_timeout_ms(o, msClamp(opts.PoolTimeout)) }, opts.PoolTimeout > 0},
		{"pool_idle_timeout", func() C.pmc_status { return C.pmc_options_set_pool_idle_timeout_ms(o, msClamp(opts.PoolIdleTimeout)) }, opts.PoolIdleTimeout > 0},
		{"use_hash_client", func() C.pmc_status { return C.pmc_options_set_use_hash_client(o, C.bool(opts.UseHashClient)) }, true},
		{"retry_timeout", func() C.pmc_status { return C.pmc_options_set_retry_timeout_ms(o, msClamp(opts.RetryTimeout)) }, opts.RetryTimeout > 0},
		{"dead_timeout", func() C.pmc_status { return C.pmc_options_set_dead_timeout_ms(o, msClamp(opts.DeadTimeout)) }, opts.DeadTimeout > 0},
		{"hash_key_form", func() C.pmc_status { return C.pmc_options_set_hash_key_form(o, C.pmc_key_form(opts.HashKeyForm)) }, true},
	}
	for _, s := range setters {
		if !s.use {
			continue
		}
		if err := set(s.name, s.f); err != nil {
			return nil, err
		}
	}
	if opts.RetryAttempts != nil {
		if *opts.RetryAttempts < 0 {
			return nil, &Error{Op: "New", Status: StatusInvalidArgument, Message: "RetryAttempts is negative"}
		}
		n := C.uint32_t(*opts.RetryAttempts)
		if err := set("retry_attempts", func() C.pmc_status { return C.pmc_options_set_retry_attempts(o, n) }); err != nil {
			return nil, err
		}
	}
	if opts.KeyPrefix != "" {
		p := C.CString(opts.KeyPrefix)
		err := set("key prefix", func() C.pmc_status {
			return C.pmc_options_set_key_prefix(o, (*C.uint8_t)(unsafe.Pointer(p)), C.size_t(len(opts.KeyPrefix)))
		})
		C.free(unsafe.Pointer(p))
		if err != nil {
			return nil, err
		}
	}

	var ptr *C.pmc_client
	if _, err := callStatus("New", func() C.pmc_status { return C.pmc_client_new(o, &ptr) }); err != nil {
		return nil, err
	}
	c := &Client{ptr: ptr, allowUnicode: opts.AllowUnicodeKeys}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// Close closes the client's connections and frees it. It waits for calls
// in progress; later calls return ErrClosed. Closing twice is harmless.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		C.pmc_client_free(c.ptr)
		c.ptr = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// do runs one library call on the live client (see callStatus).
func (c *Client) do(op string, f func(p *C.pmc_client) C.pmc_status) (Status, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return 0, ErrClosed
	}
	p := c.ptr
	st, err := callStatus(op, func() C.pmc_status { return f(p) })
	runtime.KeepAlive(c)
	return st, err
}

// unexpected turns a soft status a method does not expect into an error.
func unexpected(op string, st Status) error {
	return &Error{Op: op, Status: st, Message: "unexpected outcome " + st.String()}
}

// A byte for the pointer of empty keys and values: the library wants a
// non-NULL pointer whenever it reads a key.
var zeroByte [1]byte

// bytesArg returns a pointer to b's bytes (which hold no Go pointers, so cgo
// allows passing them for the duration of a call) and its length.
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return (*C.uint8_t)(unsafe.Pointer(&zeroByte[0])), 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// keyArg is a key as the library takes it: a pointer to its bytes (Go
// memory without Go pointers, valid for the duration of a call) and its
// length.
type keyArg struct {
	p *C.uint8_t
	n C.size_t
}

// bytesKey passes a []byte key as it is: the library checks it as
// pymemcache checks a bytes key.
func bytesKey(key []byte) keyArg {
	p, n := bytesArg(key)
	return keyArg{p, n}
}

// The binding's messages for a text key it refuses, in the library's form.
const (
	nonASCIIKeyMessage = "PMC_ILLEGAL_INPUT: illegal input: key contains non-ASCII characters and allow_unicode_keys is off"
	notUTF8KeyMessage  = "PMC_ILLEGAL_INPUT: illegal input: key is not valid UTF-8 text (pass it as []byte to send it as bytes)"
)

// textKey is the one check of string keys, used by every method that takes
// them: pymemcache's rule for str keys. ASCII keys (one scan, no
// allocation) and, with AllowUnicodeKeys, valid UTF-8 keys go to the
// library as their bytes, which it then checks as bytes (whitespace, NUL,
// length).
func (c *Client) textKey(op, key string) (keyArg, error) {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			if !c.allowUnicode {
				return keyArg{}, &Error{Op: op, Status: StatusIllegalInput, Message: nonASCIIKeyMessage}
			}
			if !utf8.ValidString(key[i:]) {
				return keyArg{}, &Error{Op: op, Status: StatusIllegalInput, Message: notUTF8KeyMessage}
			}
			break
		}
	}
	if len(key) == 0 {
		return keyArg{(*C.uint8_t)(unsafe.Pointer(&zeroByte[0])), 0}, nil
	}
	// The string's own bytes, not a copy.
	return keyArg{(*C.uint8_t)(unsafe.Pointer((*reflect.StringHeader)(unsafe.Pointer(&key)).Data)), C.size_t(len(key))}, nil
}

// takeValue copies a library value into Go memory and frees it.
func takeValue(v *C.pmc_value) Item {
	it := Item{Value: []byte{}, Flags: uint32(v.flags), CAS: uint64(v.cas)}
	if v.data != nil && v.len > 0 {
		it.Value = C.GoBytes(unsafe.Pointer(v.data), C.int(v.len))
	}
	C.pmc_value_free(v)
	return it
}

func (c *Client) getOne(op string, k keyArg, withCAS bool) (Item, bool, error) {
	var v C.pmc_value
	st, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		if withCAS {
			return C.pmc_gets(p, k.p, k.n, &v)
		}
		return C.pmc_get(p, k.p, k.n, &v)
	})
	switch {
	case err != nil:
		return Item{}, false, err
	case st == StatusOK:
		return takeValue(&v), true, nil
	case st == StatusMiss:
		return Item{}, false, nil
	}
	return Item{}, false, unexpected(op, st)
}

// Get reads one key; found is false on a miss.
func (c *Client) Get(key string) (item Item, found bool, err error) {
	k, err := c.textKey("Get", key)
	if err != nil {
		return Item{}, false, err
	}
	return c.getOne("Get", k, false)
}

// GetBytes is Get with a bytes key.
func (c *Client) GetBytes(key []byte) (item Item, found bool, err error) {
	return c.getOne("GetBytes", bytesKey(key), false)
}

// Gets is Get with the item's CAS unique in Item.CAS, for CompareAndSwap.
func (c *Client) Gets(key string) (item Item, found bool, err error) {
	k, err := c.textKey("Gets", key)
	if err != nil {
		return Item{}, false, err
	}
	return c.getOne("Gets", k, true)
}

// GetsBytes is Gets with a bytes key.
func (c *Client) GetsBytes(key []byte) (item Item, found bool, err error) {
	return c.getOne("GetsBytes", bytesKey(key), true)
}

// GetMulti reads many keys in one request; the map holds the hits only.
// If any key is illegal nothing is sent.
func (c *Client) GetMulti(keys []string) (map[string]Item, error) {
	args := make([]keyArg, len(keys))
	for i, k := range keys {
		a, err := c.textKey("GetMulti", k)
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	return c.getMulti("GetMulti", args, func(i int) string { return keys[i] })
}

// GetMultiBytes is GetMulti with bytes keys; the map is keyed by
// string(key).
func (c *Client) GetMultiBytes(keys [][]byte) (map[string]Item, error) {
	args := make([]keyArg, len(keys))
	for i, k := range keys {
		args[i] = bytesKey(k)
	}
	return c.getMulti("GetMultiBytes", args, func(i int) string { return string(keys[i]) })
}

func (c *Client) getMulti(op string, keys []keyArg, name func(i int) string) (map[string]Item, error) {
	out := make(map[string]Item, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	// The key array holds pointers, so it and the keys live in C memory
	// (cgo forbids passing Go memory that contains Go pointers).
	n := len(keys)
	total := 1
	for _, k := range keys {
		total += int(k.n)
	}
	buf := unsafe.Slice((*byte)(C.malloc(C.size_t(total))), total)
	ptrs := unsafe.Slice((**C.uint8_t)(C.malloc(C.size_t(n)*C.size_t(unsafe.Sizeof((*C.uint8_t)(nil))))), n)
	lens := unsafe.Slice((*C.size_t)(C.malloc(C.size_t(n)*C.size_t(unsafe.Sizeof(C.size_t(0))))), n)
	defer C.free(unsafe.Pointer(&buf[0]))
	defer C.free(unsafe.Pointer(&ptrs[0]))
	defer C.free(unsafe.Pointer(&lens[0]))
	off := 0
	for i, k := range keys {
		copy(buf[off:], unsafe.Slice((*byte)(unsafe.Pointer(k.p)), int(k.n)))
		ptrs[i] = (*C.uint8_t)(unsafe.Pointer(&buf[off]))
		lens[i] = k.n
		off += int(k.n)
	}

	var res *C.pmc_results
	st, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		return C.pmc_get_many(p, &ptrs[0], &lens[0], C.size_t(n), &res)
	})
	if err != nil {
		return nil, err
	}
	if st != StatusOK {
		return nil, unexpected(op, st)
	}
	defer C.pmc_results_free(res)
	// Every hit in one cgo call, as an array borrowed from res.
	var count C.size_t
	first := C.pmc_results_items(res, &count)
	if count == 0 {
		return out, nil
	}
	for _, it := range unsafe.Slice(first, int(count)) {
		idx := int(it.index)
		if idx < 0 || idx >= n {
			return nil, &Error{Op: op, Status: StatusPanic, Message: "result index out of range"}
		}
		val := []byte{}
		if it.value != nil && it.value_len > 0 {
			val = C.GoBytes(unsafe.Pointer(it.value), C.int(it.value_len))
		}
		out[name(idx)] = Item{Value: val, Flags: uint32(it.flags), CAS: uint64(it.cas)}
	}
	return out, nil
}

func (c *Client) set(op string, k keyArg, value []byte, flags uint32, exptime int64) error {
	v, vl := bytesArg(value)
	st, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		return C.pmc_set(p, k.p, k.n, v, vl, C.uint32_t(flags), C.int64_t(exptime), C.PMC_REPLY_DEFAULT)
	})
	if err == nil && st != StatusOK {
		err = unexpected(op, st)
	}
	return err
}

// Set stores value under key with flags and exptime (seconds, or a unix
// time; 0 = never).
func (c *Client) Set(key string, value []byte, flags uint32, exptime int64) error {
	k, err := c.textKey("Set", key)
	if err != nil {
		return err
	}
	return c.set("Set", k, value, flags, exptime)
}

// SetBytes is Set with a bytes key.
func (c *Client) SetBytes(key []byte, value []byte, flags uint32, exptime int64) error {
	return c.set("SetBytes", bytesKey(key), value, flags, exptime)
}

// foundOutcome turns a delete or touch status into found / not found.
func foundOutcome(op string, st Status, err error) (bool, error) {
	switch {
	case err != nil:
		return false, err
	case st == StatusOK:
		return true, nil
	case st == StatusNotFound:
		return false, nil
	}
	return false, unexpected(op, st)
}

func (c *Client) delete(op string, k keyArg) (bool, error) {
	st, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		return C.pmc_delete(p, k.p, k.n, C.PMC_REPLY_DEFAULT)
	})
	return foundOutcome(op, st, err)
}

// Delete removes key; deleted is false when there was no such item (always
// true with Options.Noreply, whose outcome is unknown).
func (c *Client) Delete(key string) (deleted bool, err error) {
	k, err := c.textKey("Delete", key)
	if err != nil {
		return false, err
	}
	return c.delete("Delete", k)
}

// DeleteBytes is Delete with a bytes key.
func (c *Client) DeleteBytes(key []byte) (deleted bool, err error) {
	return c.delete("DeleteBytes", bytesKey(key))
}

func (c *Client) touch(op string, k keyArg, exptime int64) (bool, error) {
	st, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		return C.pmc_touch(p, k.p, k.n, C.int64_t(exptime), C.PMC_REPLY_DEFAULT)
	})
	return foundOutcome(op, st, err)
}

// Touch sets a new exptime (seconds, or a unix time; 0 = never) on key.
// It follows the client's noreply default, as pymemcache's
// touch(noreply=None): without Options.Noreply (the binding's default) it
// waits and found is false when there is no such item; with it found is
// always true (the outcome is not known).
func (c *Client) Touch(key string, exptime int64) (found bool, err error) {
	k, err := c.textKey("Touch", key)
	if err != nil {
		return false, err
	}
	return c.touch("Touch", k, exptime)
}

// TouchBytes is Touch with a bytes key.
func (c *Client) TouchBytes(key []byte, exptime int64) (found bool, err error) {
	return c.touch("TouchBytes", bytesKey(key), exptime)
}

func (c *Client) counter(op string, k keyArg, delta uint64, incr bool) (uint64, bool, error) {
	var nv C.uint64_t
	st, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		if incr {
			return C.pmc_incr(p, k.p, k.n, C.uint64_t(delta), C.PMC_REPLY_WAIT, &nv)
		}
		return C.pmc_decr(p, k.p, k.n, C.uint64_t(delta), C.PMC_REPLY_WAIT, &nv)
	})
	switch {
	case err != nil:
		return 0, false, err
	case st == StatusOK:
		return uint64(nv), true, nil
	case st == StatusNotFound:
		return 0, false, nil
	}
	return 0, false, unexpected(op, st)
}

// Incr adds delta to a decimal counter (wrapping at 2^64); found is false
// when there is no such item.
func (c *Client) Incr(key string, delta uint64) (newValue uint64, found bool, err error) {
	k, err := c.textKey("Incr", key)
	if err != nil {
		return 0, false, err
	}
	return c.counter("Incr", k, delta, true)
}

// IncrBytes is Incr with a bytes key.
func (c *Client) IncrBytes(key []byte, delta uint64) (newValue uint64, found bool, err error) {
	return c.counter("IncrBytes", bytesKey(key), delta, true)
}

// Decr subtracts delta from a decimal counter (stopping at 0); found is
// false when there is no such item.
func (c *Client) Decr(key string, delta uint64) (newValue uint64, found bool, err error) {
	k, err := c.textKey("Decr", key)
	if err != nil {
		return 0, false, err
	}
	return c.counter("Decr", k, delta, false)
}

// DecrBytes is Decr with a bytes key.
func (c *Client) DecrBytes(key []byte, delta uint64) (newValue uint64, found bool, err error) {
	return c.counter("DecrBytes", bytesKey(key), delta, false)
}

func (c *Client) cas(op string, k keyArg, value []byte, cas uint64, flags uint32, exptime int64) (CASResult, error) {
	v, vl := bytesArg(value)
	st, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		return C.pmc_cas(p, k.p, k.n, v, vl, C.uint64_t(cas), C.uint32_t(flags), C.int64_t(exptime), C.PMC_REPLY_WAIT)
	})
	switch {
	case err != nil:
		return 0, err
	case st == StatusOK:
		return CASStored, nil
	case st == StatusExists:
		return CASExists, nil
	case st == StatusNotFound:
		return CASNotFound, nil
	}
	return 0, unexpected(op, st)
}

// CompareAndSwap stores value only if the item's CAS unique is still cas
// (from Gets).
func (c *Client) CompareAndSwap(key string, value []byte, cas uint64, flags uint32, exptime int64) (CASResult, error) {
	k, err := c.textKey("CompareAndSwap", key)
	if err != nil {
		return 0, err
	}
	return c.cas("CompareAndSwap", k, value, cas, flags, exptime)
}

// CompareAndSwapBytes is CompareAndSwap with a bytes key.
func (c *Client) CompareAndSwapBytes(key []byte, value []byte, cas uint64, flags uint32, exptime int64) (CASResult, error) {
	return c.cas("CompareAndSwapBytes", bytesKey(key), value, cas, flags, exptime)
}

func (c *Client) serverForKey(op string, k keyArg) (string, error) {
	var out *C.char
	_, err := c.do(op, func(p *C.pmc_client) C.pmc_status {
		return C.pmc_client_server_for_key(p, k.p, k.n, &out)
	})
	if err != nil {
		return "", err
	}
	defer C.pmc_string_free(out)
	return C.GoString(out), nil
}

// ServerForKey names the server key is placed on ("host:port", or the
// socket path): for a hash client the one pymemcache's HashClient picks
// among the live servers, given Options.HashKeyForm. It connects to
// nothing.
func (c *Client) ServerForKey(key string) (string, error) {
	k, err := c.textKey("ServerForKey", key)
	if err != nil {
		return "", err
	}
	return c.serverForKey("ServerForKey", k)
}

// ServerForKeyBytes is ServerForKey with a bytes key.
func (c *Client) ServerForKeyBytes(key []byte) (string, error) {
	return c.serverForKey("ServerForKeyBytes", bytesKey(key))
}

// PoolStats reads a pooled client's connection counts (an
// ErrInvalidArgument error for a client without a pool).
func (c *Client) PoolStats() (PoolStats, error) {
	var s C.pmc_pool_stats
	_, err := c.do("PoolStats", func(p *C.pmc_client) C.pmc_status {
		return C.pmc_client_pool_stats(p, &s)
	})
	if err != nil {
		return PoolStats{}, err
	}
	return PoolStats{InUse: int(s.in_use), Free: int(s.free), Created: uint64(s.created), Destroyed: uint64(s.destroyed)}, nil
}

package pymemcache

/*
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

import (
	"errors"
	"time"
	"unsafe"
)

// KeyForm names how the fleet's Python services pass keys to pymemcache's
// HashClient, which hashes f"{node}-{key}": the key's text for a str key,
// its repr (b'...') for a bytes key. It changes placement only.
type KeyForm int32

// The key forms of pmc_options_set_hash_key_form.
const (
	KeyFormText        KeyForm = C.PMC_KEY_FORM_TEXT         // Python str keys (the default)
	KeyFormPythonBytes KeyForm = C.PMC_KEY_FORM_PYTHON_BYTES // Python bytes keys
)

// DefaultMinCompressLen is pymemcache's default min_compress_len.
const DefaultMinCompressLen = C.PMC_DEFAULT_MIN_COMPRESS_LEN

// Compression is pymemcache's CompressedSerde behaviour: values longer than
// MinLen bytes are stored zlib-compressed (flag 8 added) when that makes
// them no longer, and values read with flag 8 are decompressed. MinLen 0
// only decompresses; DefaultMinCompressLen is pymemcache's 400.
type Compression struct {
	MinLen int
}

// Options configure a client. The zero value of a field leaves the
// library's default, except Noreply (see there).
type Options struct {
	// Servers: "host:port", "[ipv6]:port" or a UNIX socket path. One server
	// makes a single-server client, two or more a hash client.
	Servers []string
	// Mock makes an in-memory client (pymemcache's MockMemcacheClient) with
	// memcached 1.6's semantics, for tests of programs; Servers are ignored.
	Mock bool

	ConnectTimeout time.Duration // 0: no limit
	Timeout        time.Duration // each read/write; 0: no limit
	// Deadline bounds a whole call: waiting for the connection (another
	// goroutine's call on a single-server client, or a full pool),
	// connecting, writing and reading together; past it the call fails with
	// ErrTimeout ("the call's deadline passed ..."). 0: none (the default).
	// Whole milliseconds, rounded up.
	Deadline time.Duration
	// ReconnectBackoff: after a failed connect, connects to that server
	// within a window (Initial, doubling per further failure up to Max) fail
	// at once with the same error. nil: the library's default (10 ms to 1 s);
	// Initial 0: off, every call tries to connect (pymemcache). Single and
	// pooled clients; a hash client has its own retry policy.
	ReconnectBackoff *Backoff
	NoDelay          bool
	Keepalive        bool
	IgnoreExc        bool // get errors read as misses
	// DisableMetrics turns the per-server metrics (Client.Metrics) off;
	// they are on by default.
	DisableMetrics bool
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
	// Compression, when not nil, compresses and decompresses values.
	Compression *Compression
	// Serializer and Deserializer, when set, see every value stored and
	// read (before compression on the way out, after it on the way in).
	Serializer   Serde
	Deserializer Serde

	UsePooling      bool
	MaxPoolSize     int           // 0: unbounded
	PoolTimeout     time.Duration // 0: fail at once when the pool is full
	PoolIdleTimeout time.Duration // 0: never

	UseHashClient bool          // a hash client even with one server
	RetryAttempts *int          // nil: library default (2)
	RetryTimeout  time.Duration // 0: library default (1s)
	DeadTimeout   time.Duration // 0: library default (60s)
	// TLS, when not nil, secures TCP connections (memcached -Z); see
	// TLSOptions. Handshake failures are ErrTLS with what failed.
	TLS *TLSOptions
	// Auth, when not nil, logs in with memcached's ASCII authentication
	// (memcached -Y) on every new connection; a wrong password is ErrAuth.
	Auth *Auth

	// HashKeyForm: place keys where pymemcache places them when the fleet's
	// Python services pass keys as str (KeyFormText, the default) or as
	// bytes (KeyFormPythonBytes). Another value makes New fail.
	HashKeyForm KeyForm

	// FailureTracking, when not nil, replaces the retry / dead-server
	// policy above with mcrouter-style failure tracking (see
	// FailureTracking and Client.NodeState).
	FailureTracking *FailureTracking
}

// FailureTracking: after Threshold consecutive connection failures a
// server is soft-down; its keys fail fast (ErrIO, "marked down") or, with
// Fallback, go to their next server in rendezvous order. One call probes
// it after InitialBackoff (doubling per failed probe up to MaxBackoff,
// ±20% jitter); a success brings it back up.
type FailureTracking struct {
	Threshold      int
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Fallback       bool
}

// TLSOptions map pymemcache's tls_context (an ssl.SSLContext): with no
// CAFile or CADir the system's store is trusted. The handshake is part of
// connecting (ConnectTimeout covers it); a pooled client pays it once per
// connection. UNIX sockets stay plaintext.
type TLSOptions struct {
	CAFile      string // cafile=: PEM CA certificates to trust
	CADir       string // capath=: a directory of PEM CA certificates
	SystemRoots bool   // load_default_certs(): the system's store as well
	// ClientCertFile and ClientKeyFile: load_cert_chain, for mutual TLS.
	ClientCertFile, ClientKeyFile string
	// ServerName for SNI and the certificate check; "": the address's host.
	ServerName string
	// MinVersion: "1.2" (the default) or "1.3".
	MinVersion string
	// InsecureNoVerifyTestingOnly accepts any certificate. Tests only.
	InsecureNoVerifyTestingOnly bool
}

// Auth holds memcached ASCII authentication credentials (no spaces).
type Auth struct {
	Username, Password string
}

// Backoff is the reconnect backoff window (see Options.ReconnectBackoff).
type Backoff struct {
	Initial, Max time.Duration
}

type optionSetter struct {
	name string
	use  bool
	f    func(e **C.pmc_error) C.pmc_status
}

// setters lists every pmc_options_set_* call opts asks for, in order.
func (opts *Options) setters(o *C.pmc_options) []optionSetter {
	b := func(v bool) C.bool { return C.bool(v) }
	s := []optionSetter{
		{"mock", opts.Mock, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_mock(o, true, e) }},
		{"connect timeout", opts.ConnectTimeout > 0, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_connect_timeout_ms(o, msClamp(opts.ConnectTimeout), e)
		}},
		{"timeout", opts.Timeout > 0, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_timeout_ms(o, msClamp(opts.Timeout), e) }},
		{"deadline", opts.Deadline > 0, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_deadline_ms(o, msClamp(opts.Deadline), e) }},
		{"reconnect_backoff", opts.ReconnectBackoff != nil, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_reconnect_backoff_ms(o, msClamp(opts.ReconnectBackoff.Initial), msClamp(opts.ReconnectBackoff.Max), e)
		}},
		{"no_delay", true, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_no_delay(o, b(opts.NoDelay), e) }},
		{"keepalive", true, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_keepalive(o, b(opts.Keepalive), e) }},
		{"ignore_exc", true, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_ignore_exc(o, b(opts.IgnoreExc), e) }},
		{"metrics", true, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_metrics(o, b(!opts.DisableMetrics), e) }},
		{"default_noreply", true, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_default_noreply(o, b(opts.Noreply), e) }},
		{"allow_unicode_keys", true, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_allow_unicode_keys(o, b(opts.AllowUnicodeKeys), e)
		}},
		{"max_value_len", opts.MaxValueLen > 0, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_max_value_len(o, C.size_t(opts.MaxValueLen), e)
		}},
		{"use_pooling", true, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_use_pooling(o, b(opts.UsePooling), e) }},
		{"max_pool_size", opts.MaxPoolSize > 0, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_max_pool_size(o, C.size_t(opts.MaxPoolSize), e)
		}},
		{"pool_timeout", opts.PoolTimeout > 0, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_pool_timeout_ms(o, msClamp(opts.PoolTimeout), e)
		}},
		{"pool_idle_timeout", opts.PoolIdleTimeout > 0, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_pool_idle_timeout_ms(o, msClamp(opts.PoolIdleTimeout), e)
		}},
		{"use_hash_client", true, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_use_hash_client(o, b(opts.UseHashClient), e)
		}},
		{"retry_timeout", opts.RetryTimeout > 0, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_retry_timeout_ms(o, msClamp(opts.RetryTimeout), e)
		}},
		{"dead_timeout", opts.DeadTimeout > 0, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_dead_timeout_ms(o, msClamp(opts.DeadTimeout), e)
		}},
		{"hash_key_form", true, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_hash_key_form(o, C.pmc_key_form(opts.HashKeyForm), e)
		}},
	}
	if ft := opts.FailureTracking; ft != nil {
		s = append(s, optionSetter{"hash_failure_tracking", true, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_hash_failure_tracking(o, C.uint32_t(clampNonNeg(ft.Threshold)),
				msClamp(ft.InitialBackoff), msClamp(ft.MaxBackoff), b(ft.Fallback), e)
		}})
	}
	if opts.RetryAttempts != nil {
		n := C.uint32_t(*opts.RetryAttempts)
		s = append(s, optionSetter{"retry_attempts", true, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_retry_attempts(o, n, e)
		}})
	}
	if t := opts.TLS; t != nil {
		s = append(s, optionSetter{"tls", true, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_set_tls(o, true, e) }})
		str := func(name, v string, f func(cs *C.char, e **C.pmc_error) C.pmc_status) {
			s = append(s, optionSetter{name, v != "", func(e **C.pmc_error) C.pmc_status {
				cs := C.CString(v)
				defer C.free(unsafe.Pointer(cs))
				return f(cs, e)
			}})
		}
		str("tls_ca_file", t.CAFile, func(cs *C.char, e **C.pmc_error) C.pmc_status { return C.pmc_options_set_tls_ca_file(o, cs, e) })
		str("tls_ca_dir", t.CADir, func(cs *C.char, e **C.pmc_error) C.pmc_status { return C.pmc_options_set_tls_ca_dir(o, cs, e) })
		str("tls_server_name", t.ServerName, func(cs *C.char, e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_tls_server_name(o, cs, e)
		})
		str("tls_min_version", t.MinVersion, func(cs *C.char, e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_tls_min_version(o, cs, e)
		})
		s = append(s,
			optionSetter{"tls_system_roots", t.SystemRoots, func(e **C.pmc_error) C.pmc_status {
				return C.pmc_options_set_tls_system_roots(o, true, e)
			}},
			optionSetter{"tls_insecure_no_verify_testing_only", t.InsecureNoVerifyTestingOnly, func(e **C.pmc_error) C.pmc_status {
				return C.pmc_options_set_tls_insecure_no_verify_testing_only(o, true, e)
			}},
			optionSetter{"tls_client_cert", t.ClientCertFile != "" || t.ClientKeyFile != "", func(e **C.pmc_error) C.pmc_status {
				cc, ck := C.CString(t.ClientCertFile), C.CString(t.ClientKeyFile)
				defer C.free(unsafe.Pointer(cc))
				defer C.free(unsafe.Pointer(ck))
				return C.pmc_options_set_tls_client_cert(o, cc, ck, e)
			}})
	}
	if a := opts.Auth; a != nil {
		s = append(s, optionSetter{"auth", true, func(e **C.pmc_error) C.pmc_status {
			cu, cp := C.CString(a.Username), C.CString(a.Password)
			defer C.free(unsafe.Pointer(cu))
			defer C.free(unsafe.Pointer(cp))
			return C.pmc_options_set_auth(o, cu, cp, e)
		}})
	}
	if opts.Compression != nil {
		n := opts.Compression.MinLen
		s = append(s, optionSetter{"compression", true, func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_compression(o, true, C.size_t(n), e)
		}})
	}
	return s
}

// New makes a client. No connection is made until the first command.
func New(opts Options) (*Client, error) {
	o := C.pmc_options_new()
	if o == nil {
		return nil, errors.New("pymemcache: pmc_options_new: out of memory")
	}
	defer C.pmc_options_free(o)

	set := func(what string, f func(e **C.pmc_error) C.pmc_status) error {
		_, err := callStatus("New("+what+")", f)
		return err
	}
	for _, s := range opts.Servers {
		cs := C.CString(s)
		err := set("server "+s, func(e **C.pmc_error) C.pmc_status { return C.pmc_options_add_server(o, cs, e) })
		C.free(unsafe.Pointer(cs))
		if err != nil {
			return nil, err
		}
	}
	if opts.RetryAttempts != nil && *opts.RetryAttempts < 0 {
		return nil, &Error{Op: "New", Status: StatusInvalidArgument, Message: "RetryAttempts is negative"}
	}
	if opts.Compression != nil && opts.Compression.MinLen < 0 {
		return nil, &Error{Op: "New", Status: StatusInvalidArgument, Message: "Compression.MinLen is negative"}
	}
	for _, s := range opts.setters(o) {
		if !s.use {
			continue
		}
		if err := set(s.name, s.f); err != nil {
			return nil, err
		}
	}
	if opts.KeyPrefix != "" {
		p := C.CString(opts.KeyPrefix)
		err := set("key prefix", func(e **C.pmc_error) C.pmc_status {
			return C.pmc_options_set_key_prefix(o, (*C.uint8_t)(unsafe.Pointer(p)), C.size_t(len(opts.KeyPrefix)), e)
		})
		C.free(unsafe.Pointer(p))
		if err != nil {
			return nil, err
		}
	}
	sd, err := setSerde(o, opts.Serializer, opts.Deserializer)
	if err != nil {
		return nil, err
	}

	var ptr *C.pmc_client
	if _, err := callStatus("New", func(e **C.pmc_error) C.pmc_status { return C.pmc_client_new(o, &ptr, e) }); err != nil {
		sd.release()
		return nil, err
	}
	return wrapHandle(ptr, opts.AllowUnicodeKeys, sd), nil
}

// NewFallback makes a fallback client (pymemcache's FallbackClient) over
// clients of any kind: writes go to the first; reads try each in order and
// take, key by key, the first hit. On success it owns the clients (they
// read as closed; Close on the fallback frees them); on error they stay
// the caller's. String keys follow the first client's AllowUnicodeKeys.
func NewFallback(clients ...*Client) (*Client, error) {
	const op = "NewFallback"
	if len(clients) == 0 {
		return nil, &Error{Op: op, Status: StatusInvalidArgument, Message: "PMC_INVALID_ARGUMENT: no clients"}
	}
	for i, c := range clients {
		for _, d := range clients[:i] {
			if c == d {
				return nil, &Error{Op: op, Status: StatusInvalidArgument, Message: "PMC_INVALID_ARGUMENT: a client appears twice"}
			}
		}
	}
	ptrs := make([]*C.pmc_client, 0, len(clients))
	serdes := make([]*serdeFn, 0, len(clients))
	var giveBack []func()
	undo := func() {
		for _, g := range giveBack {
			g()
		}
	}
	for _, c := range clients {
		p, s, g, err := c.take()
		if err != nil {
			undo()
			return nil, err
		}
		ptrs = append(ptrs, p)
		serdes = append(serdes, s)
		giveBack = append(giveBack, g)
	}
	// The handle array holds C pointers only, but lives in C memory to keep
	// cgo's rules obvious.
	arr := (**C.pmc_client)(C.malloc(C.size_t(len(ptrs)) * C.size_t(unsafe.Sizeof((*C.pmc_client)(nil)))))
	defer C.free(unsafe.Pointer(arr))
	copy(unsafe.Slice(arr, len(ptrs)), ptrs)
	var out *C.pmc_client
	if _, err := callStatus(op, func(e **C.pmc_error) C.pmc_status {
		return C.pmc_client_new_fallback(arr, C.size_t(len(ptrs)), &out, e)
	}); err != nil {
		undo()
		return nil, err
	}
	return wrapHandle(out, clients[0].allowUnicode, joinSerde(serdes)), nil
}

// RetryOptions configure NewRetrying (pymemcache's RetryingClient).
type RetryOptions struct {
	Attempts      int           // tries per command, at least 1
	Delay         time.Duration // sleep between tries (whole milliseconds)
	RetryFor      []Status      // error statuses to retry; empty: every error
	DoNotRetryFor []Status      // error statuses never retried
}

// NewRetrying wraps inner in a retrying client: each command runs up to
// Attempts times while its error status is retried (see RetryOptions);
// when the attempts run out the last error is returned. On success it owns
// inner (which reads as closed); on error inner stays the caller's.
func NewRetrying(inner *Client, ro RetryOptions) (*Client, error) {
	const op = "NewRetrying"
	if ro.Attempts < 0 {
		return nil, &Error{Op: op, Status: StatusInvalidArgument, Message: "PMC_INVALID_ARGUMENT: Attempts is negative"}
	}
	statuses := func(s []Status) (*C.pmc_status, C.size_t, func()) {
		if len(s) == 0 {
			return nil, 0, func() {}
		}
		p := (*C.pmc_status)(C.malloc(C.size_t(len(s)) * C.size_t(unsafe.Sizeof(C.pmc_status(0)))))
		for i, v := range s {
			unsafe.Slice(p, len(s))[i] = C.pmc_status(v)
		}
		return p, C.size_t(len(s)), func() { C.free(unsafe.Pointer(p)) }
	}
	rf, nrf, freeRF := statuses(ro.RetryFor)
	defer freeRF()
	df, ndf, freeDF := statuses(ro.DoNotRetryFor)
	defer freeDF()
	p, s, giveBack, err := inner.take()
	if err != nil {
		return nil, err
	}
	var out *C.pmc_client
	if _, err := callStatus(op, func(e **C.pmc_error) C.pmc_status {
		return C.pmc_client_new_retrying(p, C.uint32_t(ro.Attempts), msClamp(ro.Delay), rf, nrf, df, ndf, &out, e)
	}); err != nil {
		giveBack()
		return nil, err
	}
	return wrapHandle(out, inner.allowUnicode, s), nil
}

func clampNonNeg(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

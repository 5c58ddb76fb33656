// Package pymemcache is a thin cgo binding of libpymemcache, the C-ABI
// memcached client of pymemcache-rs (include/pymemcache.h).
//
// Every call goes straight to the matching pmc_* function: the binding only
// converts arguments, copies the bytes the library hands back into Go memory
// (and frees the library's buffers at once), and turns statuses into
// outcomes and errors. Each error carries the message of its own call (the
// library's pmc_error out-parameter), whatever thread or goroutine runs it.
//
// Keys follow pymemcache's rules. A key given as a Go string is text, held
// to pymemcache's rule for str keys: ASCII only, unless the client was made
// with Options.AllowUnicodeKeys, which sends its UTF-8 bytes (a string that
// is not valid UTF-8 is then refused: it is not text). A key given as []byte
// (GetBytes, SetBytes, ...) is bytes: it goes to the library as it is and is
// refused only if it holds ASCII whitespace or NUL, is longer than 250 bytes
// with the prefix, or is empty without a prefix.
//
// Every network command has a Ctx form (GetCtx, SetBytesCtx, ...): a context
// that has already ended fails the call before any I/O; one that ends during
// the call makes it return at once with the context's error (see Client.do).
//
// Sharing: a *Client may be used from any number of goroutines. A client
// with one server (and no pooling) serializes concurrent calls on its single
// connection; a pooled client (Options.UsePooling) or a hash client (two or
// more servers, or Options.UseHashClient) runs them in parallel.
//
// Building: by default the library is found with pkg-config (pymemcache.pc);
// -tags pymemcache_intree builds against the checkout's target/release, and
// -tags pymemcache_custom takes CGO_CFLAGS/CGO_LDFLAGS as given.
package pymemcache

/*
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
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
	StatusTLSError          Status = C.PMC_TLS_ERROR
	StatusAuthError         Status = C.PMC_AUTH_ERROR
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

// Error is an error status returned by the library, with the message of
// that very call (from its pmc_error), or a context's end (Err).
type Error struct {
	Op      string // the binding's method, e.g. "Get"
	Status  Status
	Message string
	Err     error // the context's error when the call's context ended, else nil
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

// Unwrap gives the context's error, so errors.Is(err,
// context.DeadlineExceeded) holds for a call whose context expired.
func (e *Error) Unwrap() error { return e.Err }

// Sentinels for errors.Is; they match by status only.
var (
	ErrNullArgument      = &Error{Status: StatusNullArgument}
	ErrInvalidArgument   = &Error{Status: StatusInvalidArgument}
	ErrIllegalInput      = &Error{Status: StatusIllegalInput}
	ErrConfig            = &Error{Status: StatusConfigError}
	ErrTooLarge          = &Error{Status: StatusTooLarge}
	ErrTimeout           = &Error{Status: StatusTimeout}
	ErrIO                = &Error{Status: StatusIOError}
	ErrUnexpectedClose   = &Error{Status: StatusUnexpectedClose}
	ErrPoolExhausted     = &Error{Status: StatusPoolExhausted}
	ErrNoServers         = &Error{Status: StatusNoServers}
	ErrTLS               = &Error{Status: StatusTLSError}
	ErrAuth              = &Error{Status: StatusAuthError}
	ErrUnknownCommand    = &Error{Status: StatusUnknownCommand}
	ErrClientError       = &Error{Status: StatusClientError}
	ErrServerError       = &Error{Status: StatusServerError}
	ErrUnknownError      = &Error{Status: StatusUnknownError}
	ErrNotText           = &Error{Status: StatusNotText}
	ErrNotInteger        = &Error{Status: StatusNotInteger}
	ErrUnsupportedPickle = &Error{Status: StatusUnsupportedPickle}
	ErrCorruptValue      = &Error{Status: StatusCorruptValue}
	ErrSerdeCallback     = &Error{Status: StatusSerdeCallback}
	ErrPanic             = &Error{Status: StatusPanic}
)

// ErrClosed is returned by every method of a client after Close (and of a
// client handed to NewFallback or NewRetrying, which then owns it).
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

// LibraryVersion is the version of the libpymemcache actually loaded.
func LibraryVersion() string { return C.GoString(C.pmc_library_version()) }

// HeaderVersion is the version of the pymemcache.h this package was built with.
const HeaderVersion = C.PMC_VERSION_STRING

// callStatus runs one library call with an error out-parameter and turns an
// error status into an *Error holding that call's own message. It is the
// only place that builds errors from the library.
func callStatus(op string, f func(e **C.pmc_error) C.pmc_status) (Status, error) {
	var e *C.pmc_error
	st := Status(f(&e))
	if e != nil {
		defer C.pmc_error_free(e)
		return st, &Error{Op: op, Status: Status(C.pmc_error_status(e)), Message: C.GoString(C.pmc_error_message(e))}
	}
	if st.IsError() {
		return st, &Error{Op: op, Status: st, Message: st.String() + ": (the library gave no error object)"}
	}
	return st, nil
}

// ctxError is the error of a call whose context ended: a deadline is an
// *Error with StatusTimeout (errors.Is(err, ErrTimeout) and
// errors.Is(err, context.DeadlineExceeded) both hold), a cancellation
// wraps context.Canceled.
func ctxError(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Op: op, Status: StatusTimeout, Message: "PMC_TIMEOUT: the context's deadline passed", Err: err}
	}
	return fmt.Errorf("pymemcache: %s: %w", op, err)
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

// Client is a memcached client; safe for concurrent use (see the package
// documentation). Call Close when done; a finalizer frees a forgotten one.
type Client struct {
	mu           sync.RWMutex // read-held by calls, write-held by Close
	ptr          *C.pmc_client
	allowUnicode bool     // Options.AllowUnicodeKeys, for string keys
	serde        *serdeFn // the Go serializer/deserializer the library calls, if any
}

func wrapHandle(ptr *C.pmc_client, allowUnicode bool, s *serdeFn) *Client {
	c := &Client{ptr: ptr, allowUnicode: allowUnicode, serde: s}
	runtime.SetFinalizer(c, (*Client).Close)
	return c
}

// Close closes the client's connections and frees it. It waits for calls
// in progress (also those whose context ended); later calls return
// ErrClosed. Closing twice is harmless.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		C.pmc_client_free(c.ptr)
		c.ptr = nil
		c.serde.release()
		c.serde = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// take hands the client's handle (and the serde callbacks it uses) over to
// a wrapping client: c reads as closed afterwards unless give back is called.
func (c *Client) take() (ptr *C.pmc_client, s *serdeFn, giveBack func(), err error) {
	c.mu.Lock()
	if c.ptr == nil {
		c.mu.Unlock()
		return nil, nil, nil, ErrClosed
	}
	ptr, s = c.ptr, c.serde
	c.ptr, c.serde = nil, nil
	runtime.SetFinalizer(c, nil)
	c.mu.Unlock()
	giveBack = func() {
		c.mu.Lock()
		c.ptr, c.serde = ptr, s
		runtime.SetFinalizer(c, (*Client).Close)
		c.mu.Unlock()
	}
	return ptr, s, giveBack, nil
}

// do runs one library call on the live client. A context that has ended
// fails it before any I/O. When ctx can end (ctx.Done() is not nil) the
// call runs on its own goroutine and do returns as soon as ctx ends, with
// the context's error; the library call then finishes in the background
// (f must therefore copy its outputs itself and free the library's
// buffers), still holding the client, so Close waits for it. The C surface
// has no per-call deadline or cancellation, so this is how a context's
// deadline bounds a call; Options.Deadline bounds it inside the library.
func (c *Client) do(ctx context.Context, op string, f func(p *C.pmc_client, e **C.pmc_error) C.pmc_status) (Status, error) {
	if err := ctx.Err(); err != nil {
		return 0, ctxError(op, err)
	}
	c.mu.RLock()
	if c.ptr == nil {
		c.mu.RUnlock()
		return 0, ErrClosed
	}
	p := c.ptr
	run := func() (Status, error) {
		defer c.mu.RUnlock()
		st, err := callStatus(op, func(e **C.pmc_error) C.pmc_status { return f(p, e) })
		runtime.KeepAlive(c)
		return st, err
	}
	if ctx.Done() == nil {
		return run()
	}
	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := run()
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-ctx.Done():
		return 0, ctxError(op, ctx.Err())
	}
}

// unexpected turns a soft status a method does not expect into an error.
func unexpected(op string, st Status) error {
	return &Error{Op: op, Status: st, Message: "unexpected outcome " + st.String()}
}

// Reply is a per-call reply mode, passed as a CallOption.
type Reply int32

// The reply modes of pmc_reply.
const (
	// ReplyDefault follows the client: Options.Noreply for storage commands,
	// delete, touch and flush_all; waiting for cas, incr and decr.
	ReplyDefault Reply = C.PMC_REPLY_DEFAULT
	ReplyWait    Reply = C.PMC_REPLY_WAIT // wait for the server and report the outcome
	ReplyNone    Reply = C.PMC_REPLY_NONE // send with noreply: the outcome is not known (success)
)

// CallOption changes one call; Reply is the only one.
type CallOption interface{ applyCall(*callOpts) }

type callOpts struct{ reply Reply }

func (r Reply) applyCall(o *callOpts) { o.reply = r }

func replyOf(def Reply, opts []CallOption) C.pmc_reply {
	o := callOpts{reply: def}
	for _, op := range opts {
		op.applyCall(&o)
	}
	return C.pmc_reply(o.reply)
}

// String names the reply mode.
func (r Reply) String() string {
	switch r {
	case ReplyDefault:
		return "default"
	case ReplyWait:
		return "wait"
	case ReplyNone:
		return "none"
	}
	return fmt.Sprintf("Reply(%d)", int32(r))
}

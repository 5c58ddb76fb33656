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
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// ---- stampede control -------------------------------------------------------

// Lease is where a stampede-controlled read (GetOrLock, Batch.GetOrLock)
// leaves the caller: a PMC_LEASE_* state.
type Lease int32

// The PMC_LEASE_* states.
const (
	LeaseNone     Lease = C.PMC_LEASE_NONE      // not a stampede-controlled read
	LeaseHit      Lease = C.PMC_LEASE_HIT       // a fresh value: use it
	LeaseStale    Lease = C.PMC_LEASE_STALE     // a stale value another caller recomputes: use it meanwhile
	LeaseMissWon  Lease = C.PMC_LEASE_MISS_WON  // a miss, and this caller recomputes: compute and Set it
	LeaseStaleWon Lease = C.PMC_LEASE_STALE_WON // a stale value (returned), and this caller recomputes it
	LeaseMissBusy Lease = C.PMC_LEASE_MISS_BUSY // a miss another caller recomputes: no value, ask again later
)

// String names the state: "none", "hit", "stale", "miss_won", "stale_won"
// or "miss_busy".
func (l Lease) String() string {
	switch l {
	case LeaseNone:
		return "none"
	case LeaseHit:
		return "hit"
	case LeaseStale:
		return "stale"
	case LeaseMissWon:
		return "miss_won"
	case LeaseStaleWon:
		return "stale_won"
	case LeaseMissBusy:
		return "miss_busy"
	}
	return fmt.Sprintf("Lease(%d)", int32(l))
}

// HasValue reports whether the state comes with a value (hit, stale,
// stale_won).
func (l Lease) HasValue() bool { return l == LeaseHit || l == LeaseStale || l == LeaseStaleWon }

// Won reports whether this caller won the recompute (miss_won, stale_won):
// it should compute the value and store it with Set.
func (l Lease) Won() bool { return l == LeaseMissWon || l == LeaseStaleWon }

func (c *Client) getOrLock(ctx context.Context, op string, k keyArg, lockTTL, recacheBelow int64) (Item, Lease, error) {
	var it Item
	var lease Lease
	_, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var v C.pmc_value
		var l C.pmc_lease
		st := C.pmc_get_or_lock(p, k.p, k.n, C.int64_t(lockTTL), C.int64_t(recacheBelow), &l, &v, e)
		if st == C.PMC_OK {
			lease = Lease(l)
			if lease.HasValue() {
				it = takeValue(&v)
			}
		}
		return st
	})
	if err != nil {
		return Item{}, LeaseNone, err
	}
	return it, lease, nil
}

// GetOrLock is a stampede-controlled read (memcached's meta get with a
// lock, pmc_get_or_lock): the item (for LeaseHit, LeaseStale and
// LeaseStaleWon; empty otherwise, with a nil Value) and the lease state. On
// a miss exactly one caller gets LeaseMissWon (an empty placeholder living
// lockTTL seconds is made) and the others LeaseMissBusy until the winner
// stores the value with Set; after Invalidate one caller gets LeaseStaleWon
// and the others LeaseStale with the old value. recacheBelow > 0 also lets
// one caller win while the item has fewer seconds left than that (0: off).
// Item.CAS holds the item's CAS unique.
func (c *Client) GetOrLock(key string, lockTTL, recacheBelow int64) (Item, Lease, error) {
	return c.GetOrLockCtx(bg, key, lockTTL, recacheBelow)
}

// GetOrLockCtx is GetOrLock bounded by ctx.
func (c *Client) GetOrLockCtx(ctx context.Context, key string, lockTTL, recacheBelow int64) (Item, Lease, error) {
	k, err := c.textKey("GetOrLock", key)
	if err != nil {
		return Item{}, LeaseNone, err
	}
	return c.getOrLock(ctx, "GetOrLock", k, lockTTL, recacheBelow)
}

// GetOrLockBytes is GetOrLock with a bytes key.
func (c *Client) GetOrLockBytes(key []byte, lockTTL, recacheBelow int64) (Item, Lease, error) {
	return c.getOrLock(bg, "GetOrLockBytes", bytesKey(bg, key), lockTTL, recacheBelow)
}

// GetOrLockBytesCtx is GetOrLockBytes bounded by ctx.
func (c *Client) GetOrLockBytesCtx(ctx context.Context, key []byte, lockTTL, recacheBelow int64) (Item, Lease, error) {
	return c.getOrLock(ctx, "GetOrLockBytes", bytesKey(ctx, key), lockTTL, recacheBelow)
}

func (c *Client) invalidate(ctx context.Context, op string, k keyArg, staleTTL int64) (bool, error) {
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_invalidate(p, k.p, k.n, C.int64_t(staleTTL), e)
	})
	return foundOutcome(op, st, err)
}

// Invalidate marks key stale for staleTTL seconds (pmc_invalidate): the
// next GetOrLock wins the recompute (LeaseStaleWon) and the others are
// served the old value (LeaseStale) until it is stored again. found is
// false when there was no such item.
func (c *Client) Invalidate(key string, staleTTL int64) (found bool, err error) {
	return c.InvalidateCtx(bg, key, staleTTL)
}

// InvalidateCtx is Invalidate bounded by ctx.
func (c *Client) InvalidateCtx(ctx context.Context, key string, staleTTL int64) (bool, error) {
	k, err := c.textKey("Invalidate", key)
	if err != nil {
		return false, err
	}
	return c.invalidate(ctx, "Invalidate", k, staleTTL)
}

// InvalidateBytes is Invalidate with a bytes key.
func (c *Client) InvalidateBytes(key []byte, staleTTL int64) (bool, error) {
	return c.invalidate(bg, "InvalidateBytes", bytesKey(bg, key), staleTTL)
}

// InvalidateBytesCtx is InvalidateBytes bounded by ctx.
func (c *Client) InvalidateBytesCtx(ctx context.Context, key []byte, staleTTL int64) (bool, error) {
	return c.invalidate(ctx, "InvalidateBytes", bytesKey(ctx, key), staleTTL)
}

// ---- batches ---------------------------------------------------------------

// ErrBatchClosed is returned by every method of a Batch after Close.
var ErrBatchClosed = errors.New("pymemcache: batch is closed")

// Batch is a list of commands run together by Execute over memcached's
// meta protocol (pmc_batch): one write and one read pass per server, and
// every command gets its own result. Queue commands with its methods
// (each copies its key and value at once), run them with Execute, and
// Clear it to queue the next batch (or Execute it again). Keys follow the
// client's rule for string keys: ASCII text, refused at once
// (ErrIllegalInput) otherwise unless the batch is made with
// BatchAllowUnicodeKeys(true); the library checks the bytes (whitespace,
// NUL, length) when the batch runs, and a bad key fails that command
// alone. A Batch may be used from
// several goroutines (its methods lock it), but its commands run in the
// order they were queued. Call Close when done; a finalizer frees a
// forgotten one.
type Batch struct {
	mu           sync.Mutex
	ptr          *C.pmc_batch
	allowUnicode bool
}

// BatchOption changes how NewBatch makes a batch.
type BatchOption func(*Batch)

// BatchAllowUnicodeKeys sends non-ASCII string keys as their UTF-8 bytes,
// as Options.AllowUnicodeKeys does for a client.
func BatchAllowUnicodeKeys(allow bool) BatchOption {
	return func(b *Batch) { b.allowUnicode = allow }
}

// NewBatch makes an empty batch.
func NewBatch(opts ...BatchOption) (*Batch, error) {
	var p *C.pmc_batch
	if _, err := callStatus("NewBatch", func(e **C.pmc_error) C.pmc_status { return C.pmc_batch_new(&p, e) }); err != nil {
		return nil, err
	}
	b := &Batch{ptr: p}
	for _, o := range opts {
		o(b)
	}
	runtime.SetFinalizer(b, (*Batch).Close)
	return b, nil
}

// Close frees the batch (waiting for an Execute in progress, also one whose
// context ended). Closing twice is harmless.
func (b *Batch) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr != nil {
		C.pmc_batch_free(b.ptr)
		b.ptr = nil
		runtime.SetFinalizer(b, nil)
	}
	return nil
}

// Len is the number of commands queued (0 after Close).
func (b *Batch) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr == nil {
		return 0
	}
	return int(C.pmc_batch_len(b.ptr))
}

// Clear forgets every queued command and result, keeping the memory for
// the next batch.
func (b *Batch) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr != nil {
		C.pmc_batch_clear(b.ptr)
	}
}

// queue runs one pmc_batch_* queue call on the live batch with key checked.
func (b *Batch) queue(op, key string, f func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status) error {
	k, err := textKeyArg(op, key, b.allowUnicode)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr == nil {
		return ErrBatchClosed
	}
	p := b.ptr
	_, err = callStatus(op, func(e **C.pmc_error) C.pmc_status { return f(p, k, e) })
	runtime.KeepAlive(b)
	return err
}

// Get queues a get (result: StatusOK with the value, or StatusMiss).
func (b *Batch) Get(key string) error {
	return b.queue("Batch.Get", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status { return C.pmc_batch_get(p, k.p, k.n, e) })
}

// Gets queues a gets (the result carries the CAS unique).
func (b *Batch) Gets(key string) error {
	return b.queue("Batch.Gets", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status { return C.pmc_batch_gets(p, k.p, k.n, e) })
}

// Gat queues a gat: read and set the expiry.
func (b *Batch) Gat(key string, exptime int64) error {
	return b.queue("Batch.Gat", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_gat(p, k.p, k.n, C.int64_t(exptime), e)
	})
}

// Touch queues a touch (StatusOK or StatusNotFound).
func (b *Batch) Touch(key string, exptime int64) error {
	return b.queue("Batch.Touch", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_touch(p, k.p, k.n, C.int64_t(exptime), e)
	})
}

// Set queues a set (StatusOK or an error).
func (b *Batch) Set(key string, value []byte, flags uint32, exptime int64) error {
	vp, vn := bytesArg(value)
	return b.queue("Batch.Set", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_set(p, k.p, k.n, vp, vn, C.uint32_t(flags), C.int64_t(exptime), e)
	})
}

// Add queues an add (StatusNotStored if the key exists).
func (b *Batch) Add(key string, value []byte, flags uint32, exptime int64) error {
	vp, vn := bytesArg(value)
	return b.queue("Batch.Add", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_add(p, k.p, k.n, vp, vn, C.uint32_t(flags), C.int64_t(exptime), e)
	})
}

// Replace queues a replace (StatusNotStored if the key is missing).
func (b *Batch) Replace(key string, value []byte, flags uint32, exptime int64) error {
	vp, vn := bytesArg(value)
	return b.queue("Batch.Replace", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_replace(p, k.p, k.n, vp, vn, C.uint32_t(flags), C.int64_t(exptime), e)
	})
}

// Append queues an append (StatusNotStored if the key is missing).
func (b *Batch) Append(key string, value []byte) error {
	vp, vn := bytesArg(value)
	return b.queue("Batch.Append", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_append(p, k.p, k.n, vp, vn, e)
	})
}

// Prepend queues a prepend (StatusNotStored if the key is missing).
func (b *Batch) Prepend(key string, value []byte) error {
	vp, vn := bytesArg(value)
	return b.queue("Batch.Prepend", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_prepend(p, k.p, k.n, vp, vn, e)
	})
}

// CompareAndSwap queues a cas (StatusOK, StatusExists or StatusNotFound).
func (b *Batch) CompareAndSwap(key string, value []byte, cas uint64, flags uint32, exptime int64) error {
	vp, vn := bytesArg(value)
	return b.queue("Batch.CompareAndSwap", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_cas(p, k.p, k.n, vp, vn, C.uint64_t(cas), C.uint32_t(flags), C.int64_t(exptime), e)
	})
}

// Delete queues a delete (StatusOK or StatusNotFound).
func (b *Batch) Delete(key string) error {
	return b.queue("Batch.Delete", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_delete(p, k.p, k.n, e)
	})
}

// Incr queues an incr (OpResult.Number is the new value; StatusNotFound if
// the key is missing).
func (b *Batch) Incr(key string, delta uint64) error {
	return b.queue("Batch.Incr", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_incr(p, k.p, k.n, C.uint64_t(delta), e)
	})
}

// Decr queues a decr (as Incr; memcached stops at 0).
func (b *Batch) Decr(key string, delta uint64) error {
	return b.queue("Batch.Decr", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_decr(p, k.p, k.n, C.uint64_t(delta), e)
	})
}

// GetOrLock queues a stampede-controlled read (see Client.GetOrLock); the
// result's Lease tells what to do.
func (b *Batch) GetOrLock(key string, lockTTL, recacheBelow int64) error {
	return b.queue("Batch.GetOrLock", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_get_or_lock(p, k.p, k.n, C.int64_t(lockTTL), C.int64_t(recacheBelow), e)
	})
}

// Invalidate queues an invalidation (see Client.Invalidate; StatusOK or
// StatusNotFound).
func (b *Batch) Invalidate(key string, staleTTL int64) error {
	return b.queue("Batch.Invalidate", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_invalidate(p, k.p, k.n, C.int64_t(staleTTL), e)
	})
}

// Meta queues a generic meta command: command is "mg", "ms", "md" or "ma",
// flags the meta flags as protocol tokens (e.g. "v", "f", "t", "N30"; not
// O or q, which the batch sets itself; with "b" the key is given
// base64-encoded), value the data block of "ms" (ignored otherwise). The
// result holds the return code (OpResult.Code), the return flags
// (OpResult.MetaFlags) and the value as the server sent them. An unknown
// command is refused at once (StatusInvalidArgument); flags are checked
// when the batch runs.
func (b *Batch) Meta(command, key string, flags []string, value []byte) error {
	ccmd := C.CString(command)
	defer C.free(unsafe.Pointer(ccmd))
	cflags := C.CString(strings.Join(flags, " "))
	defer C.free(unsafe.Pointer(cflags))
	vp, vn := bytesArg(value)
	return b.queue("Batch.Meta", key, func(p *C.pmc_batch, k keyArg, e **C.pmc_error) C.pmc_status {
		return C.pmc_batch_meta(p, ccmd, k.p, k.n, cflags, vp, vn, e)
	})
}

// OpResult is the result of one command of a batch, copied into Go memory.
type OpResult struct {
	// Status is StatusOK (hit, stored, deleted, touched, counted),
	// StatusMiss (a read found nothing), StatusNotStored, StatusExists
	// (cas), StatusNotFound (cas, delete, incr, decr, touch, invalidate),
	// or this command's error status.
	Status Status
	// Err is the command's error (an *Error with the library's message)
	// for an error status, else nil.
	Err error
	// Value is the value read (reads, get_or_lock, incr/decr's new value as
	// text, meta commands with v); empty when there is none.
	Value []byte
	Flags uint32 // the item's flags (reads)
	CAS   uint64 // the CAS unique (gets, gat, get_or_lock), else 0
	// Number is the counter after incr/decr, else 0.
	Number uint64
	// TTL is the seconds the item has left (get_or_lock; -1: never
	// expires), else 0.
	TTL   int64
	Lease Lease // the stampede state, for get_or_lock (else LeaseNone)
	// Code is the return code of a meta command ("HD", "VA", "EN", "NF",
	// "NS", "EX"); "" for other commands.
	Code string
	// MetaFlags are a meta command's return flags as the server sent them
	// (e.g. "f5 t-1 c42").
	MetaFlags string
}

// Execute runs every queued command on c and returns one result per
// command, in the order they were queued. err is only for the batch as a
// whole (a closed client or batch); each command's own outcome, error
// included, is in its result: a miss, a refusal or an error of one does
// not stop the others, and across a hash client a server that cannot be
// reached fails its own commands only. The batch keeps its commands and
// may be executed again.
func (b *Batch) Execute(c *Client) ([]OpResult, error) {
	return b.ExecuteCtx(bg, c)
}

// ExecuteCtx is Execute bounded by ctx (see Client.do: a batch whose
// context ends finishes in the background, and the batch stays locked
// until it has).
func (b *Batch) ExecuteCtx(ctx context.Context, c *Client) ([]OpResult, error) {
	var out []OpResult
	closed := false
	_, err := c.do(ctx, "Batch.Execute", func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.ptr == nil {
			closed = true
			return C.PMC_OK
		}
		st := C.pmc_batch_execute(p, b.ptr, e)
		if st == C.PMC_OK {
			out = copyResults(b.ptr)
		}
		runtime.KeepAlive(b)
		return st
	})
	if err != nil {
		return nil, err
	}
	if closed {
		return nil, ErrBatchClosed
	}
	return out, nil
}

// copyResults copies every result of the last execution in one cgo call
// (pmc_batch_results) into Go memory.
func copyResults(p *C.pmc_batch) []OpResult {
	var n C.size_t
	arr := C.pmc_batch_results(p, &n)
	if arr == nil || n == 0 {
		return []OpResult{}
	}
	rs := unsafe.Slice(arr, int(n))
	out := make([]OpResult, len(rs))
	for i := range rs {
		r := &rs[i]
		o := OpResult{
			Status: Status(r.status),
			Value:  []byte{},
			Flags:  uint32(r.flags),
			CAS:    uint64(r.cas),
			Number: uint64(r.number),
			TTL:    int64(r.ttl),
			Lease:  Lease(r.lease),
			Code:   C.GoString(&r.code[0]),
		}
		if r.value != nil && r.value_len > 0 {
			o.Value = C.GoBytes(unsafe.Pointer(r.value), C.int(r.value_len))
		}
		if r.meta_flags != nil && r.meta_flags_len > 0 {
			o.MetaFlags = C.GoStringN(r.meta_flags, C.int(r.meta_flags_len))
		}
		if o.Status.IsError() {
			msg := ""
			if r.message != nil {
				msg = C.GoString(r.message)
			}
			o.Err = &Error{Op: "Batch.Execute", Status: o.Status, Message: msg}
		}
		out[i] = o
	}
	return out
}

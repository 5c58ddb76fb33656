package pymemcache

/*
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"
)

// Item is a value read from the server.
type Item struct {
	Value []byte
	Flags uint32
	CAS   uint64 // set by Gets, Gats and GetsMulti only
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

var bg = context.Background()

// takeValue copies a library value into Go memory and frees it.
func takeValue(v *C.pmc_value) Item {
	it := Item{Value: []byte{}, Flags: uint32(v.flags), CAS: uint64(v.cas)}
	if v.data != nil && v.len > 0 {
		it.Value = C.GoBytes(unsafe.Pointer(v.data), C.int(v.len))
	}
	C.pmc_value_free(v)
	return it
}

// ---- get, gets, gat, gats -------------------------------------------------

type getKind int

const (
	kindGet getKind = iota
	kindGets
	kindGat
	kindGats
)

func (c *Client) getOne(ctx context.Context, op string, k keyArg, kind getKind, exptime int64) (Item, bool, error) {
	var it Item
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var v C.pmc_value
		var st C.pmc_status
		switch kind {
		case kindGet:
			st = C.pmc_get(p, k.p, k.n, &v, e)
		case kindGets:
			st = C.pmc_gets(p, k.p, k.n, &v, e)
		case kindGat:
			st = C.pmc_gat(p, k.p, k.n, C.int64_t(exptime), &v, e)
		default:
			st = C.pmc_gats(p, k.p, k.n, C.int64_t(exptime), &v, e)
		}
		if st == C.PMC_OK {
			it = takeValue(&v)
		}
		return st
	})
	switch {
	case err != nil:
		return Item{}, false, err
	case st == StatusOK:
		return it, true, nil
	case st == StatusMiss:
		return Item{}, false, nil
	}
	return Item{}, false, unexpected(op, st)
}

func (c *Client) getByText(ctx context.Context, op, key string, kind getKind, exptime int64) (Item, bool, error) {
	k, err := c.textKey(op, key)
	if err != nil {
		return Item{}, false, err
	}
	return c.getOne(ctx, op, k, kind, exptime)
}

// Get reads one key; found is false on a miss.
func (c *Client) Get(key string) (item Item, found bool, err error) {
	return c.getByText(bg, "Get", key, kindGet, 0)
}

// GetCtx is Get bounded by ctx.
func (c *Client) GetCtx(ctx context.Context, key string) (Item, bool, error) {
	return c.getByText(ctx, "Get", key, kindGet, 0)
}

// GetBytes is Get with a bytes key.
func (c *Client) GetBytes(key []byte) (item Item, found bool, err error) {
	return c.getOne(bg, "GetBytes", bytesKey(bg, key), kindGet, 0)
}

// GetBytesCtx is GetBytes bounded by ctx.
func (c *Client) GetBytesCtx(ctx context.Context, key []byte) (Item, bool, error) {
	return c.getOne(ctx, "GetBytes", bytesKey(ctx, key), kindGet, 0)
}

// Gets is Get with the item's CAS unique in Item.CAS, for CompareAndSwap.
func (c *Client) Gets(key string) (item Item, found bool, err error) {
	return c.getByText(bg, "Gets", key, kindGets, 0)
}

// GetsCtx is Gets bounded by ctx.
func (c *Client) GetsCtx(ctx context.Context, key string) (Item, bool, error) {
	return c.getByText(ctx, "Gets", key, kindGets, 0)
}

// GetsBytes is Gets with a bytes key.
func (c *Client) GetsBytes(key []byte) (item Item, found bool, err error) {
	return c.getOne(bg, "GetsBytes", bytesKey(bg, key), kindGets, 0)
}

// GetsBytesCtx is GetsBytes bounded by ctx.
func (c *Client) GetsBytesCtx(ctx context.Context, key []byte) (Item, bool, error) {
	return c.getOne(ctx, "GetsBytes", bytesKey(ctx, key), kindGets, 0)
}

// Gat reads one key and sets its exptime (seconds, or a unix time; 0 =
// never); found is false on a miss.
func (c *Client) Gat(key string, exptime int64) (item Item, found bool, err error) {
	return c.getByText(bg, "Gat", key, kindGat, exptime)
}

// GatCtx is Gat bounded by ctx.
func (c *Client) GatCtx(ctx context.Context, key string, exptime int64) (Item, bool, error) {
	return c.getByText(ctx, "Gat", key, kindGat, exptime)
}

// GatBytes is Gat with a bytes key.
func (c *Client) GatBytes(key []byte, exptime int64) (Item, bool, error) {
	return c.getOne(bg, "GatBytes", bytesKey(bg, key), kindGat, exptime)
}

// GatBytesCtx is GatBytes bounded by ctx.
func (c *Client) GatBytesCtx(ctx context.Context, key []byte, exptime int64) (Item, bool, error) {
	return c.getOne(ctx, "GatBytes", bytesKey(ctx, key), kindGat, exptime)
}

// Gats is Gat with the item's CAS unique in Item.CAS.
func (c *Client) Gats(key string, exptime int64) (item Item, found bool, err error) {
	return c.getByText(bg, "Gats", key, kindGats, exptime)
}

// GatsCtx is Gats bounded by ctx.
func (c *Client) GatsCtx(ctx context.Context, key string, exptime int64) (Item, bool, error) {
	return c.getByText(ctx, "Gats", key, kindGats, exptime)
}

// GatsBytes is Gats with a bytes key.
func (c *Client) GatsBytes(key []byte, exptime int64) (Item, bool, error) {
	return c.getOne(bg, "GatsBytes", bytesKey(bg, key), kindGats, exptime)
}

// GatsBytesCtx is GatsBytes bounded by ctx.
func (c *Client) GatsBytesCtx(ctx context.Context, key []byte, exptime int64) (Item, bool, error) {
	return c.getOne(ctx, "GatsBytes", bytesKey(ctx, key), kindGats, exptime)
}

// ---- get_many, gets_many --------------------------------------------------

// getMulti runs pmc_get_many or pmc_gets_many; hits[i] is key i's hit.
func (c *Client) getMulti(ctx context.Context, op string, keys []keyArg, withCAS bool) (hits []*Item, err error) {
	hits = make([]*Item, len(keys))
	if len(keys) == 0 {
		return hits, nil
	}
	found := make([]*Item, len(keys))
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		arr := newCArray(keys)
		defer arr.free()
		var res *C.pmc_results
		var st C.pmc_status
		if withCAS {
			st = C.pmc_gets_many(p, arr.ptrs, arr.lens, C.size_t(arr.n), &res, e)
		} else {
			st = C.pmc_get_many(p, arr.ptrs, arr.lens, C.size_t(arr.n), &res, e)
		}
		if st != C.PMC_OK {
			return st
		}
		defer C.pmc_results_free(res)
		// Every hit in one cgo call, as an array borrowed from res.
		var count C.size_t
		first := C.pmc_results_items(res, &count)
		if count == 0 {
			return st
		}
		for _, it := range unsafe.Slice(first, int(count)) {
			idx := int(it.index)
			if idx < 0 || idx >= len(keys) || found[idx] != nil {
				continue
			}
			val := []byte{}
			if it.value != nil && it.value_len > 0 {
				val = C.GoBytes(unsafe.Pointer(it.value), C.int(it.value_len))
			}
			found[idx] = &Item{Value: val, Flags: uint32(it.flags), CAS: uint64(it.cas)}
		}
		return st
	})
	if err != nil {
		return nil, err
	}
	if st != StatusOK {
		return nil, unexpected(op, st)
	}
	return found, nil
}

func hitMap(hits []*Item, name func(i int) string) map[string]Item {
	out := make(map[string]Item, len(hits))
	for i, h := range hits {
		if h != nil {
			out[name(i)] = *h
		}
	}
	return out
}

func (c *Client) getMultiText(ctx context.Context, op string, keys []string, withCAS bool) (map[string]Item, error) {
	args, err := c.textKeys(op, keys)
	if err != nil {
		return nil, err
	}
	hits, err := c.getMulti(ctx, op, args, withCAS)
	if err != nil {
		return nil, err
	}
	return hitMap(hits, func(i int) string { return keys[i] }), nil
}

func (c *Client) getMultiBytes(ctx context.Context, op string, keys [][]byte, withCAS bool) (map[string]Item, error) {
	hits, err := c.getMulti(ctx, op, bytesKeys(ctx, keys), withCAS)
	if err != nil {
		return nil, err
	}
	return hitMap(hits, func(i int) string { return string(keys[i]) }), nil
}

// GetMulti reads many keys in one request; the map holds the hits only.
// If any key is illegal nothing is sent.
func (c *Client) GetMulti(keys []string) (map[string]Item, error) {
	return c.getMultiText(bg, "GetMulti", keys, false)
}

// GetMultiCtx is GetMulti bounded by ctx.
func (c *Client) GetMultiCtx(ctx context.Context, keys []string) (map[string]Item, error) {
	return c.getMultiText(ctx, "GetMulti", keys, false)
}

// GetMultiBytes is GetMulti with bytes keys; the map is keyed by
// string(key).
func (c *Client) GetMultiBytes(keys [][]byte) (map[string]Item, error) {
	return c.getMultiBytes(bg, "GetMultiBytes", keys, false)
}

// GetMultiBytesCtx is GetMultiBytes bounded by ctx.
func (c *Client) GetMultiBytesCtx(ctx context.Context, keys [][]byte) (map[string]Item, error) {
	return c.getMultiBytes(ctx, "GetMultiBytes", keys, false)
}

// GetsMulti is GetMulti with each hit's CAS unique (gets_many).
func (c *Client) GetsMulti(keys []string) (map[string]Item, error) {
	return c.getMultiText(bg, "GetsMulti", keys, true)
}

// GetsMultiCtx is GetsMulti bounded by ctx.
func (c *Client) GetsMultiCtx(ctx context.Context, keys []string) (map[string]Item, error) {
	return c.getMultiText(ctx, "GetsMulti", keys, true)
}

// GetsMultiBytes is GetsMulti with bytes keys.
func (c *Client) GetsMultiBytes(keys [][]byte) (map[string]Item, error) {
	return c.getMultiBytes(bg, "GetsMultiBytes", keys, true)
}

// GetsMultiBytesCtx is GetsMultiBytes bounded by ctx.
func (c *Client) GetsMultiBytesCtx(ctx context.Context, keys [][]byte) (map[string]Item, error) {
	return c.getMultiBytes(ctx, "GetsMultiBytes", keys, true)
}

// ---- set, add, replace, append, prepend ------------------------------------

type storeKind int

const (
	storeSet storeKind = iota
	storeAdd
	storeReplace
	storeAppend
	storePrepend
)

var storeOps = [...]string{"Set", "Add", "Replace", "Append", "Prepend"}

// store runs one storage command; stored is false on PMC_NOT_STORED.
func (c *Client) store(ctx context.Context, op string, kind storeKind, k keyArg, value []byte, flags uint32, exptime int64, opts []CallOption) (bool, error) {
	value = own(ctx, value)
	reply := replyOf(ReplyDefault, opts)
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		v, vl := bytesArg(value)
		f, x := C.uint32_t(flags), C.int64_t(exptime)
		switch kind {
		case storeSet:
			return C.pmc_set(p, k.p, k.n, v, vl, f, x, reply, e)
		case storeAdd:
			return C.pmc_add(p, k.p, k.n, v, vl, f, x, reply, e)
		case storeReplace:
			return C.pmc_replace(p, k.p, k.n, v, vl, f, x, reply, e)
		case storeAppend:
			return C.pmc_append(p, k.p, k.n, v, vl, f, x, reply, e)
		default:
			return C.pmc_prepend(p, k.p, k.n, v, vl, f, x, reply, e)
		}
	})
	switch {
	case err != nil:
		return false, err
	case st == StatusOK:
		return true, nil
	case st == StatusNotStored && kind != storeSet:
		return false, nil
	}
	return false, unexpected(op, st)
}

func (c *Client) storeText(ctx context.Context, kind storeKind, key string, value []byte, flags uint32, exptime int64, opts []CallOption) (bool, error) {
	op := storeOps[kind]
	k, err := c.textKey(op, key)
	if err != nil {
		return false, err
	}
	return c.store(ctx, op, kind, k, value, flags, exptime, opts)
}

func (c *Client) storeBytes(ctx context.Context, kind storeKind, key, value []byte, flags uint32, exptime int64, opts []CallOption) (bool, error) {
	return c.store(ctx, storeOps[kind]+"Bytes", kind, bytesKey(ctx, key), value, flags, exptime, opts)
}

func errOnly(_ bool, err error) error { return err }

// Set stores value under key with flags and exptime (seconds, or a unix
// time; 0 = never). opts may hold a Reply mode.
func (c *Client) Set(key string, value []byte, flags uint32, exptime int64, opts ...CallOption) error {
	return errOnly(c.storeText(bg, storeSet, key, value, flags, exptime, opts))
}

// SetCtx is Set bounded by ctx.
func (c *Client) SetCtx(ctx context.Context, key string, value []byte, flags uint32, exptime int64, opts ...CallOption) error {
	return errOnly(c.storeText(ctx, storeSet, key, value, flags, exptime, opts))
}

// SetBytes is Set with a bytes key.
func (c *Client) SetBytes(key []byte, value []byte, flags uint32, exptime int64, opts ...CallOption) error {
	return errOnly(c.storeBytes(bg, storeSet, key, value, flags, exptime, opts))
}

// SetBytesCtx is SetBytes bounded by ctx.
func (c *Client) SetBytesCtx(ctx context.Context, key []byte, value []byte, flags uint32, exptime int64, opts ...CallOption) error {
	return errOnly(c.storeBytes(ctx, storeSet, key, value, flags, exptime, opts))
}

// Add stores value only if key is absent; stored is false if it exists
// (always true when sent with noreply).
func (c *Client) Add(key string, value []byte, flags uint32, exptime int64, opts ...CallOption) (stored bool, err error) {
	return c.storeText(bg, storeAdd, key, value, flags, exptime, opts)
}

// AddCtx is Add bounded by ctx.
func (c *Client) AddCtx(ctx context.Context, key string, value []byte, flags uint32, exptime int64, opts ...CallOption) (bool, error) {
	return c.storeText(ctx, storeAdd, key, value, flags, exptime, opts)
}

// AddBytes is Add with a bytes key.
func (c *Client) AddBytes(key, value []byte, flags uint32, exptime int64, opts ...CallOption) (bool, error) {
	return c.storeBytes(bg, storeAdd, key, value, flags, exptime, opts)
}

// AddBytesCtx is AddBytes bounded by ctx.
func (c *Client) AddBytesCtx(ctx context.Context, key, value []byte, flags uint32, exptime int64, opts ...CallOption) (bool, error) {
	return c.storeBytes(ctx, storeAdd, key, value, flags, exptime, opts)
}

// Replace stores value only if key exists; stored is false if it does not.
func (c *Client) Replace(key string, value []byte, flags uint32, exptime int64, opts ...CallOption) (stored bool, err error) {
	return c.storeText(bg, storeReplace, key, value, flags, exptime, opts)
}

// ReplaceCtx is Replace bounded by ctx.
func (c *Client) ReplaceCtx(ctx context.Context, key string, value []byte, flags uint32, exptime int64, opts ...CallOption) (bool, error) {
	return c.storeText(ctx, storeReplace, key, value, flags, exptime, opts)
}

// ReplaceBytes is Replace with a bytes key.
func (c *Client) ReplaceBytes(key, value []byte, flags uint32, exptime int64, opts ...CallOption) (bool, error) {
	return c.storeBytes(bg, storeReplace, key, value, flags, exptime, opts)
}

// ReplaceBytesCtx is ReplaceBytes bounded by ctx.
func (c *Client) ReplaceBytesCtx(ctx context.Context, key, value []byte, flags uint32, exptime int64, opts ...CallOption) (bool, error) {
	return c.storeBytes(ctx, storeReplace, key, value, flags, exptime, opts)
}

// Append adds value after an existing item's bytes (the server ignores
// flags and exptime); stored is false if there is no such item.
func (c *Client) Append(key string, value []byte, opts ...CallOption) (stored bool, err error) {
	return c.storeText(bg, storeAppend, key, value, 0, 0, opts)
}

// AppendCtx is Append bounded by ctx.
func (c *Client) AppendCtx(ctx context.Context, key string, value []byte, opts ...CallOption) (bool, error) {
	return c.storeText(ctx, storeAppend, key, value, 0, 0, opts)
}

// AppendBytes is Append with a bytes key.
func (c *Client) AppendBytes(key, value []byte, opts ...CallOption) (bool, error) {
	return c.storeBytes(bg, storeAppend, key, value, 0, 0, opts)
}

// AppendBytesCtx is AppendBytes bounded by ctx.
func (c *Client) AppendBytesCtx(ctx context.Context, key, value []byte, opts ...CallOption) (bool, error) {
	return c.storeBytes(ctx, storeAppend, key, value, 0, 0, opts)
}

// Prepend adds value before an existing item's bytes; stored is false if
// there is no such item.
func (c *Client) Prepend(key string, value []byte, opts ...CallOption) (stored bool, err error) {
	return c.storeText(bg, storePrepend, key, value, 0, 0, opts)
}

// PrependCtx is Prepend bounded by ctx.
func (c *Client) PrependCtx(ctx context.Context, key string, value []byte, opts ...CallOption) (bool, error) {
	return c.storeText(ctx, storePrepend, key, value, 0, 0, opts)
}

// PrependBytes is Prepend with a bytes key.
func (c *Client) PrependBytes(key, value []byte, opts ...CallOption) (bool, error) {
	return c.storeBytes(bg, storePrepend, key, value, 0, 0, opts)
}

// PrependBytesCtx is PrependBytes bounded by ctx.
func (c *Client) PrependBytesCtx(ctx context.Context, key, value []byte, opts ...CallOption) (bool, error) {
	return c.storeBytes(ctx, storePrepend, key, value, 0, 0, opts)
}

// ---- cas --------------------------------------------------------------------

func (c *Client) cas(ctx context.Context, op string, k keyArg, value []byte, cas uint64, flags uint32, exptime int64, opts []CallOption) (CASResult, error) {
	value = own(ctx, value)
	reply := replyOf(ReplyWait, opts)
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		v, vl := bytesArg(value)
		return C.pmc_cas(p, k.p, k.n, v, vl, C.uint64_t(cas), C.uint32_t(flags), C.int64_t(exptime), reply, e)
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

func (c *Client) casText(ctx context.Context, key string, value []byte, cas uint64, flags uint32, exptime int64, opts []CallOption) (CASResult, error) {
	k, err := c.textKey("CompareAndSwap", key)
	if err != nil {
		return 0, err
	}
	return c.cas(ctx, "CompareAndSwap", k, value, cas, flags, exptime, opts)
}

// CompareAndSwap stores value only if the item's CAS unique is still cas
// (from Gets). It waits for the reply unless given ReplyNone.
func (c *Client) CompareAndSwap(key string, value []byte, cas uint64, flags uint32, exptime int64, opts ...CallOption) (CASResult, error) {
	return c.casText(bg, key, value, cas, flags, exptime, opts)
}

// CompareAndSwapCtx is CompareAndSwap bounded by ctx.
func (c *Client) CompareAndSwapCtx(ctx context.Context, key string, value []byte, cas uint64, flags uint32, exptime int64, opts ...CallOption) (CASResult, error) {
	return c.casText(ctx, key, value, cas, flags, exptime, opts)
}

// CompareAndSwapBytes is CompareAndSwap with a bytes key.
func (c *Client) CompareAndSwapBytes(key []byte, value []byte, cas uint64, flags uint32, exptime int64, opts ...CallOption) (CASResult, error) {
	return c.cas(bg, "CompareAndSwapBytes", bytesKey(bg, key), value, cas, flags, exptime, opts)
}

// CompareAndSwapBytesCtx is CompareAndSwapBytes bounded by ctx.
func (c *Client) CompareAndSwapBytesCtx(ctx context.Context, key []byte, value []byte, cas uint64, flags uint32, exptime int64, opts ...CallOption) (CASResult, error) {
	return c.cas(ctx, "CompareAndSwapBytes", bytesKey(ctx, key), value, cas, flags, exptime, opts)
}

// ---- set_many -------------------------------------------------------------

func (c *Client) setMulti(ctx context.Context, op string, keys []keyArg, values [][]byte, flags uint32, exptime int64, opts []CallOption) ([]int, error) {
	if len(keys) != len(values) {
		return nil, &Error{Op: op, Status: StatusInvalidArgument, Message: fmt.Sprintf("PMC_INVALID_ARGUMENT: %d keys but %d values", len(keys), len(values))}
	}
	vals := make([]keyArg, len(values))
	for i, v := range values {
		p, n := bytesArg(own(ctx, v))
		vals[i] = keyArg{p, n}
	}
	reply := replyOf(ReplyDefault, opts)
	var failed []int
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		ka, va := newCArray(keys), newCArray(vals)
		defer ka.free()
		defer va.free()
		n := len(keys)
		fail := (*C.size_t)(C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
		defer C.free(unsafe.Pointer(fail))
		var nFailed C.size_t
		st := C.pmc_set_many(p, ka.ptrs, ka.lens, va.ptrs, va.lens, C.size_t(n), C.uint32_t(flags), C.int64_t(exptime), reply, fail, &nFailed, e)
		if st == C.PMC_OK || st == C.PMC_NOT_STORED {
			failed = []int{}
			for _, i := range unsafe.Slice(fail, n+1)[:int(nFailed)] {
				failed = append(failed, int(i))
			}
		}
		return st
	})
	switch {
	case err != nil:
		return nil, err
	case st == StatusOK || st == StatusNotStored:
		return failed, nil
	}
	return nil, unexpected(op, st)
}

// SetMulti stores values[i] under keys[i], all with the same flags and
// exptime, in one pipelined batch; failed lists the indices the server did
// not store (empty when all were, or when sent with noreply). If any key
// is illegal nothing is sent.
func (c *Client) SetMulti(keys []string, values [][]byte, flags uint32, exptime int64, opts ...CallOption) (failed []int, err error) {
	return c.SetMultiCtx(bg, keys, values, flags, exptime, opts...)
}

// SetMultiCtx is SetMulti bounded by ctx.
func (c *Client) SetMultiCtx(ctx context.Context, keys []string, values [][]byte, flags uint32, exptime int64, opts ...CallOption) ([]int, error) {
	args, err := c.textKeys("SetMulti", keys)
	if err != nil {
		return nil, err
	}
	return c.setMulti(ctx, "SetMulti", args, values, flags, exptime, opts)
}

// SetMultiBytes is SetMulti with bytes keys.
func (c *Client) SetMultiBytes(keys [][]byte, values [][]byte, flags uint32, exptime int64, opts ...CallOption) ([]int, error) {
	return c.setMulti(bg, "SetMultiBytes", bytesKeys(bg, keys), values, flags, exptime, opts)
}

// SetMultiBytesCtx is SetMultiBytes bounded by ctx.
func (c *Client) SetMultiBytesCtx(ctx context.Context, keys [][]byte, values [][]byte, flags uint32, exptime int64, opts ...CallOption) ([]int, error) {
	return c.setMulti(ctx, "SetMultiBytes", bytesKeys(ctx, keys), values, flags, exptime, opts)
}

// ---- delete, delete_many ----------------------------------------------------

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

func (c *Client) delete(ctx context.Context, op string, k keyArg, opts []CallOption) (bool, error) {
	reply := replyOf(ReplyDefault, opts)
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_delete(p, k.p, k.n, reply, e)
	})
	return foundOutcome(op, st, err)
}

// Delete removes key; deleted is false when there was no such item (always
// true with noreply, whose outcome is unknown).
func (c *Client) Delete(key string, opts ...CallOption) (deleted bool, err error) {
	return c.DeleteCtx(bg, key, opts...)
}

// DeleteCtx is Delete bounded by ctx.
func (c *Client) DeleteCtx(ctx context.Context, key string, opts ...CallOption) (bool, error) {
	k, err := c.textKey("Delete", key)
	if err != nil {
		return false, err
	}
	return c.delete(ctx, "Delete", k, opts)
}

// DeleteBytes is Delete with a bytes key.
func (c *Client) DeleteBytes(key []byte, opts ...CallOption) (deleted bool, err error) {
	return c.delete(bg, "DeleteBytes", bytesKey(bg, key), opts)
}

// DeleteBytesCtx is DeleteBytes bounded by ctx.
func (c *Client) DeleteBytesCtx(ctx context.Context, key []byte, opts ...CallOption) (bool, error) {
	return c.delete(ctx, "DeleteBytes", bytesKey(ctx, key), opts)
}

func (c *Client) deleteMulti(ctx context.Context, op string, keys []keyArg, opts []CallOption) (int, error) {
	reply := replyOf(ReplyDefault, opts)
	var deleted C.size_t
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		arr := newCArray(keys)
		defer arr.free()
		var d C.size_t
		st := C.pmc_delete_many(p, arr.ptrs, arr.lens, C.size_t(arr.n), reply, &d, e)
		deleted = d
		return st
	})
	if err != nil {
		return 0, err
	}
	if st != StatusOK {
		return 0, unexpected(op, st)
	}
	return int(deleted), nil
}

// DeleteMulti deletes keys in pipelined batches; deleted counts those that
// existed (with noreply: those sent). If any key is illegal nothing is sent.
func (c *Client) DeleteMulti(keys []string, opts ...CallOption) (deleted int, err error) {
	return c.DeleteMultiCtx(bg, keys, opts...)
}

// DeleteMultiCtx is DeleteMulti bounded by ctx.
func (c *Client) DeleteMultiCtx(ctx context.Context, keys []string, opts ...CallOption) (int, error) {
	args, err := c.textKeys("DeleteMulti", keys)
	if err != nil {
		return 0, err
	}
	return c.deleteMulti(ctx, "DeleteMulti", args, opts)
}

// DeleteMultiBytes is DeleteMulti with bytes keys.
func (c *Client) DeleteMultiBytes(keys [][]byte, opts ...CallOption) (int, error) {
	return c.deleteMulti(bg, "DeleteMultiBytes", bytesKeys(bg, keys), opts)
}

// DeleteMultiBytesCtx is DeleteMultiBytes bounded by ctx.
func (c *Client) DeleteMultiBytesCtx(ctx context.Context, keys [][]byte, opts ...CallOption) (int, error) {
	return c.deleteMulti(ctx, "DeleteMultiBytes", bytesKeys(ctx, keys), opts)
}

// ---- touch ------------------------------------------------------------------

func (c *Client) touch(ctx context.Context, op string, k keyArg, exptime int64, opts []CallOption) (bool, error) {
	reply := replyOf(ReplyDefault, opts)
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_touch(p, k.p, k.n, C.int64_t(exptime), reply, e)
	})
	return foundOutcome(op, st, err)
}

// Touch sets a new exptime (seconds, or a unix time; 0 = never) on key.
// It follows the client's noreply default, as pymemcache's
// touch(noreply=None): without Options.Noreply (the binding's default) it
// waits and found is false when there is no such item; with it found is
// always true (the outcome is not known).
func (c *Client) Touch(key string, exptime int64, opts ...CallOption) (found bool, err error) {
	return c.TouchCtx(bg, key, exptime, opts...)
}

// TouchCtx is Touch bounded by ctx.
func (c *Client) TouchCtx(ctx context.Context, key string, exptime int64, opts ...CallOption) (bool, error) {
	k, err := c.textKey("Touch", key)
	if err != nil {
		return false, err
	}
	return c.touch(ctx, "Touch", k, exptime, opts)
}

// TouchBytes is Touch with a bytes key.
func (c *Client) TouchBytes(key []byte, exptime int64, opts ...CallOption) (found bool, err error) {
	return c.touch(bg, "TouchBytes", bytesKey(bg, key), exptime, opts)
}

// TouchBytesCtx is TouchBytes bounded by ctx.
func (c *Client) TouchBytesCtx(ctx context.Context, key []byte, exptime int64, opts ...CallOption) (bool, error) {
	return c.touch(ctx, "TouchBytes", bytesKey(ctx, key), exptime, opts)
}

// ---- incr, decr -------------------------------------------------------------

func (c *Client) counter(ctx context.Context, op string, k keyArg, delta uint64, incr bool, opts []CallOption) (uint64, bool, error) {
	reply := replyOf(ReplyWait, opts)
	var nv C.uint64_t
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var v C.uint64_t
		var st C.pmc_status
		if incr {
			st = C.pmc_incr(p, k.p, k.n, C.uint64_t(delta), reply, &v, e)
		} else {
			st = C.pmc_decr(p, k.p, k.n, C.uint64_t(delta), reply, &v, e)
		}
		nv = v
		return st
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
// when there is no such item. With ReplyNone the new value is not known:
// (0, true, nil).
func (c *Client) Incr(key string, delta uint64, opts ...CallOption) (newValue uint64, found bool, err error) {
	return c.IncrCtx(bg, key, delta, opts...)
}

// IncrCtx is Incr bounded by ctx.
func (c *Client) IncrCtx(ctx context.Context, key string, delta uint64, opts ...CallOption) (uint64, bool, error) {
	k, err := c.textKey("Incr", key)
	if err != nil {
		return 0, false, err
	}
	return c.counter(ctx, "Incr", k, delta, true, opts)
}

// IncrBytes is Incr with a bytes key.
func (c *Client) IncrBytes(key []byte, delta uint64, opts ...CallOption) (newValue uint64, found bool, err error) {
	return c.counter(bg, "IncrBytes", bytesKey(bg, key), delta, true, opts)
}

// IncrBytesCtx is IncrBytes bounded by ctx.
func (c *Client) IncrBytesCtx(ctx context.Context, key []byte, delta uint64, opts ...CallOption) (uint64, bool, error) {
	return c.counter(ctx, "IncrBytes", bytesKey(ctx, key), delta, true, opts)
}

// Decr subtracts delta from a decimal counter (stopping at 0); found is
// false when there is no such item.
func (c *Client) Decr(key string, delta uint64, opts ...CallOption) (newValue uint64, found bool, err error) {
	return c.DecrCtx(bg, key, delta, opts...)
}

// DecrCtx is Decr bounded by ctx.
func (c *Client) DecrCtx(ctx context.Context, key string, delta uint64, opts ...CallOption) (uint64, bool, error) {
	k, err := c.textKey("Decr", key)
	if err != nil {
		return 0, false, err
	}
	return c.counter(ctx, "Decr", k, delta, false, opts)
}

// DecrBytes is Decr with a bytes key.
func (c *Client) DecrBytes(key []byte, delta uint64, opts ...CallOption) (newValue uint64, found bool, err error) {
	return c.counter(bg, "DecrBytes", bytesKey(bg, key), delta, false, opts)
}

// DecrBytesCtx is DecrBytes bounded by ctx.
func (c *Client) DecrBytesCtx(ctx context.Context, key []byte, delta uint64, opts ...CallOption) (uint64, bool, error) {
	return c.counter(ctx, "DecrBytes", bytesKey(ctx, key), delta, false, opts)
}

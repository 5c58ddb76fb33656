package pymemcache

// Values as pymemcache's default serializer stores them: text (flag 16),
// integers (flag 2) and any Python value as JSON (pickles of plain data).

/*
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"unsafe"
)

// ---- text ----------------------------------------------------------------------

func (c *Client) setText(ctx context.Context, op string, k keyArg, text string, exptime int64, opts []CallOption) error {
	reply := replyOf(ReplyDefault, opts)
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		t, n := bytesArg(stringBytes(text))
		return C.pmc_set_text(p, k.p, k.n, (*C.char)(unsafe.Pointer(t)), n, C.int64_t(exptime), reply, e)
	})
	if err == nil && st != StatusOK {
		err = unexpected(op, st)
	}
	return err
}

// stringBytes views s's bytes without a copy; the library only reads them.
func stringBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer((*reflect.StringHeader)(unsafe.Pointer(&s)).Data)), len(s))
}

// SetText stores UTF-8 text with flag 16, as pymemcache stores a str
// (ErrInvalidArgument if text is not UTF-8).
func (c *Client) SetText(key, text string, exptime int64, opts ...CallOption) error {
	return c.SetTextCtx(bg, key, text, exptime, opts...)
}

// SetTextCtx is SetText bounded by ctx.
func (c *Client) SetTextCtx(ctx context.Context, key, text string, exptime int64, opts ...CallOption) error {
	k, err := c.textKey("SetText", key)
	if err != nil {
		return err
	}
	return c.setText(ctx, "SetText", k, text, exptime, opts)
}

// SetTextBytes is SetText with a bytes key.
func (c *Client) SetTextBytes(key []byte, text string, exptime int64, opts ...CallOption) error {
	return c.setText(bg, "SetTextBytes", bytesKey(bg, key), text, exptime, opts)
}

// SetTextBytesCtx is SetTextBytes bounded by ctx.
func (c *Client) SetTextBytesCtx(ctx context.Context, key []byte, text string, exptime int64, opts ...CallOption) error {
	return c.setText(ctx, "SetTextBytes", bytesKey(ctx, key), text, exptime, opts)
}

func (c *Client) getText(ctx context.Context, op string, k keyArg) (string, bool, error) {
	var text string
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var v C.pmc_value
		st := C.pmc_get_text(p, k.p, k.n, &v, e)
		if st == C.PMC_OK {
			text = string(takeValue(&v).Value)
		}
		return st
	})
	switch {
	case err != nil:
		return "", false, err
	case st == StatusOK:
		return text, true, nil
	case st == StatusMiss:
		return "", false, nil
	}
	return "", false, unexpected(op, st)
}

// GetText reads text: a pymemcache str (flag 16) or flag-0 bytes that are
// UTF-8, decompressed if need be; found is false on a miss, ErrNotText for
// any other value.
func (c *Client) GetText(key string) (text string, found bool, err error) {
	return c.GetTextCtx(bg, key)
}

// GetTextCtx is GetText bounded by ctx.
func (c *Client) GetTextCtx(ctx context.Context, key string) (string, bool, error) {
	k, err := c.textKey("GetText", key)
	if err != nil {
		return "", false, err
	}
	return c.getText(ctx, "GetText", k)
}

// GetTextBytes is GetText with a bytes key.
func (c *Client) GetTextBytes(key []byte) (string, bool, error) {
	return c.getText(bg, "GetTextBytes", bytesKey(bg, key))
}

// GetTextBytesCtx is GetTextBytes bounded by ctx.
func (c *Client) GetTextBytesCtx(ctx context.Context, key []byte) (string, bool, error) {
	return c.getText(ctx, "GetTextBytes", bytesKey(ctx, key))
}

// ---- int64 ---------------------------------------------------------------------

func (c *Client) setInt64(ctx context.Context, op string, k keyArg, v int64, exptime int64, opts []CallOption) error {
	reply := replyOf(ReplyDefault, opts)
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		return C.pmc_set_int64(p, k.p, k.n, C.int64_t(v), C.int64_t(exptime), reply, e)
	})
	if err == nil && st != StatusOK {
		err = unexpected(op, st)
	}
	return err
}

// SetInt64 stores v as decimal text with flag 2, as pymemcache stores an int.
func (c *Client) SetInt64(key string, v int64, exptime int64, opts ...CallOption) error {
	return c.SetInt64Ctx(bg, key, v, exptime, opts...)
}

// SetInt64Ctx is SetInt64 bounded by ctx.
func (c *Client) SetInt64Ctx(ctx context.Context, key string, v int64, exptime int64, opts ...CallOption) error {
	k, err := c.textKey("SetInt64", key)
	if err != nil {
		return err
	}
	return c.setInt64(ctx, "SetInt64", k, v, exptime, opts)
}

// SetInt64Bytes is SetInt64 with a bytes key.
func (c *Client) SetInt64Bytes(key []byte, v int64, exptime int64, opts ...CallOption) error {
	return c.setInt64(bg, "SetInt64Bytes", bytesKey(bg, key), v, exptime, opts)
}

// SetInt64BytesCtx is SetInt64Bytes bounded by ctx.
func (c *Client) SetInt64BytesCtx(ctx context.Context, key []byte, v int64, exptime int64, opts ...CallOption) error {
	return c.setInt64(ctx, "SetInt64Bytes", bytesKey(ctx, key), v, exptime, opts)
}

func (c *Client) getInt64(ctx context.Context, op string, k keyArg) (int64, bool, error) {
	var out int64
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var v C.int64_t
		st := C.pmc_get_int64(p, k.p, k.n, &v, e)
		out = int64(v)
		return st
	})
	switch {
	case err != nil:
		return 0, false, err
	case st == StatusOK:
		return out, true, nil
	case st == StatusMiss:
		return 0, false, nil
	}
	return 0, false, unexpected(op, st)
}

// GetInt64 reads an integer: pymemcache's int or long (flags 2, 4) or
// flag-0 decimal text such as a counter; found is false on a miss,
// ErrNotInteger for anything else (or beyond 64 bits: use GetJSON).
func (c *Client) GetInt64(key string) (v int64, found bool, err error) {
	return c.GetInt64Ctx(bg, key)
}

// GetInt64Ctx is GetInt64 bounded by ctx.
func (c *Client) GetInt64Ctx(ctx context.Context, key string) (int64, bool, error) {
	k, err := c.textKey("GetInt64", key)
	if err != nil {
		return 0, false, err
	}
	return c.getInt64(ctx, "GetInt64", k)
}

// GetInt64Bytes is GetInt64 with a bytes key.
func (c *Client) GetInt64Bytes(key []byte) (int64, bool, error) {
	return c.getInt64(bg, "GetInt64Bytes", bytesKey(bg, key))
}

// GetInt64BytesCtx is GetInt64Bytes bounded by ctx.
func (c *Client) GetInt64BytesCtx(ctx context.Context, key []byte) (int64, bool, error) {
	return c.getInt64(ctx, "GetInt64Bytes", bytesKey(ctx, key))
}

// ---- JSON ----------------------------------------------------------------------

func (c *Client) setJSON(ctx context.Context, op string, k keyArg, doc []byte, exptime int64, opts []CallOption) error {
	if bytes.IndexByte(doc, 0) >= 0 {
		return &Error{Op: op, Status: StatusCorruptValue, Message: "PMC_CORRUPT_VALUE: not JSON: the text holds a NUL byte"}
	}
	doc = own(ctx, doc)
	reply := replyOf(ReplyDefault, opts)
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		j := C.CString(string(doc))
		defer C.free(unsafe.Pointer(j))
		return C.pmc_set_json(p, k.p, k.n, j, C.int64_t(exptime), reply, e)
	})
	if err == nil && st != StatusOK {
		err = unexpected(op, st)
	}
	return err
}

// SetJSON stores the Python value the JSON text stands for, as
// pymemcache's default serializer would: a string as text, an integer as
// int, {"$bytes":"<hex>"} as bytes, anything else as a pickle that
// pickle.loads reads (objects -> dict, arrays -> list, {"$set":[...]} ->
// set). ErrCorruptValue if doc is not JSON.
func (c *Client) SetJSON(key string, doc []byte, exptime int64, opts ...CallOption) error {
	return c.SetJSONCtx(bg, key, doc, exptime, opts...)
}

// SetJSONCtx is SetJSON bounded by ctx.
func (c *Client) SetJSONCtx(ctx context.Context, key string, doc []byte, exptime int64, opts ...CallOption) error {
	k, err := c.textKey("SetJSON", key)
	if err != nil {
		return err
	}
	return c.setJSON(ctx, "SetJSON", k, doc, exptime, opts)
}

// SetJSONBytes is SetJSON with a bytes key.
func (c *Client) SetJSONBytes(key []byte, doc []byte, exptime int64, opts ...CallOption) error {
	return c.setJSON(bg, "SetJSONBytes", bytesKey(bg, key), doc, exptime, opts)
}

// SetJSONBytesCtx is SetJSONBytes bounded by ctx.
func (c *Client) SetJSONBytesCtx(ctx context.Context, key []byte, doc []byte, exptime int64, opts ...CallOption) error {
	return c.setJSON(ctx, "SetJSONBytes", bytesKey(ctx, key), doc, exptime, opts)
}

// SetValue is SetJSON of json.Marshal(v).
func (c *Client) SetValue(key string, v any, exptime int64, opts ...CallOption) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return &Error{Op: "SetValue", Status: StatusInvalidArgument, Message: "PMC_INVALID_ARGUMENT: " + err.Error(), Err: err}
	}
	return c.SetJSON(key, doc, exptime, opts...)
}

func (c *Client) getJSON(ctx context.Context, op string, k keyArg) ([]byte, bool, error) {
	var doc []byte
	st, err := c.do(ctx, op, func(p *C.pmc_client, e **C.pmc_error) C.pmc_status {
		var s *C.char
		st := C.pmc_get_json(p, k.p, k.n, &s, e)
		if st == C.PMC_OK {
			doc = []byte(C.GoString(s))
			C.pmc_string_free(s)
		}
		return st
	})
	switch {
	case err != nil:
		return nil, false, err
	case st == StatusOK:
		return doc, true, nil
	case st == StatusMiss:
		return nil, false, nil
	}
	return nil, false, unexpected(op, st)
}

// GetJSON reads any value a pymemcache service stored, as JSON text: str ->
// string, int -> number, bytes -> {"$bytes":"<hex>"}, pickles of plain data
// -> their JSON (tuples as arrays, sets as {"$set":[...]}). A pickle of a
// class instance is refused (ErrUnsupportedPickle), never executed.
func (c *Client) GetJSON(key string) (doc []byte, found bool, err error) {
	return c.GetJSONCtx(bg, key)
}

// GetJSONCtx is GetJSON bounded by ctx.
func (c *Client) GetJSONCtx(ctx context.Context, key string) ([]byte, bool, error) {
	k, err := c.textKey("GetJSON", key)
	if err != nil {
		return nil, false, err
	}
	return c.getJSON(ctx, "GetJSON", k)
}

// GetJSONBytes is GetJSON with a bytes key.
func (c *Client) GetJSONBytes(key []byte) ([]byte, bool, error) {
	return c.getJSON(bg, "GetJSONBytes", bytesKey(bg, key))
}

// GetJSONBytesCtx is GetJSONBytes bounded by ctx.
func (c *Client) GetJSONBytesCtx(ctx context.Context, key []byte) ([]byte, bool, error) {
	return c.getJSON(ctx, "GetJSONBytes", bytesKey(ctx, key))
}

// GetValue is GetJSON decoded into v with json.Unmarshal.
func (c *Client) GetValue(key string, v any) (found bool, err error) {
	doc, found, err := c.GetJSON(key)
	if err != nil || !found {
		return found, err
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return true, &Error{Op: "GetValue", Status: StatusCorruptValue, Message: "PMC_CORRUPT_VALUE: " + err.Error(), Err: err}
	}
	return true, nil
}

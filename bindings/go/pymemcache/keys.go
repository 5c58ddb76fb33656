package pymemcache

/*
#include <stdlib.h>
#include "pymemcache.h"
*/
import "C"

import (
	"context"
	"reflect"
	"unicode/utf8"
	"unsafe"
)

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

// own returns b itself, or a copy when ctx can end: a call abandoned at the
// end of its context still reads its arguments, which the caller may
// change as soon as the method returns.
func own(ctx context.Context, b []byte) []byte {
	if ctx.Done() == nil || b == nil {
		return b
	}
	return append([]byte(nil), b...)
}

// bytesKey passes a []byte key as it is: the library checks it as
// pymemcache checks a bytes key.
func bytesKey(ctx context.Context, key []byte) keyArg {
	p, n := bytesArg(own(ctx, key))
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
// length). Strings are immutable, so no copy is needed even for a call
// that outlives its context.
func (c *Client) textKey(op, key string) (keyArg, error) {
	return textKeyArg(op, key, c.allowUnicode)
}

// textKeyArg is textKey for a given AllowUnicodeKeys setting (clients and
// batches).
func textKeyArg(op, key string, allowUnicode bool) (keyArg, error) {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			if !allowUnicode {
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

// textKeys checks every string key (nothing is sent if one is illegal).
func (c *Client) textKeys(op string, keys []string) ([]keyArg, error) {
	args := make([]keyArg, len(keys))
	for i, k := range keys {
		a, err := c.textKey(op, k)
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	return args, nil
}

// bytesKeys passes []byte keys as they are (copies when ctx can end).
func bytesKeys(ctx context.Context, keys [][]byte) []keyArg {
	args := make([]keyArg, len(keys))
	for i, k := range keys {
		p, n := bytesArg(own(ctx, k))
		args[i] = keyArg{p, n}
	}
	return args
}

// cArray is n (pointer, length) pairs copied into C memory, as the
// many-key functions take them (cgo forbids passing Go memory that holds
// Go pointers). Free it after the call.
type cArray struct {
	ptrs **C.uint8_t
	lens *C.size_t
	buf  unsafe.Pointer
	n    int
}

func newCArray(items []keyArg) cArray {
	n := len(items)
	total := 1
	for _, k := range items {
		total += int(k.n)
	}
	a := cArray{n: n, buf: C.malloc(C.size_t(total))}
	a.ptrs = (**C.uint8_t)(C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof((*C.uint8_t)(nil)))))
	a.lens = (*C.size_t)(C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
	buf := unsafe.Slice((*byte)(a.buf), total)
	ptrs := unsafe.Slice(a.ptrs, n+1)
	lens := unsafe.Slice(a.lens, n+1)
	off := 0
	for i, k := range items {
		copy(buf[off:], unsafe.Slice((*byte)(unsafe.Pointer(k.p)), int(k.n)))
		ptrs[i] = (*C.uint8_t)(unsafe.Pointer(&buf[off]))
		lens[i] = k.n
		off += int(k.n)
	}
	return a
}

func (a cArray) free() {
	C.free(a.buf)
	C.free(unsafe.Pointer(a.ptrs))
	C.free(unsafe.Pointer(a.lens))
}

package pymemcache

/*
#include <stdlib.h>
#include "pymemcache.h"

// The exported Go callbacks (serde_export.go), as pmc_serde_fn pointers.
extern pmc_status goPmcSerialize(void *, uint8_t *, size_t, uint8_t *, size_t, uint32_t, pmc_buffer *);
extern pmc_status goPmcDeserialize(void *, uint8_t *, size_t, uint8_t *, size_t, uint32_t, pmc_buffer *);
static pmc_serde_fn pmc_go_serialize(void) { return (pmc_serde_fn)goPmcSerialize; }
static pmc_serde_fn pmc_go_deserialize(void) { return (pmc_serde_fn)goPmcDeserialize; }
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// Serde transforms a value on its way to the server (Options.Serializer)
// or from it (Options.Deserializer): it gets the key as the caller gave it,
// the value and its flags (copies the function may keep), and returns the
// new value and flags. An error (or a panic) fails the command with
// ErrSerdeCallback. It may run on several goroutines at once.
type Serde func(key, value []byte, flags uint32) ([]byte, uint32, error)

// serdeFn keeps a client's Go callbacks reachable from C: userdata is C
// memory holding a cgo.Handle of it. Released after the client is freed.
type serdeFn struct {
	ser, de Serde
	h       cgo.Handle
	mem     unsafe.Pointer
	owned   []*serdeFn // the inner clients' callbacks of a fallback client
}

func (s *serdeFn) release() {
	if s == nil {
		return
	}
	for _, o := range s.owned {
		o.release()
	}
	if s.mem != nil {
		C.free(s.mem)
		s.h.Delete()
		s.mem = nil
	}
}

// joinSerde keeps several clients' callbacks alive as one.
func joinSerde(list []*serdeFn) *serdeFn {
	j := &serdeFn{}
	for _, s := range list {
		if s != nil {
			j.owned = append(j.owned, s)
		}
	}
	if len(j.owned) == 0 {
		return nil
	}
	return j
}

// setSerde installs the callbacks on the options (nothing when both are nil).
func setSerde(o *C.pmc_options, ser, de Serde) (*serdeFn, error) {
	if ser == nil && de == nil {
		return nil, nil
	}
	s := &serdeFn{ser: ser, de: de}
	s.h = cgo.NewHandle(s)
	s.mem = C.malloc(C.size_t(unsafe.Sizeof(C.uintptr_t(0))))
	*(*C.uintptr_t)(s.mem) = C.uintptr_t(s.h)
	var sf, df C.pmc_serde_fn
	if ser != nil {
		sf = C.pmc_go_serialize()
	}
	if de != nil {
		df = C.pmc_go_deserialize()
	}
	if _, err := callStatus("New(serde)", func(e **C.pmc_error) C.pmc_status {
		return C.pmc_options_set_serde(o, sf, df, s.mem, e)
	}); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// runSerde calls the Go function for one value and hands its result to the
// library; any failure is a status other than PMC_OK.
func runSerde(userdata unsafe.Pointer, serialize bool, key *C.uint8_t, keyLen C.size_t, value *C.uint8_t, valueLen C.size_t, flags C.uint32_t, out *C.pmc_buffer) (st C.pmc_status) {
	defer func() {
		if r := recover(); r != nil {
			st = C.PMC_INVALID_ARGUMENT
		}
	}()
	s := cgo.Handle(*(*C.uintptr_t)(userdata)).Value().(*serdeFn)
	f := s.de
	if serialize {
		f = s.ser
	}
	if f == nil {
		return C.PMC_OK
	}
	k := C.GoBytes(unsafe.Pointer(key), C.int(keyLen))
	v := []byte{}
	if valueLen > 0 {
		v = C.GoBytes(unsafe.Pointer(value), C.int(valueLen))
	}
	nv, nf, err := f(k, v, uint32(flags))
	if err != nil {
		return C.PMC_INVALID_ARGUMENT
	}
	p, n := bytesArg(nv)
	_, err = callStatus("serde", func(e **C.pmc_error) C.pmc_status { return C.pmc_buffer_set(out, p, n, C.uint32_t(nf), e) })
	if err != nil {
		panic(fmt.Sprint("pmc_buffer_set: ", err))
	}
	return C.PMC_OK
}

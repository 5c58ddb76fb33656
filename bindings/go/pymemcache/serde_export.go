package pymemcache

// This file only exports the serde callbacks; cgo allows declarations only
// in the preamble of a file with //export.

/*
#include "pymemcache.h"
*/
import "C"

import "unsafe"

//export goPmcSerialize
func goPmcSerialize(userdata unsafe.Pointer, key *C.uint8_t, keyLen C.size_t, value *C.uint8_t, valueLen C.size_t, flags C.uint32_t, out *C.pmc_buffer) C.pmc_status {
	return runSerde(userdata, true, key, keyLen, value, valueLen, flags, out)
}

//export goPmcDeserialize
func goPmcDeserialize(userdata unsafe.Pointer, key *C.uint8_t, keyLen C.size_t, value *C.uint8_t, valueLen C.size_t, flags C.uint32_t, out *C.pmc_buffer) C.pmc_status {
	return runSerde(userdata, false, key, keyLen, value, valueLen, flags, out)
}

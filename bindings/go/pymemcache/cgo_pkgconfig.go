//go:build !pymemcache_intree && !pymemcache_custom

package pymemcache

// The default build finds the installed C library with pkg-config
// (pymemcache.pc). With the library outside the loader's path, run the
// program with LD_LIBRARY_PATH=$(pkg-config --variable=libdir pymemcache).

/*
#cgo pkg-config: pymemcache
*/
import "C"

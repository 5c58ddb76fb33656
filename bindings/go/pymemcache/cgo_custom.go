//go:build pymemcache_custom

package pymemcache

// -tags pymemcache_custom adds no flags of its own: CGO_CFLAGS names the
// directory of pymemcache.h and CGO_LDFLAGS the library, e.g. the file
// PYMEMCACHE_LIB points at:
//
//	CGO_CFLAGS=-I/opt/pmc/include CGO_LDFLAGS="$PYMEMCACHE_LIB" go build -tags pymemcache_custom

import "C"

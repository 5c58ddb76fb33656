//go:build pymemcache_intree

package pymemcache

// -tags pymemcache_intree builds against the checkout this package sits in:
// include/ and target/release (after `cargo build --release`). No rpath is
// recorded; run with LD_LIBRARY_PATH pointing at target/release.

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: -L${SRCDIR}/../../../target/release -lpymemcache
*/
import "C"

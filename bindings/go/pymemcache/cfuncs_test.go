package pymemcache

// Every public C function of the header the package is built with must be
// called by the binding's own (non-test) sources, except those below.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// notBound lists the header's functions the binding does not call, and why.
var notBound = map[string]string{
	// The rule of the error API: messages come from each call's pmc_error,
	// never from per-thread state, so they survive goroutine migration.
	"pmc_last_error_message": "per-thread message; the binding reads each call's pmc_error",
	// pmc_results_items hands every hit over in one cgo call; the one-by-one
	// accessors would only add a cgo call per hit.
	"pmc_results_len": "pmc_results_items gives the count with the hits",
	"pmc_results_at":  "pmc_results_items gives all hits in one cgo call",
	// Stats are copied into a Go slice (Stats); Stats.Get searches it.
	"pmc_stats_find": "Stats.Get searches the copied Go slice",
	// Batch.Execute copies every result with one pmc_batch_results call.
	"pmc_batch_result": "pmc_batch_results gives every result of a batch in one cgo call",
	// A C callback into Go needs an exported trampoline and a handle table;
	// Client.NodeState gives the same states by asking.
	"pmc_options_set_hash_state_callback": "state changes are read with Client.NodeState (pmc_client_node_state)",
	// The non-blocking client (issue 20) serves C event loops; goroutines
	// already give Go concurrency over the blocking calls.
	"pmc_async_new":              "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_free":             "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_get":              "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_set":              "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_delete":           "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_batch":            "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_watches":          "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_timeout_ms":       "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_step":             "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_next":             "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_completion_clear":       "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_cancel":           "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_pending":          "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_metrics_snapshot": "event-loop API; Go uses its own concurrency (goroutines)",
	"pmc_async_metrics_reset":    "event-loop API; Go uses its own concurrency (goroutines)",
}

// headerPath finds the pymemcache.h the package was built with:
// PMC_HEADER, else pkg-config's includedir, else the checkout's include/.
func headerPath(t *testing.T) string {
	if p := os.Getenv("PMC_HEADER"); p != "" {
		return p
	}
	if out, err := exec.Command("pkg-config", "--variable=includedir", "pymemcache").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "pymemcache.h")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p := filepath.Join("..", "..", "..", "include", "pymemcache.h")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no pymemcache.h: set PMC_HEADER (tried pkg-config and %s)", p)
	}
	return p
}

func TestEveryCFunctionIsBound(t *testing.T) {
	hdr, err := os.ReadFile(headerPath(t))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^[A-Za-z_][A-Za-z0-9_ \*]*?\b(pmc_[a-z0-9_]+)\(`)
	all := map[string]bool{}
	for _, m := range decl.FindAllStringSubmatch(string(hdr), -1) {
		all[m[1]] = true
	}
	if len(all) < 50 {
		t.Fatalf("found only %d functions in the header: the pattern is wrong", len(all))
	}

	srcs, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	called := map[string]bool{}
	use := regexp.MustCompile(`\bC\.(pmc_[a-z0-9_]+)\(`)
	for _, f := range srcs {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range use.FindAllStringSubmatch(string(b), -1) {
			called[m[1]] = true
		}
	}

	var missing []string
	bound := 0
	for fn := range all {
		switch {
		case called[fn] && notBound[fn] != "":
			t.Errorf("%s is listed as not bound but the binding calls it", fn)
		case called[fn]:
			bound++
		case notBound[fn] == "":
			missing = append(missing, fn)
		}
	}
	for fn := range notBound {
		if !all[fn] {
			t.Errorf("notBound lists %s, which the header does not declare", fn)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the binding does not call %d C function(s): %s", len(missing), strings.Join(missing, ", "))
	}
	fmt.Printf("go: %d of %d C functions (%d not bound, with reasons: %s)\n", bound, len(all), len(notBound), strings.Join(sortedKeys(notBound), ", "))
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

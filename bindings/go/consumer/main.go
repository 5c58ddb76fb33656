// The tiny program bindings/run-tests.sh builds outside the checkout
// against the packed module: it uses the package only (a mock client, so
// that it needs no server) and fails unless the package works.
package main

import (
	"errors"
	"fmt"
	"os"

	pmc "github.com/pymemcache-rs/pymemcache-rs/bindings/go/pymemcache"
)

func main() {
	c, err := pmc.New(pmc.Options{Mock: true})
	if err != nil {
		fail("New: %v", err)
	}
	defer c.Close()
	if err := c.SetText("greeting", "hello", 0); err != nil {
		fail("SetText: %v", err)
	}
	s, found, err := c.GetText("greeting")
	if err != nil || !found || s != "hello" {
		fail("GetText: %q %v %v", s, found, err)
	}
	_, _, err = c.Get("bad key")
	var e *pmc.Error
	if !errors.Is(err, pmc.ErrIllegalInput) || !errors.As(err, &e) || e.Message == "" {
		fail("an illegal key: %v", err)
	}
	fmt.Printf("consumer: libpymemcache %s (header %s): %q, illegal key: %s\n", pmc.LibraryVersion(), pmc.HeaderVersion, s, e.Message)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "consumer: "+format+"\n", args...)
	os.Exit(1)
}

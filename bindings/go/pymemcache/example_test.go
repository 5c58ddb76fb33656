package pymemcache_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/pymemcache-rs/pymemcache-rs/bindings/go/pymemcache"
)

// Compiled (not run) so that the README's example stays valid.
func Example() {
	c, err := pymemcache.New(pymemcache.Options{Servers: []string{"127.0.0.1:11211"}, Timeout: time.Second})
	if err != nil {
		return
	}
	defer c.Close()
	if err := c.Set("greeting", []byte("hello\x00world"), 0, 0); err != nil {
		return
	}
	item, found, err := c.Get("greeting") // item.Value, item.Flags
	fmt.Println(item.Value, found, err)
	it, _, _ := c.Gets("greeting")
	res, err := c.CompareAndSwap("greeting", []byte("bye"), it.CAS, 0, 0) // CASStored / CASExists / CASNotFound
	fmt.Println(res, err)
	n, found, err := c.Incr("counter", 1)
	fmt.Println(n, found, err)
	found, err = c.Touch("greeting", 60) // false if there is no such key (Noreply off)
	fmt.Println(found, err)
	_, _, err = c.Get("bad key")
	var e *pymemcache.Error
	fmt.Println(errors.Is(err, pymemcache.ErrIllegalInput), errors.As(err, &e) && e.Status == 12)
	err = c.SetBytes([]byte{0x01, 0xff}, []byte("v"), 0, 0) // a bytes key: any byte but whitespace and NUL
	fmt.Println(err)
	_, _, err = c.Get("clé") // ErrIllegalInput unless Options.AllowUnicodeKeys
	fmt.Println(err)
}

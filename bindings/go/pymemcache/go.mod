module github.com/pymemcache-rs/pymemcache-rs/bindings/go/pymemcache

go 1.19

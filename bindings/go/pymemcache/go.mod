module pymemcache-rs/bindings/go/pymemcache

go 1.19

//! PooledClient against real memcached: many threads on one client.

mod common;
use common::Memcached;
use pymemcache::{ClientOptions, Error, Memcache, PoolOptions, PooledClient, StatValue};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn opts() -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    }
}

fn curr_connections(addr: &str) -> i128 {
    let c = pymemcache::Client::new(addr, &ClientOptions::default()).unwrap();
    let s = c.stats(&[]).unwrap();
    match s[0].get("curr_connections").unwrap().value {
        StatValue::Int(n) => n,
        ref v => panic!("curr_connections is {v:?}"),
    }
}

#[test]
fn threads_never_get_each_others_replies() {
    let mc = Memcached::tcp(&[]);
    let client = Arc::new(PooledClient::new(&mc.addr(), &opts(), PoolOptions::default()).unwrap());
    const THREADS: usize = 8;
    const OPS: usize = 1500;
    const KEYS: usize = 40;
    let checked = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let client = client.clone();
            let checked = checked.clone();
            std::thread::spawn(move || {
                for i in 0..OPS {
                    let k = format!("shared:{}", (i * 7 + t) % KEYS);
                    match i % 5 {
                        0 | 1 => {
                            let v = format!("{k}|t{t}|{i}|{}", "x".repeat(i % 300));
                            assert!(client
                                .set(k.as_bytes(), v.as_bytes(), t as u32, 0, None)
                                .unwrap());
                        }
                        2 => {
                            let keys: Vec<String> = (0..5)
                                .map(|j| format!("shared:{}", (i + j) % KEYS))
                                .collect();
                            let refs: Vec<&[u8]> = keys.iter().map(|s| s.as_bytes()).collect();
                            for (key, item) in keys.iter().zip(client.get_many(&refs).unwrap()) {
                                if let Some(item) = item {
                                    let text = String::from_utf8(item.value).unwrap();
                                    assert!(
                                        text.starts_with(&format!("{key}|")),
                                        "{key} got {text}"
                                    );
                                    checked.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        _ => {
                            if let Some(item) = client.get(k.as_bytes()).unwrap() {
                                let text = String::from_utf8(item.value).unwrap();
                                let writer: u32 =
                                    text.split('|').nth(1).unwrap()[1..].parse().unwrap();
                                assert!(text.starts_with(&format!("{k}|")), "{k} got {text}");
                                assert_eq!(item.flags, writer, "flags belong to the writer");
                                checked.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(checked.load(Ordering::Relaxed) > THREADS * OPS / 4);
    let s = client.pool_stats().unwrap();
    assert_eq!(s.in_use, 0);
    assert!(s.created as usize <= THREADS, "{s:?}");
    assert_eq!(s.destroyed, 0);
}

#[test]
fn pool_never_exceeds_its_maximum() {
    let mc = Memcached::tcp(&[]);
    let pool = PoolOptions {
        max_size: Some(3),
        timeout: Duration::from_secs(30),
        idle_timeout: None,
    };
    let client = Arc::new(PooledClient::new(&mc.addr(), &opts(), pool).unwrap());
    let peak = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            let peak = peak.clone();
            std::thread::spawn(move || {
                for i in 0..400 {
                    let k = format!("k{t}:{i}");
                    client.set(k.as_bytes(), b"v", 0, 0, None).unwrap();
                    assert_eq!(client.get(k.as_bytes()).unwrap().unwrap().value, b"v");
                    let s = client.pool_stats().unwrap();
                    assert!(s.in_use + s.free <= 3, "{s:?}");
                    peak.fetch_max(s.in_use, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = client.pool_stats().unwrap();
    assert_eq!(s.created, 3, "{s:?}");
    assert!(peak.load(Ordering::Relaxed) >= 2);
    // The server sees exactly the pool's connections: closing them drops its
    // count by three.
    let with_pool = curr_connections(&mc.addr());
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = curr_connections(&mc.addr());
    while after > with_pool - 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        after = curr_connections(&mc.addr());
    }
    assert_eq!(
        with_pool - after,
        3,
        "with pool {with_pool}, after closing it {after}"
    );
}

#[test]
fn concurrent_incr_reaches_the_exact_total() {
    let mc = Memcached::tcp(&[]);
    let client = Arc::new(PooledClient::new(&mc.addr(), &opts(), PoolOptions::default()).unwrap());
    client.set(b"counter", b"0", 0, 0, Some(false)).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    client.incr(b"counter", 3, None).unwrap().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let v = client.get(b"counter").unwrap().unwrap().value;
    assert_eq!(v, b"24000");
}

#[test]
fn survives_a_server_restart() {
    let mut mc = Memcached::tcp(&[]);
    let o = ClientOptions {
        connect_timeout: Some(Duration::from_millis(500)),
        ..opts()
    };
    let client = Arc::new(PooledClient::new(&mc.addr(), &o, PoolOptions::default()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let oks = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (client, stop, errors, oks) =
                (client.clone(), stop.clone(), errors.clone(), oks.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let k = format!("r{t}:{i}");
                    match client.set(k.as_bytes(), b"x", 0, 0, None) {
                        Ok(true) => {
                            oks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => panic!("set not stored"),
                        Err(e) => {
                            assert!(e.is_connection_failure(), "unexpected error {e}");
                            errors.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    mc.kill();
    // The outage lasts until the workers have seen it (a busy machine may be
    // slow to schedule them).
    let deadline = Instant::now() + Duration::from_secs(10);
    while errors.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the outage produced no errors");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let errors_in_outage = errors.load(Ordering::Relaxed);
    mc.restart();
    let oks_before = oks.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while oks.load(Ordering::Relaxed) < oks_before + 200 {
        assert!(Instant::now() < deadline, "no progress after restart");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    assert!(errors_in_outage > 0, "the outage produced no errors");
    let s = client.pool_stats().unwrap();
    assert!(s.destroyed > 0, "failed connections are destroyed: {s:?}");
    assert_eq!(
        client.get(b"r0:0").unwrap(),
        None,
        "a restarted server is empty"
    );
    client.set(b"after", b"1", 0, 0, None).unwrap();
    assert_eq!(client.get(b"after").unwrap().unwrap().value, b"1");
}

#[test]
fn idle_connections_are_discarded() {
    let mc = Memcached::tcp(&[]);
    let pool = PoolOptions {
        idle_timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let client = PooledClient::new(&mc.addr(), &opts(), pool).unwrap();
    client.set(b"a", b"1", 0, 0, None).unwrap();
    assert_eq!(client.pool_stats().unwrap().free, 1);
    std::thread::sleep(Duration::from_millis(250));
    client.expire_idle();
    let s = client.pool_stats().unwrap();
    assert_eq!((s.free, s.destroyed), (0, 1), "{s:?}");
    assert_eq!(client.get(b"a").unwrap().unwrap().value, b"1");
    assert_eq!(client.pool_stats().unwrap().created, 2);
}

#[test]
fn exhausted_pool_fails_at_once_by_default() {
    let mc = Memcached::tcp(&[]);
    let o = ClientOptions {
        timeout: Some(Duration::from_millis(1500)),
        ..opts()
    };
    let pool = PoolOptions {
        max_size: Some(1),
        ..Default::default()
    };
    let client = Arc::new(PooledClient::new(&mc.addr(), &o, pool).unwrap());
    client.set(b"k", b"v", 0, 0, None).unwrap();
    mc.pause();
    let c2 = client.clone();
    let holder = std::thread::spawn(move || c2.get(b"k"));
    // Wait until the holder has the only connection (a busy machine may be
    // slow to start the thread).
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.pool_stats().unwrap().in_use == 0 {
        assert!(
            Instant::now() < deadline,
            "the holder never took the connection"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    match client.get(b"k") {
        Err(Error::PoolExhausted { max: 1, .. }) => {}
        other => panic!("expected PoolExhausted, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_millis(100));
    assert!(matches!(holder.join().unwrap(), Err(Error::Timeout { .. })));
    mc.resume();
    assert_eq!(client.get(b"k").unwrap().unwrap().value, b"v");
    let s = client.pool_stats().unwrap();
    assert_eq!((s.created, s.destroyed), (2, 1), "{s:?}");
}

#[test]
fn illegal_input_keeps_the_connection() {
    let mc = Memcached::tcp(&[]);
    let client = PooledClient::new(&mc.addr(), &opts(), PoolOptions::default()).unwrap();
    client.set(b"k", b"v", 0, 0, None).unwrap();
    assert!(matches!(
        client.get(b"bad key"),
        Err(Error::IllegalInput(_))
    ));
    let s = client.pool_stats().unwrap();
    assert_eq!((s.created, s.destroyed, s.free), (1, 0, 1));
}

//! Per-server metrics against real memcached: counts, bytes, connections,
//! errors, hash node states and the Prometheus text.

mod common;
use common::Memcached;
use pymemcache::{
    Client, ClientOptions, HashClient, HashOptions, Memcache, MockClient, PoolOptions, PooledClient,
};
use std::time::Duration;

fn opts() -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        timeout: Some(Duration::from_secs(5)),
        reconnect_backoff: None,
        ..Default::default()
    }
}

/// 10 sets, then 5 hits and 5 misses (5 by `get`, 5 keys in one get_many).
fn workload(c: &dyn Memcache) {
    for i in 0..10 {
        c.set(format!("k{i}").as_bytes(), b"value", 0, 0, None)
            .unwrap();
    }
    for i in 0..5 {
        assert!(c.get(format!("k{i}").as_bytes()).unwrap().is_some());
    }
    let keys: Vec<Vec<u8>> = (0..5).map(|i| format!("nope{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    assert!(c.get_many(&refs).unwrap().iter().all(|i| i.is_none()));
}

#[test]
fn single_client_counts_requests_hits_misses_bytes() {
    let mc = Memcached::tcp(&[]);
    let c = Client::new(&mc.addr(), &opts()).unwrap();
    workload(&c);
    let snap = c.metrics_snapshot();
    assert_eq!(snap.servers.len(), 1);
    let s = &snap.servers[0];
    assert_eq!(s.server, mc.addr());
    assert_eq!(s.requests, 16);
    assert_eq!((s.hits, s.misses), (5, 5));
    assert_eq!(s.connections_opened, 1);
    assert_eq!((s.in_use, s.peak_in_use), (0, 1));
    assert_eq!(s.latency_count(), 16);
    assert!(s.latency_max_us > 0);
    assert!(s.latency_quantile_us(0.5) <= s.latency_quantile_us(0.99));
    // 10 × "set kN 0 0 5\r\nvalue\r\n" (22 bytes) at least.
    assert!(s.bytes_sent >= 220, "{}", s.bytes_sent);
    // 10 × "STORED\r\n" and 5 VALUE blocks at least.
    assert!(s.bytes_received >= 80 + 5 * 25, "{}", s.bytes_received);
    assert_eq!(s.connection_errors + s.timeouts + s.server_errors, 0);
    c.metrics_reset();
    let s = &c.metrics_snapshot().servers[0];
    assert_eq!(
        (s.requests, s.hits, s.bytes_sent, s.latency_count()),
        (0, 0, 0, 0)
    );
}

#[test]
fn metrics_off_counts_nothing() {
    let mc = Memcached::tcp(&[]);
    let o = ClientOptions {
        metrics: false,
        ..opts()
    };
    let c = Client::new(&mc.addr(), &o).unwrap();
    workload(&c);
    assert!(c.metrics_snapshot().servers.is_empty());
}

#[test]
fn errors_are_counted_by_class() {
    let mut mc = Memcached::tcp(&[]);
    let c = Client::new(&mc.addr(), &opts()).unwrap();
    // memcached answers an unknown command with ERROR.
    assert!(c.raw_command(b"bogus_command", b"END").is_err());
    mc.kill();
    assert!(c.get(b"k").is_err());
    assert!(c.get(b"k").is_err());
    let s = &c.metrics_snapshot().servers[0];
    assert_eq!(s.server_errors, 1);
    assert_eq!(s.connection_errors, 2);
    assert_eq!(s.in_use, 0);
}

#[test]
fn pooled_client_shares_one_set_of_metrics() {
    let mc = Memcached::tcp(&[]);
    let c = PooledClient::new(&mc.addr(), &opts(), PoolOptions::default()).unwrap();
    workload(&c);
    let s = &c.metrics_snapshot().servers[0];
    assert_eq!((s.requests, s.hits, s.misses), (16, 5, 5));
    assert_eq!(s.connections_opened, 1);
    assert_eq!(s.in_use, 0);
}

/// The pool counts the connections it lends: the peak under 4 threads is
/// between 1 and 4, none are in use after, and a reset restarts the peak.
#[test]
fn pooled_client_peak_in_use_comes_from_the_pool() {
    let mc = Memcached::tcp(&[]);
    let c = PooledClient::new(&mc.addr(), &opts(), PoolOptions::default()).unwrap();
    c.set(b"k", b"v", 0, 0, None).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    assert!(c.get(b"k").unwrap().is_some());
                }
            });
        }
    });
    let s = &c.metrics_snapshot().servers[0];
    assert_eq!(s.requests, 801);
    assert_eq!(s.in_use, 0);
    assert!((1..=4).contains(&s.peak_in_use), "{}", s.peak_in_use);
    assert_eq!(s.peak_in_use, c.pool_stats().unwrap().created);
    c.metrics_reset();
    let s = &c.metrics_snapshot().servers[0];
    assert_eq!((s.in_use, s.peak_in_use), (0, 0));
    c.get(b"k").unwrap();
    assert_eq!(c.metrics_snapshot().servers[0].peak_in_use, 1);
}

#[test]
fn hash_client_counts_per_node_and_records_states() {
    let a = Memcached::tcp(&[]);
    let mut b = Memcached::tcp(&[]);
    let c = HashClient::new(
        &[&a.addr(), &b.addr()],
        &opts(),
        HashOptions {
            retry_attempts: 0,
            retry_timeout: Duration::from_millis(0),
            dead_timeout: Duration::from_secs(60),
            ..Default::default()
        },
    )
    .unwrap();
    workload(&c);
    let snap = c.metrics_snapshot();
    assert_eq!(snap.servers.len(), 2);
    let total = |f: fn(&pymemcache::ServerSnapshot) -> u64| snap.servers.iter().map(f).sum::<u64>();
    assert_eq!(total(|s| s.hits), 5);
    assert_eq!(total(|s| s.misses), 5);
    assert!(total(|s| s.requests) >= 16);
    b.kill();
    let key = (0..100)
        .map(|i| format!("x{i}"))
        .find(|k| c.server_for_key(k.as_bytes()).unwrap() == b.addr())
        .unwrap();
    assert!(c.get(key.as_bytes()).is_err());
    let snap = c.metrics_snapshot();
    let sb = snap.servers.iter().find(|s| s.server == b.addr()).unwrap();
    assert_eq!(sb.state, pymemcache::metrics::STATE_DEAD);
    assert!(sb.state_changes >= 1);
    assert!(sb.connection_errors >= 1);
}

#[test]
fn mock_and_prometheus() {
    let c = MockClient::new(&opts()).unwrap();
    workload(&c);
    let snap = c.metrics_snapshot();
    let s = &snap.servers[0];
    assert_eq!((s.hits, s.misses), (5, 5));
    let text = snap.prometheus();
    let line = format!("pymemcache_hits_total{{server=\"{}\"}} 5\n", s.server);
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("# TYPE pymemcache_request_duration_seconds histogram"));
}

/// Single-key gets from 4 threads over 3 servers, one of them killed
/// midway and restarted: for every server, requests = hits + misses +
/// errors, and the hits are exactly the keys that were stored there.
#[test]
fn counters_add_up_for_gets_under_faults() {
    let mut ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let addrs: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let refs: Vec<&str> = addrs.iter().map(|a| a.as_str()).collect();
    let hash = HashOptions {
        retry_timeout: Duration::from_millis(20),
        ..Default::default()
    };
    let o = ClientOptions {
        timeout: Some(Duration::from_millis(500)),
        ..opts()
    };
    let c = HashClient::new(&refs, &o, hash).unwrap();
    for i in 0..50 {
        c.set(format!("k{i}").as_bytes(), b"v", 0, 0, None).unwrap();
    }
    c.metrics_reset();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|sc| {
        for t in 0..4 {
            let (c, stop) = (&c, &stop);
            sc.spawn(move || {
                let mut i = t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // k0..k49 stored, k50..k99 never.
                    if let Ok(Some(v)) = c.get(format!("k{}", i % 100).as_bytes()) {
                        assert_eq!(v.value, b"v");
                    }
                    i += 4;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(200));
        ms[0].kill();
        std::thread::sleep(Duration::from_millis(200));
        ms[0].restart();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let snap = c.metrics_snapshot();
    for s in &snap.servers {
        let errors = s.timeouts + s.connection_errors + s.server_errors + s.protocol_errors;
        println!(
            "{}: requests {} = hits {} + misses {} + errors {}",
            s.server, s.requests, s.hits, s.misses, errors
        );
        assert!(s.requests > 0);
        assert_eq!(s.requests, s.hits + s.misses + errors, "{s:?}");
        assert_eq!(s.latency_count(), s.requests, "{s:?}");
        assert_eq!(s.in_use, 0);
    }
    let killed = snap.servers.iter().find(|s| s.server == addrs[0]).unwrap();
    assert!(killed.connection_errors > 0, "{killed:?}");
    assert!(killed.state_changes >= 1, "{killed:?}");
}

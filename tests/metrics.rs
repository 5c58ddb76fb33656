//! Per-server metrics against real memcached: counts, bytes, connections,
//! errors, hash node states and the Prometheus text.

mod common;
use common::Memcached;
use pymemcache::{
    Batch, Client, ClientOptions, Error, HashClient, HashOptions, Memcache, MetaCmd, MockClient,
    OpStatus, PoolOptions, PooledClient, ServerSnapshot,
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

/// Requests that are gets only: every one a hit, a miss or an error.
fn assert_adds_up(s: &ServerSnapshot) {
    let errors = s.timeouts + s.connection_errors + s.server_errors + s.protocol_errors;
    assert_eq!(s.requests, s.hits + s.misses + errors, "{s:?}");
}

/// A meta batch of gets: each command is a request, a hit or a miss.
#[test]
fn batch_gets_count_hits_and_misses_per_command() {
    let mc = Memcached::tcp(&[]);
    let c = Client::new(&mc.addr(), &opts()).unwrap();
    for i in 0..3 {
        c.set(format!("b{i}").as_bytes(), b"v", 0, 0, None).unwrap();
    }
    c.metrics_reset();
    let mut b = Batch::new();
    for i in 0..5 {
        b.get(format!("b{i}").as_bytes());
    }
    b.get_or_lock(b"lease", 30, 0);
    c.execute(&mut b).unwrap();
    let statuses: Vec<OpStatus> = b.results().iter().map(|r| r.status).collect();
    assert_eq!(
        &statuses[..5],
        &[
            OpStatus::Ok,
            OpStatus::Ok,
            OpStatus::Ok,
            OpStatus::Miss,
            OpStatus::Miss
        ]
    );
    let s = &c.metrics_snapshot().servers[0];
    // 3 hits; 2 misses and the lease won on a missing item.
    assert_eq!((s.requests, s.hits, s.misses), (6, 3, 3));
    assert_eq!(s.latency_count(), 6);
    assert_adds_up(s);
}

/// A batch over a hash client with one node killed: per node, requests =
/// hits + misses + errors, the dead node's commands all errors.
#[test]
fn hash_batch_counts_add_up_with_a_dead_node() {
    let a = Memcached::tcp(&[]);
    let mut b = Memcached::tcp(&[]);
    let c = HashClient::new(
        &[&a.addr(), &b.addr()],
        &opts(),
        HashOptions {
            retry_attempts: 5,
            retry_timeout: Duration::from_millis(0),
            ..Default::default()
        },
    )
    .unwrap();
    let keys: Vec<String> = (0..40).map(|i| format!("hb{i}")).collect();
    for k in keys.iter().step_by(2) {
        c.set(k.as_bytes(), b"v", 0, 0, None).unwrap();
    }
    c.metrics_reset();
    let run = |c: &HashClient| {
        let mut batch = Batch::new();
        for k in &keys {
            batch.get(k.as_bytes());
        }
        c.execute(&mut batch).unwrap();
        batch
    };
    run(&c);
    let snap = c.metrics_snapshot();
    assert_eq!(snap.servers.iter().map(|s| s.requests).sum::<u64>(), 40);
    assert_eq!(snap.servers.iter().map(|s| s.hits).sum::<u64>(), 20);
    snap.servers.iter().for_each(assert_adds_up);
    b.kill();
    let batch = run(&c);
    let on_b = keys
        .iter()
        .filter(|k| c.server_for_key(k.as_bytes()).unwrap() == b.addr())
        .count() as u64;
    let failed = batch
        .results()
        .iter()
        .filter(|r| r.status == OpStatus::Failed)
        .count() as u64;
    assert_eq!(failed, on_b);
    let snap = c.metrics_snapshot();
    snap.servers.iter().for_each(assert_adds_up);
    let sb = snap.servers.iter().find(|s| s.server == b.addr()).unwrap();
    assert_eq!(sb.connection_errors, on_b);
}

/// A pool that has no connection to lend: the get is a request and a
/// timeout on that server, of 0 µs on a connection.
#[test]
fn exhausted_pool_counts_a_request_and_a_timeout() {
    let mc = Memcached::tcp(&[]);
    let o = ClientOptions {
        timeout: Some(Duration::from_millis(1500)),
        ..opts()
    };
    let pool = PoolOptions {
        max_size: Some(1),
        ..Default::default()
    };
    let client = std::sync::Arc::new(PooledClient::new(&mc.addr(), &o, pool).unwrap());
    client.set(b"k", b"v", 0, 0, None).unwrap();
    client.metrics_reset();
    mc.pause();
    let c2 = client.clone();
    let holder = std::thread::spawn(move || c2.get(b"k"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while client.pool_stats().unwrap().in_use == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder never took the connection"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(client.metrics_snapshot().servers[0].in_use, 1);
    assert!(matches!(client.get(b"k"), Err(Error::PoolExhausted { .. })));
    assert!(matches!(holder.join().unwrap(), Err(Error::Timeout { .. })));
    mc.resume();
    let s = &client.metrics_snapshot().servers[0];
    // The holder's timeout and the exhausted pool.
    assert_eq!((s.requests, s.timeouts, s.latency_count()), (2, 2, 2));
    // The holder's call waited for the server; the other got no connection.
    assert_eq!(s.latency_buckets[0], 1);
    assert!(s.latency_max_us >= 1_000_000, "{s:?}");
    assert_eq!((s.in_use, s.peak_in_use), (0, 1));
    assert_adds_up(s);
}

/// The mock counts its meta-only commands (stampede reads, invalidations,
/// generic meta commands, in a batch or by the named calls) as a real
/// client does: each a request, and a hit, a miss or an error.
#[test]
fn mock_counts_meta_only_commands_like_a_real_client() {
    fn meta_workload(c: &dyn Memcache) -> ServerSnapshot {
        c.set(b"m:a", b"v", 0, 0, None).unwrap();
        c.metrics_reset();
        let mut b = Batch::new();
        b.get_or_lock(b"m:a", 30, 0);
        b.get_or_lock(b"m:none", 30, 0);
        b.invalidate(b"m:a", 30);
        b.meta(MetaCmd::Get, b"m:a", b"v", b"");
        b.meta(MetaCmd::Get, b"m:zz", b"v", b"");
        b.meta(MetaCmd::Get, b"m:a", b"v O5", b"");
        c.execute(&mut b).unwrap();
        assert_eq!(b.result(5).status, OpStatus::Failed);
        c.get_or_lock(b"m:none2", 30, 0).unwrap();
        assert!(c.invalidate(b"m:a", 30).unwrap());
        c.metrics_snapshot().servers.remove(0)
    }
    let mc = Memcached::tcp(&[]);
    let real = meta_workload(&Client::new(&mc.addr(), &opts()).unwrap());
    let mock = meta_workload(&MockClient::new(&opts()).unwrap());
    let counts = |s: &ServerSnapshot| {
        let errors = s.timeouts + s.connection_errors + s.server_errors + s.protocol_errors;
        (s.requests, s.hits, s.misses, errors, s.latency_count())
    };
    // 8 requests: 2 hits (the lease on a fresh item, the mg), 3 misses.
    assert_eq!(counts(&mock), (8, 2, 3, 0, 8), "{mock:?}");
    assert_eq!(counts(&mock), counts(&real), "{real:?}");
}

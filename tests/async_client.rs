//! The non-blocking client (issue 20) against real memcached processes,
//! driven by a poll(2) loop on the test's thread: ordering, per-operation
//! timeouts, a server killed with operations in flight, cancellation,
//! connect timeouts, large values, batches and hash placement.

mod common;
use common::{scripted_peer, Memcached};
use pymemcache::nonblocking::{WANT_READ, WANT_WRITE};
use pymemcache::{
    AsyncClient, Batch, ClientOptions, Completion, Error, HashClient, HashOptions, Memcache,
    OpStatus, Outcome, ServerAddr, ServerSnapshot,
};
use std::time::{Duration, Instant};

fn addrs(ms: &[&Memcached]) -> Vec<ServerAddr> {
    ms.iter()
        .map(|m| ServerAddr::parse(&m.addr()).unwrap())
        .collect()
}

fn opts() -> ClientOptions {
    ClientOptions {
        connect_timeout: Some(Duration::from_secs(2)),
        timeout: Some(Duration::from_secs(5)),
        no_delay: true,
        ..Default::default()
    }
}

/// Run the event loop with poll(2) until `pending()` is 0 (or `limit`
/// passes: a hang fails the test); return every completion in order.
fn drive(c: &mut AsyncClient, limit: Duration) -> Vec<Completion> {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    let mut ws = Vec::new();
    while c.pending() > 0 {
        assert!(
            Instant::now() < end,
            "{} operations still pending",
            c.pending()
        );
        c.watches(&mut ws);
        let mut fds: Vec<libc::pollfd> = ws
            .iter()
            .map(|w| libc::pollfd {
                fd: w.fd,
                events: (if w.events & WANT_READ != 0 {
                    libc::POLLIN
                } else {
                    0
                }) | (if w.events & WANT_WRITE != 0 {
                    libc::POLLOUT
                } else {
                    0
                }),
                revents: 0,
            })
            .collect();
        let wait = c.timeout().map_or(100, |t| t.as_millis().min(100) as i32);
        // SAFETY: `fds` is a live array of `fds.len()` pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
        assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
        let mut stepped = false;
        for p in &fds {
            if p.revents != 0 {
                let mut ev = 0;
                if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    ev |= WANT_READ;
                }
                if p.revents & (libc::POLLOUT | libc::POLLHUP | libc::POLLERR) != 0 {
                    ev |= WANT_WRITE;
                }
                c.step(Some(p.fd), ev);
                stepped = true;
            }
        }
        if !stepped {
            c.step(None, 0);
        }
        while let Some(x) = c.next_completion() {
            out.push(x);
        }
    }
    while let Some(x) = c.next_completion() {
        out.push(x);
    }
    out
}

fn value_of(i: u64) -> Vec<u8> {
    format!("value-{i}-{}", "x".repeat((i % 50) as usize)).into_bytes()
}

/// Two memcached servers and an async client over both.
fn two_servers() -> (Memcached, Memcached, Vec<ServerAddr>, AsyncClient) {
    let (a, b) = (Memcached::tcp(&[]), Memcached::tcp(&[]));
    let servers = addrs(&[&a, &b]);
    let c = AsyncClient::new(&servers, &opts()).unwrap();
    (a, b, servers, c)
}

/// Set `t0`..`t99` to "v" (connecting every server), every set stored.
fn set_t_keys(c: &mut AsyncClient) {
    for i in 0..100u64 {
        c.submit_set(format!("t{i}").as_bytes(), b"v", 0, 0, i, None)
            .unwrap();
    }
    assert!(drive(c, Duration::from_secs(10))
        .iter()
        .all(|x| matches!(x.result, Ok(Outcome::Stored))));
}

/// A batch over keys on both of two servers: sets of `b0`..`b39` (flags 3,
/// `value_of`), gets of them (commands 40..80), then a get (80) and a
/// delete (81) of a missing key and a get of an illegal key (82).
fn two_server_batch() -> Batch {
    let mut batch = Batch::new();
    for i in 0..40u64 {
        batch.set(format!("b{i}").as_bytes(), &value_of(i), 3, 0);
    }
    for i in 0..40u64 {
        batch.get(format!("b{i}").as_bytes());
    }
    batch.get(b"nothing-here");
    batch.delete(b"nothing-here");
    batch.get(b"bad key");
    batch
}

#[test]
fn a_thousand_mixed_operations_complete_in_order_by_token() {
    let m = Memcached::tcp(&[]);
    let mut c = AsyncClient::new(&addrs(&[&m]), &opts()).unwrap();
    // 400 sets, then 400 gets of them and 100 of missing keys, 100 deletes.
    let mut want: Vec<(u64, &str)> = Vec::new();
    for i in 0..400u64 {
        c.submit_set(
            format!("k{i}").as_bytes(),
            &value_of(i),
            i as u32,
            0,
            i,
            None,
        )
        .unwrap();
        want.push((i, "stored"));
    }
    for i in 0..400u64 {
        c.submit_get(format!("k{i}").as_bytes(), 1000 + i, None)
            .unwrap();
        want.push((1000 + i, "hit"));
    }
    for i in 0..100u64 {
        c.submit_get(format!("missing{i}").as_bytes(), 2000 + i, None)
            .unwrap();
        want.push((2000 + i, "miss"));
        let (key, tok, what) = if i % 2 == 0 {
            (format!("k{i}"), 3000 + i, "deleted")
        } else {
            (format!("missing{i}"), 3000 + i, "not found")
        };
        c.submit_delete(key.as_bytes(), tok, None).unwrap();
        want.push((tok, what));
    }
    assert_eq!(c.pending(), 1000);
    let done = drive(&mut c, Duration::from_secs(20));
    assert_eq!(done.len(), 1000);
    assert_eq!(c.pending(), 0);
    // One server: completions come in submission order.
    for (got, (tok, what)) in done.iter().zip(&want) {
        assert_eq!(got.token, *tok);
        match (got.result.as_ref().unwrap(), *what) {
            (Outcome::Stored, "stored") => {}
            (Outcome::Value { value, flags }, "hit") => {
                let i = tok - 1000;
                assert_eq!(value, &value_of(i), "token {tok}");
                assert_eq!(*flags, i as u32);
            }
            (Outcome::Miss, "miss") | (Outcome::Deleted, "deleted") => {}
            (Outcome::NotFound, "not found") => {}
            (other, what) => panic!("token {tok}: {other:?}, wanted {what}"),
        }
    }
}

#[test]
fn illegal_keys_are_refused_at_submit_and_nothing_is_queued() {
    let m = Memcached::tcp(&[]);
    let mut c = AsyncClient::new(&addrs(&[&m]), &opts()).unwrap();
    assert!(matches!(
        c.submit_get(b"has space", 1, None),
        Err(Error::IllegalInput(_))
    ));
    assert!(matches!(
        c.submit_set(b"", b"v", 0, 0, 2, None),
        Err(Error::IllegalInput(_))
    ));
    assert!(matches!(
        c.submit_set(b"k", b"v", 0, 1 << 40, 3, None),
        Err(Error::IllegalInput(_))
    ));
    assert_eq!(c.pending(), 0);
    assert_eq!(c.watch_iter().count(), 0, "nothing connected");
    assert_eq!(c.timeout(), None);
}

#[test]
fn a_stopped_server_times_out_its_operations_while_the_other_completes() {
    let (a, b, servers, mut c) = two_servers();
    // Connect both and store a value on each key first.
    set_t_keys(&mut c);
    let hash = HashClient::new(
        &[a.addr().as_str(), b.addr().as_str()],
        &opts(),
        HashOptions::default(),
    )
    .unwrap();
    let on_b: Vec<bool> = (0..100)
        .map(|i| hash.server_for(format!("t{i}").as_bytes()).unwrap() == servers[1].node_name())
        .collect();
    assert!(on_b.iter().any(|&x| x) && on_b.iter().any(|&x| !x));
    b.pause();
    let started = Instant::now();
    for i in 0..100u64 {
        c.submit_get(
            format!("t{i}").as_bytes(),
            i,
            Some(Duration::from_millis(300)),
        )
        .unwrap();
    }
    let done = drive(&mut c, Duration::from_secs(10));
    let elapsed = started.elapsed();
    assert_eq!(done.len(), 100);
    let mut fast = 0;
    for x in &done {
        let i = x.token as usize;
        if on_b[i] {
            assert!(
                matches!(x.result, Err(Error::Timeout { .. })),
                "{i}: {:?}",
                x.result
            );
        } else {
            assert!(matches!(&x.result, Ok(Outcome::Value { value, .. }) if value == b"v"));
            fast += 1;
        }
    }
    // The live server's replies came first, without waiting for the timeouts.
    assert!(done[..fast].iter().all(|x| !on_b[x.token as usize]));
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    // The hung connection was closed; after the server thaws, a new
    // operation reconnects and succeeds.
    b.resume();
    let k = (0..100).find(|&i| on_b[i]).unwrap();
    c.submit_get(format!("t{k}").as_bytes(), 7, None).unwrap();
    let done = drive(&mut c, Duration::from_secs(10));
    assert!(matches!(&done[0].result, Ok(Outcome::Value { value, .. }) if value == b"v"));
}

#[test]
fn a_killed_server_fails_every_operation_in_flight_once_then_restarts() {
    let mut m = Memcached::tcp(&[]);
    let mut c = AsyncClient::new(&addrs(&[&m]), &opts()).unwrap();
    for i in 0..200u64 {
        c.submit_set(format!("k{i}").as_bytes(), &value_of(i), 0, 0, i, None)
            .unwrap();
    }
    drive(&mut c, Duration::from_secs(10));
    // 2,000 gets on one connection: the first 200 answered, then the server
    // is stopped (so it cannot answer the rest before it dies), 1,800 more
    // are written, and it is killed with them in flight.
    let submit = |c: &mut AsyncClient, round: u64| {
        for i in 0..200u64 {
            c.submit_get(format!("k{i}").as_bytes(), round * 1000 + i, None)
                .unwrap();
        }
    };
    submit(&mut c, 0);
    let mut done = drive(&mut c, Duration::from_secs(10));
    m.pause();
    for round in 1..10u64 {
        submit(&mut c, round);
    }
    c.step(None, WANT_READ | WANT_WRITE);
    m.kill();
    done.extend(drive(&mut c, Duration::from_secs(10)));
    assert_eq!(done.len(), 2000, "every operation completes once");
    let mut seen = std::collections::HashSet::new();
    let mut errors = 0;
    for x in &done {
        assert!(seen.insert(x.token), "token {} delivered twice", x.token);
        match &x.result {
            Ok(Outcome::Value { value, .. }) => {
                assert_eq!(value, &value_of(x.token % 1000), "token {}", x.token)
            }
            Err(e) => {
                assert!(e.is_connection_failure(), "{e}");
                errors += 1;
            }
            Ok(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(errors, 1800, "every get in flight at the kill fails");
    assert_eq!(c.pending(), 0);
    // While it is down: a connection error, at once.
    c.submit_get(b"k1", 1, None).unwrap();
    let done = drive(&mut c, Duration::from_secs(5));
    assert!(done[0].result.as_ref().unwrap_err().is_connection_failure());
    m.restart();
    c.submit_set(b"again", b"yes", 0, 0, 2, None).unwrap();
    c.submit_get(b"again", 3, None).unwrap();
    let done = drive(&mut c, Duration::from_secs(5));
    assert!(matches!(done[0].result, Ok(Outcome::Stored)));
    assert!(matches!(&done[1].result, Ok(Outcome::Value { value, .. }) if value == b"yes"));
}

#[test]
fn cancelled_operations_deliver_nothing_and_later_replies_stay_matched() {
    let m = Memcached::tcp(&[]);
    let mut c = AsyncClient::new(&addrs(&[&m]), &opts()).unwrap();
    for i in 0..50u64 {
        c.submit_set(format!("c{i}").as_bytes(), &value_of(i), 0, 0, i, None)
            .unwrap();
    }
    drive(&mut c, Duration::from_secs(10));
    for i in 0..50u64 {
        c.submit_get(format!("c{i}").as_bytes(), i, None).unwrap();
    }
    // Cancel every third one (some before sending, some after).
    c.step(None, WANT_WRITE);
    let mut cancelled = 0;
    for i in (0..50u64).step_by(3) {
        cancelled += c.cancel(i);
    }
    assert_eq!(cancelled, 17);
    assert_eq!(c.cancel(1000), 0);
    assert_eq!(c.pending(), 50 - 17);
    let done = drive(&mut c, Duration::from_secs(10));
    assert_eq!(done.len(), 33);
    for x in &done {
        assert_ne!(x.token % 3, 0);
        assert!(
            matches!(&x.result, Ok(Outcome::Value { value, .. }) if *value == value_of(x.token))
        );
    }
    // Duplicate tokens: one cancel takes them all.
    c.submit_get(b"c1", 77, None).unwrap();
    c.submit_get(b"c2", 77, None).unwrap();
    c.submit_get(b"c4", 78, None).unwrap();
    assert_eq!(c.cancel(77), 2);
    let done = drive(&mut c, Duration::from_secs(10));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].token, 78);
    // A completion made but not yet taken is cancelled too.
    c.submit_get(b"c1", 79, None).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while c.ready() == 0 {
        assert!(Instant::now() < end);
        c.step(None, WANT_READ | WANT_WRITE);
    }
    assert_eq!(c.pending(), 0);
    assert_eq!(c.cancel(79), 1);
    assert!(c.next_completion().is_none());
}

/// A TCP port where connects hang: a listener that never accepts, with its
/// accept queue filled, drops further SYNs.
fn blackhole() -> (socket2::Socket, Vec<std::net::TcpStream>, String) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    for _ in 0..4 {
        if let Ok(t) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fill.push(t);
        }
    }
    (s, fill, addr.to_string())
}

#[test]
fn a_connect_that_hangs_times_out_per_connect_timeout() {
    let (_listener, _fill, addr) = blackhole();
    let o = ClientOptions {
        connect_timeout: Some(Duration::from_millis(200)),
        timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    };
    let mut c = AsyncClient::new(&[ServerAddr::parse(&addr).unwrap()], &o).unwrap();
    let started = Instant::now();
    c.submit_get(b"k", 1, None).unwrap();
    c.submit_get(b"j", 2, None).unwrap();
    let w: Vec<_> = c.watch_iter().collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].events, WANT_WRITE, "connecting: wait for writable");
    let done = drive(&mut c, Duration::from_secs(5));
    let elapsed = started.elapsed();
    assert_eq!(done.len(), 2);
    for x in &done {
        match &x.result {
            Err(Error::Timeout { text, .. }) => assert!(text.contains("connect"), "{text}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_refused_connect_fails_its_operations() {
    let mut m = Memcached::tcp(&[]);
    let addr = addrs(&[&m]);
    m.kill();
    let mut c = AsyncClient::new(&addr, &opts()).unwrap();
    c.submit_get(b"k", 1, None).unwrap();
    c.submit_set(b"k", b"v", 0, 0, 2, None).unwrap();
    let done = drive(&mut c, Duration::from_secs(5));
    assert_eq!(done.len(), 2);
    assert!(done
        .iter()
        .all(|x| matches!(x.result, Err(Error::Io { .. }))));
}

#[test]
fn megabyte_values_round_trip() {
    let m = Memcached::tcp(&["-I", "4m", "-m", "256"]);
    let mut c = AsyncClient::new(&addrs(&[&m]), &opts()).unwrap();
    let big = |i: u64| -> Vec<u8> { (0..1 << 20).map(|j| (j as u64 * 7 + i) as u8).collect() };
    for i in 0..4u64 {
        c.submit_set(format!("big{i}").as_bytes(), &big(i), 0, 0, i, None)
            .unwrap();
    }
    for i in 0..4u64 {
        c.submit_get(format!("big{i}").as_bytes(), 10 + i, None)
            .unwrap();
    }
    let done = drive(&mut c, Duration::from_secs(20));
    assert_eq!(done.len(), 8);
    for x in &done[4..] {
        match &x.result {
            Ok(Outcome::Value { value, .. }) => assert!(*value == big(x.token - 10)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_batch_over_two_servers_runs_like_execute() {
    let (_a, _b, _servers, mut c) = two_servers();
    let mut batch = two_server_batch();
    batch.delete(b"b0");
    c.submit_batch(batch, 42, None).unwrap();
    c.submit_get(b"alone", 43, None).unwrap();
    let mut done = drive(&mut c, Duration::from_secs(10));
    assert_eq!(done.len(), 2);
    done.sort_by_key(|x| x.token);
    let Ok(Outcome::Batch { batch, .. }) = &done[0].result else {
        panic!("{:?}", done[0].result)
    };
    for i in 0..40 {
        assert_eq!(batch.result(i).status, OpStatus::Ok);
        assert_eq!(batch.result(40 + i).status, OpStatus::Ok);
        assert_eq!(batch.result_value(40 + i), value_of(i as u64));
        assert_eq!(batch.result(40 + i).flags, 3);
    }
    assert_eq!(batch.result(80).status, OpStatus::Miss);
    assert_eq!(batch.result(81).status, OpStatus::NotFound);
    assert_eq!(batch.result(82).status, OpStatus::Failed);
    assert_eq!(batch.result(83).status, OpStatus::Ok);
    assert!(matches!(done[1].result, Ok(Outcome::Miss)));
}

#[test]
fn keys_are_placed_as_the_hash_client_places_them() {
    let ms = [
        Memcached::tcp(&[]),
        Memcached::tcp(&[]),
        Memcached::tcp(&[]),
    ];
    let refs: Vec<&Memcached> = ms.iter().collect();
    let mut c = AsyncClient::new(&addrs(&refs), &opts()).unwrap();
    for i in 0..300u64 {
        c.submit_set(format!("h{i}").as_bytes(), &value_of(i), 0, 0, i, None)
            .unwrap();
    }
    assert_eq!(drive(&mut c, Duration::from_secs(10)).len(), 300);
    let names: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let hash = HashClient::new(&names, &opts(), HashOptions::default()).unwrap();
    let keys: Vec<String> = (0..300).map(|i| format!("h{i}")).collect();
    let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let got = hash.get_many(&keys).unwrap();
    for (i, item) in got.iter().enumerate() {
        let item = item
            .as_ref()
            .expect("every key where the hash client looks");
        assert_eq!(item.value, value_of(i as u64));
    }
    // And each server holds a share.
    for m in &ms {
        let single = pymemcache::Client::new(&m.addr(), &opts()).unwrap();
        let n = single.get_many(&keys).unwrap().iter().flatten().count();
        assert!(n > 50, "{} holds {n}", m.addr());
    }
}

#[test]
fn operation_timeouts_are_reported_by_timeout() {
    let m = Memcached::tcp(&[]);
    let o = ClientOptions {
        timeout: Some(Duration::from_millis(700)),
        ..opts()
    };
    let mut c = AsyncClient::new(&addrs(&[&m]), &o).unwrap();
    assert_eq!(c.timeout(), None);
    c.submit_get(b"k", 1, None).unwrap();
    let t = c.timeout().unwrap();
    assert!(
        t <= Duration::from_millis(700) && t > Duration::from_millis(500),
        "{t:?}"
    );
    c.submit_get(b"k", 2, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(c.timeout().unwrap() <= Duration::from_millis(100));
    drive(&mut c, Duration::from_secs(5));
    assert_eq!(c.timeout(), None);
}

/// A batch whose commands are all refused before sending completes at
/// submit, with no descriptor to watch: `timeout` says "step now" until the
/// completion is taken, so a loop that waits on watches + timeout wakes.
#[test]
fn a_completion_waiting_to_be_taken_makes_timeout_zero() {
    let m = Memcached::tcp(&[]);
    let mut c = AsyncClient::new(&addrs(&[&m]), &opts()).unwrap();
    let mut batch = Batch::new();
    batch.get(b"bad key");
    batch.get(b"another bad key");
    c.submit_batch(batch, 7, None).unwrap();
    assert_eq!(c.watch_iter().count(), 0);
    assert_eq!(c.timeout(), Some(Duration::ZERO));
    let done = c.next_completion().expect("completed at submit");
    assert_eq!(done.token, 7);
    let Ok(Outcome::Batch { batch, .. }) = &done.result else {
        panic!("{:?}", done.result)
    };
    assert_eq!(batch.result(0).status, OpStatus::Failed);
    assert_eq!(batch.result(1).status, OpStatus::Failed);
    assert_eq!(c.timeout(), None);
}

#[test]
fn an_unparsable_reply_fails_the_operation_and_closes_the_connection() {
    let addr = scripted_peer(b"GARBAGE\r\n");
    let mut c = AsyncClient::new(&[ServerAddr::parse(&addr).unwrap()], &opts()).unwrap();
    c.submit_get(b"a", 1, None).unwrap();
    c.submit_get(b"b", 2, None).unwrap();
    let done = drive(&mut c, Duration::from_secs(5));
    assert_eq!(done.len(), 2);
    for x in &done {
        assert!(
            matches!(x.result, Err(Error::UnknownError { .. })),
            "{:?}",
            x.result
        );
    }
    assert_eq!(c.watch_iter().count(), 0, "the broken connection is closed");
    // The next operation reconnects (and meets the same peer).
    c.submit_get(b"c", 3, None).unwrap();
    assert_eq!(drive(&mut c, Duration::from_secs(5)).len(), 1);
}

#[test]
fn a_value_over_max_value_len_is_refused_both_ways() {
    let addr = scripted_peer(b"VALUE k 0 5000\r\n");
    let o = ClientOptions {
        max_value_len: 1000,
        ..opts()
    };
    let mut c = AsyncClient::new(&[ServerAddr::parse(&addr).unwrap()], &o).unwrap();
    assert!(matches!(
        c.submit_set(b"k", &[0u8; 1001], 0, 0, 1, None),
        Err(Error::TooLarge { .. })
    ));
    c.submit_get(b"k", 2, None).unwrap();
    let done = drive(&mut c, Duration::from_secs(5));
    assert!(matches!(done[0].result, Err(Error::TooLarge { .. })));
}

/// The one server snapshot of `c`'s metrics for `server`.
fn snap_of(c: &AsyncClient, server: &ServerAddr) -> ServerSnapshot {
    let s = c.metrics_snapshot();
    s.servers
        .into_iter()
        .find(|s| s.server == server.to_string())
        .expect("the server's metrics")
}

/// One memcached server and an async client over it, with `{prefix}0` ..
/// `{prefix}99` set to `value_of(i)`.
fn one_server_with_values(prefix: &str) -> (Memcached, Vec<ServerAddr>, AsyncClient) {
    let m = Memcached::tcp(&[]);
    let servers = addrs(&[&m]);
    let mut c = AsyncClient::new(&servers, &opts()).unwrap();
    for i in 0..100u64 {
        c.submit_set(
            format!("{prefix}{i}").as_bytes(),
            &value_of(i),
            0,
            0,
            i,
            None,
        )
        .unwrap();
    }
    drive(&mut c, Duration::from_secs(10));
    (m, servers, c)
}

/// Every error counted, whatever its class.
fn errors(s: &ServerSnapshot) -> u64 {
    s.timeouts + s.connection_errors + s.server_errors + s.protocol_errors
}

#[test]
fn metrics_count_each_operation_its_hit_or_miss_bytes_and_latency() {
    let (_m, servers, mut c) = one_server_with_values("m");
    for i in 0..1000u64 {
        c.submit_get(format!("m{}", i % 200).as_bytes(), i, None)
            .unwrap();
    }
    assert_eq!(snap_of(&c, &servers[0]).in_use, 1, "gets in flight");
    let done = drive(&mut c, Duration::from_secs(10));
    let hits = done
        .iter()
        .filter(|x| matches!(x.result, Ok(Outcome::Value { .. })))
        .count() as u64;
    assert_eq!(hits, 500);
    let s = snap_of(&c, &servers[0]);
    assert_eq!(s.requests, 1100);
    assert_eq!(s.latency_count(), 1100);
    assert_eq!((s.hits, s.misses, errors(&s)), (500, 500, 0));
    assert_eq!(s.connections_opened, 1);
    assert_eq!((s.in_use, s.peak_in_use), (0, 1));
    let value_bytes: u64 = (0..100).map(|i| value_of(i).len() as u64).sum();
    assert!(s.bytes_sent > value_bytes, "{}", s.bytes_sent);
    assert!(s.bytes_received > 5 * value_bytes, "{}", s.bytes_received);
    assert!(s.latency_max_us > 0 && s.latency_sum_us >= s.latency_max_us);
    assert!(c.metrics_snapshot().prometheus().contains(&format!(
        "pymemcache_hits_total{{server=\"{}\"}} 500\n",
        servers[0]
    )));
    c.metrics_reset();
    let s = snap_of(&c, &servers[0]);
    assert_eq!(
        (s.requests, s.hits, s.misses, s.bytes_sent, s.peak_in_use),
        (0, 0, 0, 0, 0)
    );
    // Cancelled operations are counted neither as requests nor as errors.
    for i in 0..10u64 {
        c.submit_get(b"m1", i % 2, None).unwrap();
    }
    assert_eq!(c.cancel(0), 5);
    drive(&mut c, Duration::from_secs(10));
    let s = snap_of(&c, &servers[0]);
    assert_eq!((s.requests, s.hits, errors(&s)), (5, 5, 0));
    // Metrics off: nothing kept.
    let off = ClientOptions {
        metrics: false,
        ..opts()
    };
    let mut c = AsyncClient::new(&servers, &off).unwrap();
    c.submit_get(b"m1", 1, None).unwrap();
    drive(&mut c, Duration::from_secs(10));
    assert!(c.metrics_snapshot().servers.is_empty());
}

#[test]
fn metrics_of_a_killed_server_count_every_get_once() {
    let (mut m, servers, mut c) = one_server_with_values("k");
    c.metrics_reset();
    // 200 gets answered, then the server stopped (it cannot answer the
    // rest before it dies) and killed with 1,800 more in flight.
    for i in 0..2000u64 {
        if i == 200 {
            drive(&mut c, Duration::from_secs(10));
            m.pause();
        }
        c.submit_get(format!("k{}", i % 200).as_bytes(), i, None)
            .unwrap();
    }
    c.step(None, WANT_READ | WANT_WRITE);
    m.kill();
    let done = drive(&mut c, Duration::from_secs(10));
    let failed = done.iter().filter(|x| x.result.is_err()).count() as u64;
    assert_eq!(
        (done.len(), failed),
        (1800, 1800),
        "every get in flight fails"
    );
    // While it is down: refused at once.
    c.submit_get(b"k1", 1, None).unwrap();
    drive(&mut c, Duration::from_secs(5));
    let s = snap_of(&c, &servers[0]);
    assert_eq!(s.requests, 2001);
    assert_eq!(s.hits + s.misses + errors(&s), s.requests, "{s:?}");
    assert_eq!(s.connection_errors, failed + 1, "{s:?}");
    assert_eq!(s.hits + s.misses, 2000 - failed);
}

#[test]
fn metrics_count_timeouts_of_a_hung_server_and_of_a_connect() {
    let (_a, b, servers, mut c) = two_servers();
    set_t_keys(&mut c);
    c.metrics_reset();
    b.pause();
    for i in 0..200u64 {
        c.submit_get(
            format!("t{i}").as_bytes(),
            i,
            Some(Duration::from_millis(300)),
        )
        .unwrap();
    }
    drive(&mut c, Duration::from_secs(10));
    b.resume();
    let (sa, sb) = (snap_of(&c, &servers[0]), snap_of(&c, &servers[1]));
    assert_eq!(sa.requests + sb.requests, 200);
    assert_eq!((sa.hits + sa.misses, errors(&sa)), (sa.requests, 0));
    assert_eq!((sb.hits, sb.misses), (0, 0));
    assert_eq!((sb.timeouts, errors(&sb)), (sb.requests, sb.requests));
    assert!(sb.latency_max_us >= 290_000, "{}", sb.latency_max_us);

    let (_listener, _fill, addr) = blackhole();
    let o = ClientOptions {
        connect_timeout: Some(Duration::from_millis(200)),
        ..opts()
    };
    let server = ServerAddr::parse(&addr).unwrap();
    let mut c = AsyncClient::new(std::slice::from_ref(&server), &o).unwrap();
    c.submit_get(b"k", 1, None).unwrap();
    c.submit_get(b"j", 2, None).unwrap();
    drive(&mut c, Duration::from_secs(5));
    let s = snap_of(&c, &server);
    assert_eq!((s.requests, s.timeouts, s.connections_opened), (2, 2, 0));
}

#[test]
fn metrics_count_each_command_of_a_batch() {
    let (_a, _b, _servers, mut c) = two_servers();
    c.submit_batch(two_server_batch(), 42, None).unwrap();
    drive(&mut c, Duration::from_secs(10));
    let snap = c.metrics_snapshot();
    assert_eq!(snap.servers.len(), 2);
    let sum = |f: fn(&ServerSnapshot) -> u64| snap.servers.iter().map(f).sum::<u64>();
    // The illegal key is refused before sending: not a request.
    assert_eq!(sum(|s| s.requests), 82);
    assert_eq!(sum(|s| s.hits), 40);
    assert_eq!(sum(|s| s.misses), 1);
    assert_eq!(sum(errors), 0);
    assert_eq!(sum(|s| s.connections_opened), 2);
}

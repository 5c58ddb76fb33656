//! HashClient failure tracking (TKO) against real memcached processes:
//! nodes killed, SIGSTOPped and restarted under load.

mod common;
use common::Memcached;
use pymemcache::client::Packed;
use pymemcache::hash::{NodeHasher, RendezvousHash};
use pymemcache::{
    Batch, Client, ClientOptions, Error, FailureTracking, FetchCmd, HashClient, HashOptions,
    Memcache, NodeState, OpStatus, StateCallback, StateCause, StateEvent,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INITIAL: Duration = Duration::from_millis(150);
const MAX: Duration = Duration::from_millis(600);

fn opts(timeout: Duration) -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        connect_timeout: Some(Duration::from_millis(300)),
        timeout: Some(timeout),
        ..Default::default()
    }
}

type Events = Arc<Mutex<Vec<StateEvent>>>;

fn tracked(ms: &[Memcached], o: &ClientOptions, fallback: bool) -> (HashClient, Events) {
    let events: Events = Arc::default();
    let sink = events.clone();
    let hash = HashOptions {
        failure_tracking: Some(FailureTracking {
            threshold: 3,
            initial_backoff: INITIAL,
            max_backoff: MAX,
            fallback,
        }),
        state_callback: Some(StateCallback::new(move |e| {
            sink.lock().unwrap().push(e.clone())
        })),
        ..Default::default()
    };
    let a: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    (HashClient::new(&refs, o, hash).unwrap(), events)
}

fn state_of(c: &HashClient, server: &str) -> pymemcache::NodeHealth {
    c.node_states()
        .into_iter()
        .find(|n| n.server == server)
        .unwrap()
}

/// Keys placed on `server` (among the first `n` candidates).
fn keys_on(c: &HashClient, server: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("key:{i}"))
        .filter(|k| c.server_for(k.as_bytes()).unwrap() == server)
        .collect()
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn value_of(key: &str) -> Vec<u8> {
    format!("value-of:{key}").into_bytes()
}

/// Hit `key` until `server` is in `state` (at most `within`).
fn drive_until(c: &HashClient, key: &str, server: &str, state: NodeState, within: Duration) {
    let deadline = Instant::now() + within;
    while state_of(c, server).state != state {
        assert!(Instant::now() < deadline, "{server} never got {state:?}");
        let _ = c.get(key.as_bytes());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kill `m` and hit `key`, one of its keys, until its node is soft-down.
fn kill_until_soft_down(c: &HashClient, m: &mut Memcached, key: &str) {
    let server = m.addr();
    m.kill();
    drive_until(c, key, &server, NodeState::SoftDown, Duration::from_secs(3));
}

/// The events of one server, as (from, to, cause).
fn sequence(events: &Events, server: &str) -> Vec<(NodeState, NodeState, StateCause)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.server == server)
        .map(|e| (e.from, e.to, e.cause))
        .collect()
}

/// Every step starts where the last ended; probes come between soft-down
/// and up.
fn assert_consistent(seq: &[(NodeState, NodeState, StateCause)]) {
    for w in seq.windows(2) {
        assert_eq!(w[0].1, w[1].0, "broken sequence {seq:?}");
    }
    for &(from, to, cause) in seq {
        match (from, to) {
            (NodeState::Up, NodeState::SoftDown) => {
                assert!(matches!(cause, StateCause::Timeout | StateCause::Refused))
            }
            (NodeState::SoftDown, NodeState::Probing) => assert_eq!(cause, StateCause::ProbeDue),
            (NodeState::Probing, NodeState::SoftDown) => {}
            (NodeState::Probing, NodeState::Up) => assert_eq!(cause, StateCause::Success),
            other => panic!("unexpected transition {other:?} in {seq:?}"),
        }
    }
}

#[test]
fn kill_fail_fast_restart_under_load() {
    let mut ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let (c, events) = tracked(&ms, &opts(Duration::from_secs(1)), false);
    let c = Arc::new(c);
    let victim = ms[0].addr();
    let all: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    for k in &all {
        c.set(k.as_bytes(), &value_of(k), 0, 0, None).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|t| {
            let (c, stop, all) = (c.clone(), stop.clone(), all.clone());
            std::thread::spawn(move || {
                let mut i = t;
                let mut hits = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = &all[i % all.len()];
                    i += 7;
                    if i % 3 == 0 {
                        let _ = c.set(k.as_bytes(), &value_of(k), 0, 0, None);
                    }
                    if let Ok(Some(item)) = c.get(k.as_bytes()) {
                        // Never a value for the wrong key.
                        assert_eq!(item.value, value_of(k), "wrong value for {k}");
                        hits += 1;
                    }
                    let ks: Vec<&[u8]> = (0..5)
                        .map(|j| all[(i + j * 11) % all.len()].as_bytes())
                        .collect();
                    if let Ok(got) = c.get_many(&ks) {
                        for (k, v) in ks.iter().zip(got) {
                            if let Some(v) = v {
                                assert_eq!(v.value, value_of(std::str::from_utf8(k).unwrap()));
                            }
                        }
                    }
                }
                hits
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(200));
    let on_victim = keys_on(&c, &victim, 300);
    kill_until_soft_down(&c, &mut ms[0], &on_victim[0]);

    // While down: calls for its keys fail fast, naming the server. Wall
    // time includes being preempted on a shared 2-core machine running
    // four load threads; the thread's CPU time is what the call costs.
    let mut walls = Vec::new();
    let mut max_cpu = Duration::ZERO;
    for k in on_victim.iter().cycle().take(2000) {
        let (t, cpu) = (Instant::now(), thread_cpu());
        let r = c.get(k.as_bytes());
        let (took, cpu) = (t.elapsed(), thread_cpu() - cpu);
        match r {
            Err(e) if e.to_string().contains("is marked down") => {
                assert!(e.to_string().contains(&victim), "{e}");
                walls.push(took);
                max_cpu = max_cpu.max(cpu);
            }
            // A probe (at most one at a time) may go out meanwhile.
            Err(_) => {}
            Ok(v) => panic!("{k} answered while its server is dead: {v:?}"),
        }
    }
    walls.sort();
    let fast = walls.len();
    let (p50, p99, max) = (walls[fast / 2], walls[fast * 99 / 100], walls[fast - 1]);
    println!(
        "fail-fast calls: {fast}; wall p50 {p50:?} p99 {p99:?} max {max:?}; CPU max {max_cpu:?}"
    );
    assert!(fast > 1000, "only {fast} fail-fast calls");
    assert!(p99 < Duration::from_millis(1), "fail-fast p99 {p99:?}");
    assert!(
        max_cpu < Duration::from_millis(1),
        "fail-fast CPU max {max_cpu:?}"
    );
    // Other servers' keys still work.
    let other = all
        .iter()
        .find(|k| c.server_for(k.as_bytes()).unwrap() != victim)
        .unwrap();
    assert_eq!(
        c.get(other.as_bytes()).unwrap().unwrap().value,
        value_of(other)
    );

    // Let a few probes fail so that the interval grows, then restart.
    std::thread::sleep(MAX + INITIAL);
    ms[0].restart();
    let back = Instant::now();
    drive_until(&c, &on_victim[0], &victim, NodeState::Up, MAX * 2);
    let took = back.elapsed();
    println!("back up {took:?} after the restart");
    // Within one (jittered, capped) backoff interval, plus the driving loop's step.
    assert!(
        took <= MAX * 12 / 10 + Duration::from_millis(100),
        "{took:?}"
    );

    stop.store(true, Ordering::Relaxed);
    let hits: u64 = load.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(hits > 0);

    let seq = sequence(&events, &victim);
    println!("{victim}: {seq:?}");
    assert_consistent(&seq);
    assert_eq!(
        seq.first().unwrap(),
        &(NodeState::Up, NodeState::SoftDown, StateCause::Refused)
    );
    assert_eq!(
        seq.last().unwrap(),
        &(NodeState::Probing, NodeState::Up, StateCause::Success)
    );
    assert!(seq.len() >= 4, "no failed probe in {seq:?}");
    for m in &ms[1..] {
        assert!(sequence(&events, &m.addr()).is_empty());
    }
    let h = state_of(&c, &victim);
    assert_eq!((h.state, h.consecutive_failures), (NodeState::Up, 0));
    assert!(h.refusals >= 3);

    // The metrics saw the same: every transition, the node up again, the
    // refused connects, and a new connection after the restart.
    let snap = c.metrics_snapshot();
    let m = snap.servers.iter().find(|s| s.server == victim).unwrap();
    println!("{victim} metrics: {m:?}");
    assert_eq!(m.state, pymemcache::metrics::STATE_UP);
    assert_eq!(m.state_changes, seq.len() as u64);
    assert!(m.connection_errors >= h.refusals, "{m:?}");
    assert!(m.connections_opened >= 2, "{m:?}");
    for o in snap.servers.iter().filter(|s| s.server != victim) {
        assert_eq!((o.state_changes, o.connection_errors), (0, 0), "{o:?}");
    }
}

#[test]
fn timeouts_and_refusals_are_counted_apart() {
    let mut ms: Vec<Memcached> = (0..2).map(|_| Memcached::tcp(&[])).collect();
    let (c, events) = tracked(&ms, &opts(Duration::from_millis(100)), false);
    let (slow, gone) = (ms[0].addr(), ms[1].addr());
    let slow_key = keys_on(&c, &slow, 100).remove(0);
    let gone_key = keys_on(&c, &gone, 100).remove(0);
    c.set(slow_key.as_bytes(), b"x", 0, 0, None).unwrap();
    c.set(gone_key.as_bytes(), b"x", 0, 0, None).unwrap();

    ms[0].pause();
    drive_until(
        &c,
        &slow_key,
        &slow,
        NodeState::SoftDown,
        Duration::from_secs(3),
    );
    let h = state_of(&c, &slow);
    assert!(h.timeouts >= 3 && h.refusals == 0, "{h:?}");
    ms[0].resume();
    drive_until(&c, &slow_key, &slow, NodeState::Up, MAX * 3);

    kill_until_soft_down(&c, &mut ms[1], &gone_key);
    let h = state_of(&c, &gone);
    assert!(h.refusals >= 3 && h.timeouts == 0, "{h:?}");

    let slow_seq = sequence(&events, &slow);
    assert_consistent(&slow_seq);
    assert_eq!(
        slow_seq[0],
        (NodeState::Up, NodeState::SoftDown, StateCause::Timeout)
    );
    assert_eq!(
        sequence(&events, &gone)[0],
        (NodeState::Up, NodeState::SoftDown, StateCause::Refused)
    );
}

#[test]
fn fallback_moves_only_the_down_nodes_keys() {
    let mut ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let o = opts(Duration::from_secs(1));
    let (c, _events) = tracked(&ms, &o, true);
    let names: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let victim = names[0].clone();
    let all: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
    let home: Vec<String> = all
        .iter()
        .map(|k| c.server_for(k.as_bytes()).unwrap())
        .collect();
    let rest = RendezvousHash::new(&names[1..]);

    let on_victim = keys_on(&c, &victim, 300);
    kill_until_soft_down(&c, &mut ms[0], &on_victim[0]);

    // Every key works; each value lands on one server only.
    for k in &all {
        c.set(k.as_bytes(), &value_of(k), 0, 0, None).unwrap();
        assert_eq!(c.get(k.as_bytes()).unwrap().unwrap().value, value_of(k));
    }
    let ks: Vec<&[u8]> = all.iter().map(|k| k.as_bytes()).collect();
    let got = c.get_many(&ks).unwrap();
    assert!(got
        .iter()
        .zip(&all)
        .all(|(v, k)| v.as_ref().unwrap().value == value_of(k)));

    let plain: Vec<Client> = names[1..]
        .iter()
        .map(|n| Client::new(n, &o).unwrap())
        .collect();
    for (k, home) in all.iter().zip(&home) {
        let want = if *home == victim {
            rest.get_node(k.as_bytes()).unwrap().to_string()
        } else {
            home.clone()
        };
        for (name, pc) in names[1..].iter().zip(&plain) {
            let found = pc.get(k.as_bytes()).unwrap().is_some();
            assert_eq!(found, *name == want, "{k} (home {home}) on {name}?");
        }
    }
    // Still in the hash: placement is unchanged.
    assert_eq!(c.live_servers().len(), 3);
    assert_eq!(c.server_for(on_victim[0].as_bytes()).unwrap(), victim);

    // When a probe is due, the call that probes (and is refused) goes on to
    // the fallback node: no caller sees the down node's error. Several
    // rounds, each waiting out the (doubling, capped, jittered) interval.
    for round in 0..3 {
        std::thread::sleep(MAX + MAX / 4);
        let k = &on_victim[round * 2];
        c.set(k.as_bytes(), b"after-probe", 0, 0, None).unwrap();
        std::thread::sleep(MAX + MAX / 4);
        let k2 = &on_victim[round * 2 + 1];
        let got = c.get_many(&[k2.as_bytes(), k.as_bytes()]).unwrap();
        assert_eq!(got[0].as_ref().unwrap().value, value_of(k2));
        assert_eq!(got[1].as_ref().unwrap().value, b"after-probe");
    }
}

/// The call that finds a node down (its probe refused) goes on to the
/// fallback node on every path, not only single-key commands and `get_many`:
/// packed multi-gets (C `pmc_get_many`), batches and `set_many`.
#[test]
fn fallback_reroutes_packed_reads_batches_and_set_many() {
    let mut ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let o = opts(Duration::from_secs(1));
    let (c, _events) = tracked(&ms, &o, true);
    let victim = ms[0].addr();
    let on_victim = keys_on(&c, &victim, 300);
    // Keys of the other nodes (the victim's are changed one by one below).
    let all: Vec<String> = (0..60)
        .map(|i| format!("key:{i}"))
        .filter(|k| !on_victim.contains(k))
        .collect();
    kill_until_soft_down(&c, &mut ms[0], &on_victim[0]);
    for k in all.iter().chain(&on_victim) {
        c.set(k.as_bytes(), &value_of(k), 0, 0, None).unwrap();
    }
    // Each round waits out the (doubling, capped, jittered) probe interval,
    // so the first call to touch the victim's keys is the refused probe.
    let probe_due = || std::thread::sleep(MAX + MAX / 4);
    for round in 0..2 {
        probe_due();
        let k = &on_victim[round];
        let mut keys: Vec<&[u8]> = all.iter().map(|k| k.as_bytes()).collect();
        keys.push(k.as_bytes());
        let mut packed = Packed::default();
        c.fetch_packed(FetchCmd::Get, &keys, &mut packed).unwrap();
        assert_eq!(packed.hits.len(), keys.len(), "round {round}");
        for h in &packed.hits {
            assert_eq!(
                packed.value(h),
                value_of(std::str::from_utf8(keys[h.index]).unwrap())
            );
        }

        probe_due();
        let (k, k2) = (&on_victim[2 + round * 2], &on_victim[3 + round * 2]);
        let mut b = Batch::new();
        b.get(k.as_bytes());
        b.set(k2.as_bytes(), b"batched", 0, 0);
        b.incr(b"no-such-counter", 1);
        for other in &all[..10] {
            b.get(other.as_bytes());
        }
        c.execute(&mut b).unwrap();
        for (i, r) in b.results().iter().enumerate() {
            assert!(
                r.error.is_none(),
                "round {round}, command {i}: {:?}",
                r.error
            );
        }
        assert_eq!(b.result_value(0), value_of(k));
        assert_eq!(b.result(1).status, OpStatus::Ok);
        assert_eq!(c.get(k2.as_bytes()).unwrap().unwrap().value, b"batched");

        probe_due();
        let k3 = &on_victim[6 + round];
        let other = format!("other:{round}");
        let items = [(k3.as_bytes(), &b"many"[..]), (other.as_bytes(), b"many")];
        assert_eq!(c.set_many(&items, 0, 0, None).unwrap(), Vec::<usize>::new());
        assert_eq!(c.get(k3.as_bytes()).unwrap().unwrap().value, b"many");
    }
}

#[test]
fn ignore_exc_reads_defaults_while_down() {
    let mut ms: Vec<Memcached> = (0..2).map(|_| Memcached::tcp(&[])).collect();
    let o = ClientOptions {
        ignore_exc: true,
        ..opts(Duration::from_secs(1))
    };
    let (c, _events) = tracked(&ms, &o, false);
    let victim = ms[0].addr();
    let k = keys_on(&c, &victim, 100).remove(0);
    c.set(k.as_bytes(), b"x", 0, 0, None).unwrap();
    kill_until_soft_down(&c, &mut ms[0], &k);
    assert_eq!(c.get(k.as_bytes()).unwrap(), None);
    assert!(!c.set(k.as_bytes(), b"y", 0, 0, None).unwrap());
    assert_eq!(c.incr(k.as_bytes(), 1, None).unwrap(), None);
}

/// A get failing fast on a soft-down node is a request and a connection
/// error in that node's metrics, of 0 µs on a connection (none was lent).
#[test]
fn fail_fast_gets_count_as_requests_and_errors() {
    let mut ms: Vec<Memcached> = (0..2).map(|_| Memcached::tcp(&[])).collect();
    let (c, _events) = tracked(&ms, &opts(Duration::from_secs(1)), false);
    let victim = ms[0].addr();
    let k = keys_on(&c, &victim, 100).remove(0);
    kill_until_soft_down(&c, &mut ms[0], &k);
    let of_victim = |c: &HashClient| {
        c.metrics_snapshot()
            .servers
            .into_iter()
            .find(|s| s.server == victim)
            .unwrap()
    };
    let before = of_victim(&c);
    let err = c.get(k.as_bytes()).unwrap_err();
    let after = of_victim(&c);
    assert_eq!(after.requests, before.requests + 1);
    assert_eq!(after.connection_errors, before.connection_errors + 1);
    assert_eq!((after.hits, after.misses), (0, 0));
    assert_eq!(after.latency_count(), before.latency_count() + 1);
    if err.to_string().contains("failing fast") {
        assert_eq!(after.latency_buckets[0], before.latency_buckets[0] + 1);
    }
    let errors = after.timeouts + after.connection_errors + after.server_errors;
    assert_eq!(
        after.requests,
        after.hits + after.misses + errors,
        "{after:?}"
    );
}

#[test]
fn bad_options_are_refused() {
    let bad = |t: FailureTracking| {
        let hash = HashOptions {
            failure_tracking: Some(t),
            ..Default::default()
        };
        match HashClient::new(&["127.0.0.1:1"], &ClientOptions::default(), hash) {
            Err(Error::Config(m)) => m,
            other => panic!("{:?}", other.map(|_| ())),
        }
    };
    let ok = FailureTracking::default();
    assert!(bad(FailureTracking { threshold: 0, ..ok }).contains("threshold"));
    assert!(bad(FailureTracking {
        max_backoff: Duration::from_millis(1),
        ..ok
    })
    .contains("below"));
}

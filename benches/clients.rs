//! Client benchmarks that print ratios measured in one run against memcached
//! processes this program starts (never timed unit tests):
//!  - pooled: N threads sharing one PooledClient vs N threads each with its
//!    own Client (issue: pooled >= 0.9x at 1, 2, 4, 8 threads);
//!  - hash: get_many of 100 keys over 3 servers vs 1 server (goal <= 1.3x),
//!    with pymemcache's own ratio on the same servers beside it;
//!  - mock: on the in-memory mock, a batch of 100 stampede reads (its meta
//!    engine) and a batch of 100 gets vs 100 single gets (the floor).
//!
//! Contenders alternate in rounds so drift hits all alike; medians reported.
//! Run: `cargo bench --bench clients` (add `-- pooled`, `-- hash` or `-- mock` to pick).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/python.rs"]
mod python;

use common::Memcached;
use pymemcache::{
    Batch, Client, ClientOptions, HashClient, HashOptions, Memcache, MockClient, PoolOptions,
    PooledClient,
};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;

fn opts() -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        no_delay: true,
        ..Default::default()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One op of the mixed workload: 9 gets to 1 set over 1,000 keys.
fn op(c: &dyn Memcache, t: usize, i: usize) {
    let k = format!("bench:{}", (i * 31 + t * 7) % 1000);
    if i.is_multiple_of(10) {
        c.set(k.as_bytes(), &[b'v'; 100], 0, 0, None).unwrap();
    } else {
        c.get(k.as_bytes()).unwrap();
    }
}

/// Ops per second of `threads` threads, each running `ops` ops on the client
/// `make(t)` gives it.
fn throughput(threads: usize, ops: usize, make: &dyn Fn(usize) -> Arc<dyn Memcache>) -> f64 {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let c = make(t);
            let b = barrier.clone();
            std::thread::spawn(move || {
                op(c.as_ref(), t, 0);
                b.wait();
                for i in 0..ops {
                    op(c.as_ref(), t, i);
                }
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    (threads * ops) as f64 / t0.elapsed().as_secs_f64()
}

fn bench_pooled() {
    let mc = Memcached::tcp(&["-t", "4"]);
    let addr = mc.addr();
    let warm = Client::new(&addr, &opts()).unwrap();
    for i in 0..1000 {
        warm.set(format!("bench:{i}").as_bytes(), &[b'v'; 100], 0, 0, None)
            .unwrap();
    }
    println!("\n## PooledClient: N threads on one pooled client vs N threads with a client each");
    println!("| threads | pooled ops/s | per-thread ops/s | pooled / per-thread |");
    println!("|---:|---:|---:|---:|");
    for threads in [1, 2, 4, 8] {
        let ops = 20_000 / threads;
        let pooled: Arc<dyn Memcache> =
            Arc::new(PooledClient::new(&addr, &opts(), PoolOptions::default()).unwrap());
        let per_thread: Vec<Arc<dyn Memcache>> = (0..threads)
            .map(|_| Arc::new(Client::new(&addr, &opts()).unwrap()) as Arc<dyn Memcache>)
            .collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            a.push(throughput(threads, ops, &|_| pooled.clone()));
            b.push(throughput(threads, ops, &|t| per_thread[t].clone()));
        }
        let (a, b) = (median(a), median(b));
        println!("| {threads} | {a:.0} | {b:.0} | {:.2}x |", a / b);
    }
}

fn time_get_many(c: &dyn Memcache, keys: &[&[u8]], iters: usize) -> f64 {
    let t0 = Instant::now();
    for _ in 0..iters {
        let r = c.get_many(keys).unwrap();
        assert!(r.iter().all(Option::is_some));
    }
    t0.elapsed().as_secs_f64() * 1e6 / iters as f64
}

const PY_HASH: &str = r#"
import sys, time
from pymemcache.client.hash import HashClient
def mk(addrs):
    return HashClient([(h, int(p)) for h, p in (a.rsplit(":", 1) for a in addrs)])
one, three = mk(sys.argv[1].split(",")), mk(sys.argv[2].split(","))
keys = ["hk:%d" % i for i in range(100)]
for c in (one, three):
    c.set_many({k: b"v" * 100 for k in keys})
def t(c, n=300):
    c.get_many(keys)
    s = time.perf_counter()
    for _ in range(n):
        assert len(c.get_many(keys)) == 100
    return (time.perf_counter() - s) * 1e6 / n
a, b = [], []
for _ in range(7):
    a.append(t(one)); b.append(t(three))
a.sort(); b.sort()
print(a[3], b[3])
"#;

fn bench_hash() {
    let ms: Vec<Memcached> = (0..4).map(|_| Memcached::tcp(&["-t", "1"])).collect();
    let single = [ms[0].addr()];
    let three: Vec<String> = ms[1..].iter().map(|m| m.addr()).collect();
    let one_refs: Vec<&str> = single.iter().map(|s| s.as_str()).collect();
    let three_refs: Vec<&str> = three.iter().map(|s| s.as_str()).collect();
    let hash_one = HashClient::new(&one_refs, &opts(), HashOptions::default()).unwrap();
    let hash_three = HashClient::new(&three_refs, &opts(), HashOptions::default()).unwrap();
    let plain_one = Client::new(&single[0], &opts()).unwrap();
    let keys: Vec<String> = (0..100).map(|i| format!("hk:{i}")).collect();
    let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let items: Vec<(&[u8], &[u8])> = refs.iter().map(|k| (*k, &[b'v'; 100][..])).collect();
    hash_one.set_many(&items, 0, 0, None).unwrap();
    hash_three.set_many(&items, 0, 0, None).unwrap();
    let nodes: std::collections::BTreeSet<String> = keys
        .iter()
        .map(|k| hash_three.server_for(k.as_bytes()).unwrap())
        .collect();
    assert_eq!(nodes.len(), 3, "the 100 keys span all three servers");
    // The reference for round trips: the same three servers asked one after
    // another (as pymemcache's HashClient does), each for its own keys.
    let per_node: Vec<(Client, Vec<&[u8]>)> = three
        .iter()
        .map(|a| {
            let ks = refs
                .iter()
                .copied()
                .filter(|k| hash_three.server_for(k).unwrap() == *a)
                .collect();
            (Client::new(a, &opts()).unwrap(), ks)
        })
        .collect();
    let sequential = |iters: usize| {
        let t0 = Instant::now();
        for _ in 0..iters {
            for (c, ks) in &per_node {
                assert!(c.get_many(ks).unwrap().iter().all(Option::is_some));
            }
        }
        t0.elapsed().as_secs_f64() * 1e6 / iters as f64
    };
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(time_get_many(&plain_one, &refs, 2000));
        b.push(time_get_many(&hash_one, &refs, 2000));
        c.push(time_get_many(&hash_three, &refs, 2000));
        d.push(sequential(2000));
    }
    let (plain, one, three_us, seq) = (median(a), median(b), median(c), median(d));
    println!("\n## HashClient: get_many of 100 keys (100-byte values), us per call");
    println!("| client | 1 server | 3 servers | 3 / 1 |");
    println!("|---|---:|---:|---:|");
    println!("| pymemcache-rs Client (single server) | {plain:.1} | | |");
    println!(
        "| pymemcache-rs HashClient | {one:.1} | {three_us:.1} | {:.2}x |",
        three_us / one
    );
    println!(
        "| 3 single Clients one after another | | {seq:.1} | {:.2}x |",
        seq / one
    );
    let py = python::python();
    let out = std::process::Command::new(py)
        .args(["-c", PY_HASH, &single.join(","), &three.join(",")])
        .output()
        .unwrap();
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = text
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        println!(
            "| pymemcache {} HashClient | {:.1} | {:.1} | {:.2}x |",
            python::PYMEMCACHE_VERSION,
            v[0],
            v[1],
            v[1] / v[0]
        );
    } else {
        println!(
            "pymemcache run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(10));
}

/// Microseconds per call of `f`, the median of `ROUNDS` rounds of `iters`.
fn time_us(iters: usize, f: &mut dyn FnMut()) -> Vec<f64> {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        })
        .collect()
}

fn bench_mock() {
    let m = MockClient::new(&opts()).unwrap();
    let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("mk:{i}").into_bytes()).collect();
    for k in &keys {
        m.set(k, &[b'v'; 100], 0, 0, None).unwrap();
    }
    let mut locks = Batch::new();
    let mut gets = Batch::new();
    for k in &keys {
        locks.get_or_lock(k, 30, 0);
        gets.get(k);
    }
    let iters = 2000;
    let (mut single, mut lock_b, mut get_b) = (Vec::new(), Vec::new(), Vec::new());
    // Contenders alternate round by round.
    for _ in 0..ROUNDS {
        single.extend(time_us(iters / ROUNDS, &mut || {
            for k in &keys {
                m.get(k).unwrap();
            }
        }));
        lock_b.extend(time_us(iters / ROUNDS, &mut || {
            m.execute(&mut locks).unwrap()
        }));
        get_b.extend(time_us(iters / ROUNDS, &mut || {
            m.execute(&mut gets).unwrap()
        }));
    }
    assert!(locks
        .results()
        .iter()
        .all(|r| r.lease == Some(pymemcache::Lease::Hit)));
    let (single, lock_b, get_b) = (median(single), median(lock_b), median(get_b));
    println!("\n## MockClient: 100 reads of 100-byte values, us per 100");
    println!("| contender | us / 100 reads | / floor |");
    println!("|---|---:|---:|");
    println!("| floor: 100 single get calls | {single:.1} | 1.00x |");
    println!(
        "| batch of 100 gets | {get_b:.1} | {:.2}x |",
        get_b / single
    );
    println!(
        "| batch of 100 get_or_lock (meta engine: mg v f c t N30) | {lock_b:.1} | {:.2}x |",
        lock_b / single
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    println!(
        "# pymemcache-rs client benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if want("pooled") {
        bench_pooled();
    }
    if want("hash") {
        bench_hash();
    }
    if want("mock") {
        bench_mock();
    }
}

//! Fault paths the client must survive without talking nonsense: here, a
//! TCP connection to itself. The test runs `pmc` in a network namespace of
//! its own (`unshare -n`, as root) whose ephemeral port range is the one
//! port the client connects to, so the kernel's simultaneous open joins the
//! socket to itself on the first try.

use std::process::Command;

#[test]
fn a_connection_to_itself_is_refused() {
    let port = 40000;
    let script = format!(
        "ip link set lo up && echo '{port} {port}' > /proc/sys/net/ipv4/ip_local_port_range \
         && exec \"$PMC\" -s 127.0.0.1:{port} --timeout 2 get k"
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .env("PMC", env!("CARGO_BIN_EXE_pmc"))
        .output()
        .expect("unshare (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unshare failed") && !stderr.contains("Operation not permitted"),
        "this test needs root for a network namespace: {stderr}"
    );
    // Exit 3: a network error, the connection refused; not 4 (the client
    // reading its own "get k" back as a reply it cannot parse).
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(stderr.contains("connected to itself"), "stderr: {stderr}");
}

// ---- the per-call deadline ------------------------------------------------------------

mod common;
use common::Memcached;
use pymemcache::{
    Client, ClientOptions, ErrorKind, HashClient, HashOptions, Memcache, PoolOptions, PooledClient,
};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MS: fn(u64) -> Duration = Duration::from_millis;
/// How late a call may end past its deadline: scheduling on a busy 2-core
/// machine, not the client's own work.
const SLACK: Duration = Duration::from_millis(60);

fn opts(timeout: u64, deadline: Option<u64>) -> ClientOptions {
    ClientOptions {
        connect_timeout: Some(MS(2000)),
        timeout: Some(MS(timeout)),
        deadline: deadline.map(MS),
        default_noreply: false,
        ..ClientOptions::default()
    }
}

/// A server that answers `get k` one byte every 100 ms: each read is well
/// within the socket timeout, the whole reply takes 3.5 s.
fn dripping_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    for b in b"VALUE k 0 10\r\n0123456789\r\nEND\r\n" {
                        std::thread::sleep(MS(100));
                        if s.write_all(&[*b]).is_err() {
                            return;
                        }
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

#[test]
fn a_dripping_server_cannot_stretch_a_call_past_its_deadline() {
    let addr = dripping_server();
    // Without a deadline the call takes as long as the server likes.
    let plain = Client::new(&addr, &opts(500, None)).unwrap();
    let (r, slow) = timed(|| plain.get(b"k"));
    assert_eq!(r.unwrap().unwrap().value, b"0123456789");
    assert!(slow > MS(2500), "{slow:?}");
    for kind in ["single", "pooled", "hash"] {
        let o = opts(500, Some(400));
        let c: Box<dyn Memcache> = match kind {
            "single" => Box::new(Client::new(&addr, &o).unwrap()),
            "pooled" => Box::new(PooledClient::new(&addr, &o, PoolOptions::default()).unwrap()),
            _ => Box::new(HashClient::new(&[&addr], &o, HashOptions::default()).unwrap()),
        };
        let (r, took) = timed(|| c.get(b"k"));
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{kind}: {e}");
        assert!(e.to_string().contains("deadline"), "{kind}: {e}");
        assert!(
            took >= MS(400) && took < MS(400) + SLACK,
            "{kind}: {took:?}"
        );
        println!("dripping server, {kind}: {took:?} with a 400 ms deadline, {slow:?} without");
    }
}

/// Callers of one shared connection queue behind each other's timeouts; the
/// deadline bounds the wait for the connection as well.
#[test]
fn callers_queued_on_a_stalled_server_keep_their_deadline() {
    let mc = Memcached::tcp(&[]);
    for (kind, deadline) in [
        ("single", None),
        ("single", Some(250)),
        ("pooled", Some(250)),
        ("hash", Some(250)),
    ] {
        let o = opts(200, deadline);
        let c: Arc<dyn Memcache> = match kind {
            "single" => Arc::new(Client::new(&mc.addr(), &o).unwrap()),
            "pooled" => {
                let p = PoolOptions {
                    max_size: Some(2),
                    timeout: MS(10_000),
                    ..PoolOptions::default()
                };
                Arc::new(PooledClient::new(&mc.addr(), &o, p).unwrap())
            }
            _ => Arc::new(HashClient::new(&[&mc.addr()], &o, HashOptions::default()).unwrap()),
        };
        c.set(b"k", b"v", 0, 0, Some(false)).unwrap();
        mc.pause();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let (r, took) = timed(|| c.get(b"k"));
                    assert!(r.is_err());
                    took
                })
            })
            .collect();
        let worst = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .max()
            .unwrap();
        mc.resume();
        println!("8 threads, stalled server, {kind}, deadline {deadline:?}: worst call {worst:?}");
        match deadline {
            Some(d) => assert!(worst < MS(d) + SLACK, "{kind}: {worst:?}"),
            // The behaviour the deadline fixes: callers wait out each other.
            None => assert!(worst > MS(600), "{kind}: {worst:?}"),
        }
    }
}

// ---- reconnect backoff ------------------------------------------------------------

/// A server that goes away and comes back: while it is down, single and
/// pooled clients fail fast instead of reconnecting on every call, and once
/// it is back they reach it again within the backoff's longest window.
#[test]
fn reconnect_backoff_stops_the_storm_and_recovers() {
    let mut mc = Memcached::tcp(&[]);
    for kind in ["single", "pooled"] {
        let o = ClientOptions {
            connect_timeout: Some(MS(1000)),
            timeout: Some(MS(1000)),
            default_noreply: false,
            ..ClientOptions::default()
        };
        let c: Box<dyn Memcache> = match kind {
            "single" => Box::new(Client::new(&mc.addr(), &o).unwrap()),
            _ => Box::new(PooledClient::new(&mc.addr(), &o, PoolOptions::default()).unwrap()),
        };
        assert!(c.set(b"k", b"v", 0, 0, None).unwrap());
        mc.kill();
        // 1 s of calls while the server is down.
        let (mut calls, mut connects) = (0u32, 0u32);
        let start = Instant::now();
        while start.elapsed() < MS(1000) {
            let e = c.get(b"k").unwrap_err();
            // The open connection first finds the server gone.
            let first_close = calls == 0 && e.kind() == ErrorKind::UnexpectedClose;
            assert!(e.kind() == ErrorKind::Io || first_close, "{kind}: {e}");
            calls += 1;
            if !e.to_string().contains("reconnect backoff") {
                connects += 1;
            }
        }
        println!("{kind}: server down for 1 s: {calls} calls, {connects} connect attempts");
        assert!(
            calls > 1000 && connects <= 10,
            "{kind}: {calls} calls, {connects} connects"
        );
        // Back: the next connect attempt comes within the longest window
        // (1 s by default), and the client reads and writes again.
        mc.restart();
        let back = Instant::now();
        let took = loop {
            match c.set(b"k", b"again", 0, 0, None) {
                Ok(true) => break back.elapsed(),
                Ok(false) => panic!("{kind}: not stored"),
                Err(e) => assert!(back.elapsed() < MS(1500), "{kind}: still failing: {e}"),
            }
            std::thread::sleep(MS(5));
        };
        println!("{kind}: reached the restarted server after {took:?}");
        assert_eq!(c.get(b"k").unwrap().unwrap().value, b"again");
    }
}

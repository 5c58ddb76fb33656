//! Servers that misbehave on purpose, against every client kind: a single
//! client, a pooled client, and a hash client with a good memcached beside
//! the bad peer (the key is one the hash places on the peer). Each scenario
//! asserts the status, that the call ends within the deadline, that memory
//! stays bounded, and that the next call works (a miss from the same peer,
//! now answering properly) while the good node keeps serving.

mod common;
use common::Memcached;
use pymemcache::{
    Client, ClientOptions, ErrorKind, HashClient, HashOptions, Memcache, PoolOptions, PooledClient,
};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_millis(500);
/// Scheduling on a busy 2-core machine, not the client's own work.
const SLACK: Duration = Duration::from_millis(100);

/// What the peer does with the first request it reads.
#[derive(Clone, Copy, Debug)]
enum Bad {
    Garbage,
    HalfClose,
    Drip,
    Huge,
    Stall,
    WrongKey,
    Overlong,
    NegativeLength,
    WrongFlags,
    ServerError,
    ClientError,
    UnknownCommand,
    NoLineEnd,
    HundredThousandValues,
    LateReply,
}

impl Bad {
    fn expected(self) -> ErrorKind {
        match self {
            Bad::HalfClose => ErrorKind::UnexpectedClose,
            Bad::Drip | Bad::Stall | Bad::LateReply => ErrorKind::Timeout,
            Bad::Huge => ErrorKind::TooLarge,
            Bad::ServerError => ErrorKind::ServerError,
            Bad::ClientError => ErrorKind::ClientError,
            Bad::UnknownCommand => ErrorKind::UnknownCommand,
            _ => ErrorKind::UnknownError,
        }
    }

    /// Misbehave on `s`, which just sent `get <key>`.
    fn act(self, s: &mut TcpStream, key: &str) {
        let w = |s: &mut TcpStream, b: &[u8]| {
            let _ = s.write_all(b);
        };
        match self {
            Bad::Garbage => w(s, b"HELLO THERE\r\n"),
            Bad::HalfClose => {
                w(s, format!("VALUE {key} 0 10\r\n01234").as_bytes());
                let _ = s.shutdown(Shutdown::Both);
            }
            Bad::Drip => {
                for b in format!("VALUE {key} 0 10\r\n0123456789\r\nEND\r\n").bytes() {
                    std::thread::sleep(Duration::from_millis(100));
                    if s.write_all(&[b]).is_err() {
                        return;
                    }
                }
            }
            Bad::Huge => w(s, format!("VALUE {key} 0 4294967296\r\n").as_bytes()),
            Bad::Stall => std::thread::sleep(Duration::from_secs(3)),
            Bad::WrongKey => w(s, b"VALUE other 0 1\r\nx\r\nEND\r\n"),
            Bad::Overlong => w(s, format!("VALUE {key} 0 2\r\nxyz\r\nEND\r\n").as_bytes()),
            Bad::NegativeLength => w(s, format!("VALUE {key} 0 -1\r\n\r\nEND\r\n").as_bytes()),
            Bad::WrongFlags => w(s, format!("VALUE {key} abc 1\r\nx\r\nEND\r\n").as_bytes()),
            Bad::ServerError => w(s, b"SERVER_ERROR out of memory storing object\r\n"),
            Bad::ClientError => w(s, b"CLIENT_ERROR bad command line format\r\n"),
            Bad::UnknownCommand => w(s, b"ERROR\r\n"),
            Bad::NoLineEnd => w(s, &vec![b'x'; 200 * 1024]),
            Bad::HundredThousandValues => {
                let one = format!("VALUE {key} 0 1\r\nx\r\n");
                w(s, one.repeat(100_000).as_bytes());
                w(s, b"END\r\n");
            }
            Bad::LateReply => {
                // Past the client's 150 ms socket timeout, then a reply the
                // next call must never read as its own.
                std::thread::sleep(Duration::from_millis(300));
                w(s, format!("VALUE {key} 0 4\r\nlate\r\nEND\r\n").as_bytes());
            }
        }
    }
}

/// A peer that misbehaves on the first request it reads and afterwards
/// answers every `get` with a miss.
fn peer(bad: Bad) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let key = line.split_whitespace().nth(1).unwrap_or("k").to_string();
                    if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                        bad.act(&mut s, &key);
                    } else if s.write_all(b"END\r\n").is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

fn opts() -> ClientOptions {
    ClientOptions {
        connect_timeout: Some(Duration::from_secs(2)),
        timeout: Some(Duration::from_millis(150)),
        deadline: Some(DEADLINE),
        max_value_len: 1 << 20,
        default_noreply: false,
        ..ClientOptions::default()
    }
}

/// The resident set of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A key the hash client over `[good, bad]` places on `bad`, and one on `good`.
fn keys_for(c: &HashClient, bad: &str) -> (String, String) {
    let on = |want_bad: bool| {
        (0..)
            .map(|i| format!("key{i}"))
            .find(|k| (c.server_for(k.as_bytes()).unwrap() == bad) == want_bad)
            .unwrap()
    };
    (on(true), on(false))
}

const ALL: [Bad; 15] = [
    Bad::Garbage,
    Bad::HalfClose,
    Bad::Drip,
    Bad::Huge,
    Bad::Stall,
    Bad::WrongKey,
    Bad::Overlong,
    Bad::NegativeLength,
    Bad::WrongFlags,
    Bad::ServerError,
    Bad::ClientError,
    Bad::UnknownCommand,
    Bad::NoLineEnd,
    Bad::HundredThousandValues,
    Bad::LateReply,
];

fn check(kind: &str, bad: Bad, c: &dyn Memcache, key: &str) {
    let before = rss_kib();
    let t = Instant::now();
    let err = c.get(key.as_bytes()).expect_err("a misbehaving peer");
    let took = t.elapsed();
    assert_eq!(err.kind(), bad.expected(), "{kind} {bad:?}: {err}");
    assert!(took < DEADLINE + SLACK, "{kind} {bad:?}: {took:?}");
    let grew = rss_kib().saturating_sub(before);
    assert!(
        grew < 64 * 1024,
        "{kind} {bad:?}: memory grew by {grew} KiB"
    );
    // The next call works: a clean miss, never the late or stale reply.
    std::thread::sleep(Duration::from_millis(350)); // past LateReply's reply
    assert_eq!(
        c.get(key.as_bytes()).unwrap(),
        None,
        "{kind} {bad:?}: next call"
    );
    println!("{kind:6} {bad:?}: {:?} in {took:?}", err.kind());
}

#[test]
fn single_and_pooled_clients_survive_every_misbehaviour() {
    for bad in ALL {
        let addr = peer(bad);
        check("single", bad, &Client::new(&addr, &opts()).unwrap(), "k");
        let addr = peer(bad);
        let pooled = PooledClient::new(&addr, &opts(), PoolOptions::default()).unwrap();
        check("pooled", bad, &pooled, "k");
    }
}

#[test]
fn hash_client_survives_every_misbehaviour_beside_a_good_node() {
    let good = Memcached::tcp(&[]);
    for bad in ALL {
        let addr = peer(bad);
        // retry_timeout 0: the bad node is tried again on the next call,
        // which is what "the next call works" checks.
        let h = HashOptions {
            retry_timeout: Duration::ZERO,
            retry_attempts: 100,
            ..HashOptions::default()
        };
        let c = HashClient::new(&[&good.addr(), &addr], &opts(), h).unwrap();
        let (on_bad, on_good) = keys_for(&c, &addr);
        assert!(c.set(on_good.as_bytes(), b"v", 0, 0, None).unwrap());
        check("hash", bad, &c, &on_bad);
        assert_eq!(c.get(on_good.as_bytes()).unwrap().unwrap().value, b"v");
    }
}

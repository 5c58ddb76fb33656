//! Integration tests of the single-server `Client` against real memcached
//! processes (one per test, so the tests run in parallel), plus a few
//! scripted TCP peers where a server has to misbehave on purpose.

mod common;

use common::Memcached;
use pymemcache::{
    CasOutcome, Client, ClientOptions, Error, FetchCmd, Item, Memcache, StatValue, StoreCmd,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ---- helpers ---------------------------------------------------------------

/// Wait for the reply.
const WAIT: Option<bool> = Some(false);
/// Do not wait for the reply.
const NOREPLY: Option<bool> = Some(true);
/// Follow the client's default.
const DEFAULT: Option<bool> = None;

/// Options every test starts from: generous timeouts so that a bug shows up
/// as a failure, never as a hung test.
fn base_opts() -> ClientOptions {
    ClientOptions {
        connect_timeout: Some(Duration::from_secs(5)),
        timeout: Some(Duration::from_secs(10)),
        ..ClientOptions::default()
    }
}

fn client(mc: &Memcached) -> Client {
    Client::new(&mc.addr(), &base_opts()).expect("client")
}

fn client_with(addr: &str, tweak: impl FnOnce(&mut ClientOptions)) -> Client {
    let mut o = base_opts();
    tweak(&mut o);
    Client::new(addr, &o).expect("client")
}

/// Assert that an expression is `Err` matching a pattern (with optional guard).
macro_rules! assert_err {
    ($e:expr, $p:pat $(if $g:expr)?) => {
        match $e {
            Err($p) $(if $g)? => {}
            other => {
                let mut shown = format!("{:?}", other);
                shown.truncate(300);
                panic!("expected Err({}), got {}", stringify!($p $(if $g)?), shown)
            }
        }
    };
}

fn value(item: Option<Item>) -> Option<Vec<u8>> {
    item.map(|i| i.value)
}

fn get_value(c: &Client, key: &[u8]) -> Option<Vec<u8>> {
    value(c.get(key).unwrap())
}

fn present(items: &[Option<Item>]) -> Vec<bool> {
    items.iter().map(|i| i.is_some()).collect()
}

fn stat(c: &Client, args: &[&str], name: &str) -> StatValue {
    let all = c.stats(args).unwrap();
    assert_eq!(all.len(), 1);
    all[0]
        .get(name)
        .unwrap_or_else(|| panic!("no stat {name} in stats {args:?}"))
        .value
        .clone()
}

fn int_stat(c: &Client, args: &[&str], name: &str) -> i128 {
    match stat(c, args, name) {
        StatValue::Int(n) => n,
        other => panic!("stat {name} is not an integer: {other:?}"),
    }
}

/// A connection counter once it has stopped moving: memcached counts a
/// connection when a worker thread takes it over, which for the harness's
/// readiness probe may happen a moment after the test's own first command.
fn settled_stat(c: &Client, name: &str) -> i128 {
    let mut last = int_stat(c, &[], name);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = int_stat(c, &[], name);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Unix time now, in seconds.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Poll `cond` every 50 ms until it holds or `within` has passed.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGSTOP the server and wait until every one of its threads has stopped
/// (the signal is delivered asynchronously).
fn pause(mc: &Memcached) {
    mc.pause();
    let task_dir = format!("/proc/{}/task", mc.pid());
    let all_stopped = || {
        std::fs::read_dir(&task_dir).unwrap().all(|t| {
            let stat = std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            state.starts_with('T') || state.starts_with('t')
        })
    };
    assert!(
        eventually(Duration::from_secs(5), all_stopped),
        "memcached did not stop"
    );
}

// ---- a scripted TCP peer ---------------------------------------------------

/// A fake server on 127.0.0.1: the script runs in a thread with the
/// listener and returns whatever the test wants to look at afterwards.
struct Peer<R> {
    addr: String,
    thread: JoinHandle<R>,
}

impl<R: Send + 'static> Peer<R> {
    fn start(script: impl FnOnce(TcpListener) -> R + Send + 'static) -> Peer<R> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        Peer {
            addr,
            thread: std::thread::spawn(move || script(listener)),
        }
    }

    fn finish(self) -> R {
        self.thread.join().expect("peer thread panicked")
    }
}

/// Accept one connection, giving up (with a panic) after 10 seconds.
fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "peer: no connection came");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("peer: accept: {e}"),
        }
    }
}

/// Read one line (with its "\r\n"); `None` at EOF before any byte.
fn read_line(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => return if line.is_empty() { None } else { Some(line) },
            Ok(_) => {
                line.push(b[0]);
                if b[0] == b'\n' {
                    return Some(line);
                }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("peer: read: {e}"),
        }
    }
}

/// Read until the client closes; returns what arrived meanwhile.
fn drain(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("peer: read: {e}"),
        }
    }
}

/// A peer that answers the first request on its first connection with
/// `reply` (then closes if `close`, else waits for the client to close), and
/// serves `get` misses properly on a second connection. Returns the first
/// request line.
fn misbehaving_peer(reply: &'static [u8], close: bool) -> Peer<Vec<u8>> {
    Peer::start(move |l| {
        let mut s = accept(&l);
        let req = read_line(&mut s).expect("a request");
        s.write_all(reply).unwrap();
        if close {
            drop(s);
        } else {
            drain(&mut s);
        }
        // The client must reconnect for its next command and be served.
        let mut s2 = accept(&l);
        while let Some(line) = read_line(&mut s2) {
            if line.starts_with(b"get ") {
                s2.write_all(b"END\r\n").unwrap();
            }
        }
        req
    })
}

/// After a misbehaving reply, the same client reconnects and a miss reads
/// as a miss (no leftover bytes of the bad reply are taken as the answer).
fn check_recovers(c: &Client, peer: Peer<Vec<u8>>, expected_request: &[u8]) {
    assert!(!c.is_connected(), "connection kept open after an error");
    assert_eq!(c.get(b"other").unwrap(), None);
    c.close();
    assert_eq!(peer.finish(), expected_request);
}

// ---- retrieval -------------------------------------------------------------

#[test]
fn get_hit_and_miss() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(c.get(b"missing").unwrap(), None);
    assert!(c.set(b"k", b"hello", 5, 0, WAIT).unwrap());
    let it = c.get(b"k").unwrap().expect("hit");
    assert_eq!(
        it,
        Item {
            value: b"hello".to_vec(),
            flags: 5,
            cas: None
        }
    );
}

#[test]
fn gets_returns_a_cas_that_changes_with_the_item() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(c.gets(b"missing").unwrap(), None);
    c.set(b"k", b"v1", 3, 0, WAIT).unwrap();
    let a = c.gets(b"k").unwrap().expect("hit");
    assert_eq!((a.value.as_slice(), a.flags), (&b"v1"[..], 3));
    let cas1 = a.cas.expect("gets carries the cas unique");
    // Unchanged item: same cas.
    assert_eq!(c.gets(b"k").unwrap().unwrap().cas, Some(cas1));
    c.set(b"k", b"v2", 0, 0, WAIT).unwrap();
    let cas2 = c.gets(b"k").unwrap().unwrap().cas.unwrap();
    assert_ne!(cas1, cas2);
    // Plain get never reports a cas.
    assert_eq!(c.get(b"k").unwrap().unwrap().cas, None);
}

#[test]
fn get_many_hits_misses_duplicates_and_order() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"a", b"A", 1, 0, WAIT).unwrap();
    c.set(b"c", b"C", 3, 0, WAIT).unwrap();
    c.set(b"e", b"E", 5, 0, WAIT).unwrap();
    let keys: [&[u8]; 7] = [b"e", b"b", b"a", b"c", b"a", b"zz", b"e"];
    let r = c.get_many(&keys).unwrap();
    assert_eq!(r.len(), keys.len());
    let got: Vec<Option<(Vec<u8>, u32)>> = r
        .into_iter()
        .map(|i| i.map(|i| (i.value, i.flags)))
        .collect();
    assert_eq!(
        got,
        vec![
            Some((b"E".to_vec(), 5)),
            None,
            Some((b"A".to_vec(), 1)),
            Some((b"C".to_vec(), 3)),
            Some((b"A".to_vec(), 1)),
            None,
            Some((b"E".to_vec(), 5)),
        ]
    );
    // All misses.
    assert_eq!(present(&c.get_many(&[b"x", b"y"]).unwrap()), [false, false]);
    // One key.
    assert_eq!(present(&c.get_many(&[b"c"]).unwrap()), [true]);
}

/// Multi-key replies are parsed whole items at a time when they are
/// buffered and line by line otherwise: the same reply, cut at every
/// place, and with a lone "\n" line end and a duplicate key, gives the same
/// items each way (get_many and gets_many, each followed by a read that
/// must find the stream in step).
#[test]
fn multi_key_replies_cut_anywhere_read_the_same() {
    const GET: &[u8] = b"VALUE a 1 3\r\nabc\r\nVALUE c 2 0\r\n\r\n\
VALUE d 3 5\nd\r\nd!\r\nVALUE a 1 3\r\nabc\r\nEND\r\n";
    const GETS: &[u8] = b"VALUE a 1 3 7\r\nabc\r\nVALUE c 2 0 8\r\n\r\n\
VALUE d 3 5 9\nd\r\nd!\r\nVALUE a 1 3 7\r\nabc\r\nEND\r\n";
    let peer = Peer::start(move |l| {
        let mut s = accept(&l);
        s.set_nodelay(true).unwrap();
        for reply in [GET, GETS] {
            for cut in 1..=reply.len() {
                let req = read_line(&mut s).expect("a request");
                assert_eq!(req.starts_with(b"gets "), reply == GETS);
                for part in [&reply[..cut], &reply[cut..]] {
                    if !part.is_empty() {
                        s.write_all(part).unwrap();
                        std::thread::sleep(Duration::from_micros(300));
                    }
                }
                let version = read_line(&mut s).expect("the version request");
                assert_eq!(version, b"version\r\n");
                s.write_all(b"VERSION 1.6.x\r\n").unwrap();
            }
        }
    });
    let c = client_with(&peer.addr, |_| {});
    let keys: [&[u8]; 5] = [b"a", b"b", b"c", b"d", b"a"];
    let want = |cas: Option<[u64; 3]>| {
        let item = |value: &[u8], flags, i: usize| {
            Some(Item {
                value: value.to_vec(),
                flags,
                cas: cas.map(|c| c[i]),
            })
        };
        vec![
            item(b"abc", 1, 0),
            None,
            item(b"", 2, 1),
            item(b"d\r\nd!", 3, 2),
            item(b"abc", 1, 0),
        ]
    };
    for cut in 1..=GET.len() {
        assert_eq!(c.get_many(&keys).unwrap(), want(None), "get, cut at {cut}");
        assert_eq!(c.version().unwrap(), "1.6.x");
    }
    for cut in 1..=GETS.len() {
        let got = c.gets_many(&keys).unwrap();
        assert_eq!(got, want(Some([7, 8, 9])), "gets, cut at {cut}");
        assert_eq!(c.version().unwrap(), "1.6.x");
    }
    drop(c);
    peer.finish();
}

#[test]
fn gets_many_carries_cas_for_every_hit() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"a", b"A", 0, 0, WAIT).unwrap();
    c.set(b"b", b"B", 0, 0, WAIT).unwrap();
    let r = c.gets_many(&[b"a", b"nope", b"b", b"a"]).unwrap();
    assert_eq!(present(&r), [true, false, true, true]);
    let cas_a = r[0].as_ref().unwrap().cas.expect("cas");
    let cas_b = r[2].as_ref().unwrap().cas.expect("cas");
    assert_ne!(cas_a, cas_b);
    assert_eq!(r[3].as_ref().unwrap().cas, Some(cas_a));
    assert_eq!(r[2].as_ref().unwrap().value, b"B");
    // The cas from gets_many is usable.
    assert_eq!(
        c.cas(b"a", b"A2", cas_a, 0, 0, WAIT).unwrap(),
        CasOutcome::Stored
    );
    assert_eq!(get_value(&c, b"a").unwrap(), b"A2");
}

#[test]
fn empty_key_lists_return_empty_without_connecting() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(c.get_many(&[]).unwrap().is_empty());
    assert!(c.gets_many(&[]).unwrap().is_empty());
    assert!(c.fetch(FetchCmd::Gat(10), &[]).unwrap().is_empty());
    assert!(!c.is_connected());
    // And on a connected client too.
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert!(c.get_many(&[]).unwrap().is_empty());
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
}

#[test]
fn gat_returns_the_value_and_sets_the_expiry() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(c.gat(b"missing", 100).unwrap(), None);
    c.set(b"k", b"v", 9, 0, WAIT).unwrap();
    // gat with a positive expiry: the value, and the item stays.
    let it = c.gat(b"k", 100).unwrap().expect("hit");
    assert_eq!(
        (it.value.as_slice(), it.flags, it.cas),
        (&b"v"[..], 9, None)
    );
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
    // gat with a negative expiry: the value once, then the item is gone.
    assert_eq!(value(c.gat(b"k", -1).unwrap()).unwrap(), b"v");
    assert_eq!(c.get(b"k").unwrap(), None);
    // gat with an absolute time in the past.
    c.set(b"k2", b"v2", 0, 0, WAIT).unwrap();
    assert_eq!(
        value(c.gat(b"k2", unix_now() - 3600).unwrap()).unwrap(),
        b"v2"
    );
    assert_eq!(c.get(b"k2").unwrap(), None);
}

#[test]
fn gats_returns_the_cas_unique() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(c.gats(b"missing", 100).unwrap(), None);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    let cas = c.gets(b"k").unwrap().unwrap().cas.unwrap();
    let it = c.gats(b"k", 100).unwrap().expect("hit");
    assert_eq!(it.value, b"v");
    let gats_cas = it.cas.expect("gats carries the cas unique");
    assert_eq!(
        c.cas(b"k", b"w", gats_cas, 0, 0, WAIT).unwrap(),
        CasOutcome::Stored
    );
    assert_ne!(c.gets(b"k").unwrap().unwrap().cas.unwrap(), cas);
    // gats with an expiry in the past removes the item after returning it.
    assert!(c.gats(b"k", -1).unwrap().unwrap().cas.is_some());
    assert_eq!(c.get(b"k").unwrap(), None);
}

// ---- storage ---------------------------------------------------------------

#[test]
fn set_stores_and_overwrites() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(c.set(b"k", b"one", 0, 0, WAIT).unwrap());
    assert!(c.set(b"k", b"two", 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, b"k").unwrap(), b"two");
    assert!(c.store(StoreCmd::Set, b"k", b"three", 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, b"k").unwrap(), b"three");
}

#[test]
fn add_stores_only_when_absent() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(c.add(b"k", b"first", 1, 0, WAIT).unwrap());
    assert!(!c.add(b"k", b"second", 2, 0, WAIT).unwrap());
    let it = c.get(b"k").unwrap().unwrap();
    assert_eq!((it.value.as_slice(), it.flags), (&b"first"[..], 1));
}

#[test]
fn replace_stores_only_when_present() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(!c.replace(b"k", b"x", 0, 0, WAIT).unwrap());
    assert_eq!(c.get(b"k").unwrap(), None);
    c.set(b"k", b"old", 0, 0, WAIT).unwrap();
    assert!(c.replace(b"k", b"new", 4, 0, WAIT).unwrap());
    let it = c.get(b"k").unwrap().unwrap();
    assert_eq!((it.value.as_slice(), it.flags), (&b"new"[..], 4));
}

#[test]
fn append_and_prepend() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    // Missing key: not stored, and nothing is created.
    assert!(!c.append(b"k", b"x", WAIT).unwrap());
    assert!(!c.prepend(b"k", b"x", WAIT).unwrap());
    assert_eq!(c.get(b"k").unwrap(), None);
    c.set(b"k", b"mid", 7, 0, WAIT).unwrap();
    assert!(c.append(b"k", b"-end", WAIT).unwrap());
    assert!(c.prepend(b"k", b"start-", WAIT).unwrap());
    let it = c.get(b"k").unwrap().unwrap();
    // append/prepend keep the item's flags.
    assert_eq!((it.value.as_slice(), it.flags), (&b"start-mid-end"[..], 7));
}

#[test]
fn default_noreply_true_returns_true_and_the_effect_happens() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    // default_noreply is true by default: every one of these returns true
    // without waiting, whatever the server did.
    assert!(c.set(b"k", b"v", 2, 0, DEFAULT).unwrap());
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
    assert!(c.add(b"k", b"ignored", 0, 0, DEFAULT).unwrap()); // not stored, still true
    assert!(c.replace(b"missing", b"x", 0, 0, DEFAULT).unwrap()); // not stored, still true
    assert!(c.append(b"k", b"+a", DEFAULT).unwrap());
    assert!(c.prepend(b"k", b"p+", DEFAULT).unwrap());
    assert!(c.append(b"missing", b"x", DEFAULT).unwrap());
    let it = c.get(b"k").unwrap().unwrap();
    assert_eq!((it.value.as_slice(), it.flags), (&b"p+v+a"[..], 2));
    assert_eq!(c.get(b"missing").unwrap(), None);
    assert!(c.delete(b"k", DEFAULT).unwrap());
    assert_eq!(c.get(b"k").unwrap(), None);
    assert!(c.delete(b"k", DEFAULT).unwrap()); // not found, still true
    c.set(b"f", b"v", 0, 0, DEFAULT).unwrap();
    c.flush_all(0, DEFAULT).unwrap();
    assert_eq!(c.get(b"f").unwrap(), None);
    // Explicit noreply overrides a waiting default too.
    let w = client_with(&mc.addr(), |o| o.default_noreply = false);
    w.set(b"n", b"v", 0, 0, WAIT).unwrap();
    assert!(w.add(b"n", b"x", 0, 0, NOREPLY).unwrap());
    assert!(w.append(b"missing", b"x", NOREPLY).unwrap());
    assert_eq!(get_value(&w, b"n").unwrap(), b"v");
}

#[test]
fn default_noreply_false_reports_outcomes() {
    let mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| o.default_noreply = false);
    assert!(c.set(b"k", b"v", 0, 0, DEFAULT).unwrap());
    assert!(!c.add(b"k", b"x", 0, 0, DEFAULT).unwrap());
    assert!(!c.replace(b"missing", b"x", 0, 0, DEFAULT).unwrap());
    assert!(!c.append(b"missing", b"x", DEFAULT).unwrap());
    assert!(!c.prepend(b"missing", b"x", DEFAULT).unwrap());
    assert!(c.delete(b"k", DEFAULT).unwrap());
    assert!(!c.delete(b"k", DEFAULT).unwrap());
    assert_eq!(
        c.set_many(&[(b"a", b"1")], 0, 0, DEFAULT).unwrap(),
        Vec::<usize>::new()
    );
    assert_eq!(c.delete_many(&[b"a", b"b"], DEFAULT).unwrap(), 1);
    c.flush_all(0, DEFAULT).unwrap();
}

// ---- set_many ----------------------------------------------------------------

#[test]
fn set_many_stores_everything_and_returns_no_failures() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let items: [(&[u8], &[u8]); 3] = [(b"a", b"1"), (b"b", b""), (b"c", b"three")];
    assert_eq!(
        c.set_many(&items, 42, 0, WAIT).unwrap(),
        Vec::<usize>::new()
    );
    let r = c.get_many(&[b"a", b"b", b"c"]).unwrap();
    for ((_, v), it) in items.iter().zip(r) {
        let it = it.expect("stored");
        assert_eq!((it.value.as_slice(), it.flags), (*v, 42));
    }
    // Overwrites existing items, and the same key twice: the last one wins.
    let again: [(&[u8], &[u8]); 2] = [(b"a", b"x"), (b"a", b"y")];
    assert_eq!(c.set_many(&again, 0, 0, WAIT).unwrap(), Vec::<usize>::new());
    assert_eq!(get_value(&c, b"a").unwrap(), b"y");
    // An expiry in the past applies to every item.
    let gone: [(&[u8], &[u8]); 2] = [(b"p", b"1"), (b"q", b"2")];
    assert!(c.set_many(&gone, 0, -1, WAIT).unwrap().is_empty());
    assert_eq!(present(&c.get_many(&[b"p", b"q"]).unwrap()), [false, false]);
}

/// memcached stays silent about failures of noreply commands; the client
/// must not expect (or leave behind) a reply for any of them.
#[test]
fn failing_noreply_commands_keep_the_stream_in_step() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"s", b"abc", 0, 0, WAIT).unwrap();
    c.set(b"n", b"5", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"s", 1, NOREPLY).unwrap(), None); // CLIENT_ERROR unsent
    assert_eq!(c.decr(b"missing", 1, NOREPLY).unwrap(), None);
    assert!(c.touch(b"missing", 1, NOREPLY).unwrap());
    assert_eq!(
        c.cas(b"s", b"x", 999_999, 0, 0, NOREPLY).unwrap(),
        CasOutcome::Stored
    );
    assert_eq!(
        c.cas(b"missing", b"x", 1, 0, 0, NOREPLY).unwrap(),
        CasOutcome::Stored
    );
    assert!(c.add(b"s", b"x", 0, 0, NOREPLY).unwrap());
    assert!(c.replace(b"missing", b"x", 0, 0, NOREPLY).unwrap());
    assert!(c.prepend(b"missing", b"x", NOREPLY).unwrap());
    assert!(c.delete(b"missing", NOREPLY).unwrap());
    assert_eq!(c.delete_many(&[b"missing", b"gone"], NOREPLY).unwrap(), 2);
    // Every reply now belongs to the command that asked for it.
    assert_eq!(get_value(&c, b"s").unwrap(), b"abc");
    assert_eq!(c.incr(b"n", 1, WAIT).unwrap(), Some(6));
    assert_eq!(c.get(b"missing").unwrap(), None);
    assert_eq!(c.version().unwrap(), "1.6.18");
}

#[test]
fn set_many_with_noreply() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let items: [(&[u8], &[u8]); 2] = [(b"a", b"1"), (b"b", b"2")];
    assert!(c.set_many(&items, 0, 0, NOREPLY).unwrap().is_empty());
    assert!(c.set_many(&items, 1, 0, DEFAULT).unwrap().is_empty());
    let r = c.get_many(&[b"a", b"b"]).unwrap();
    assert_eq!(r[0].as_ref().unwrap().value, b"1");
    assert_eq!(r[1].as_ref().unwrap().flags, 1);
}

#[test]
fn set_many_of_nothing_is_a_no_op() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(c.set_many(&[], 0, 0, WAIT).unwrap().is_empty());
    assert!(c.set_many(&[], 0, 0, NOREPLY).unwrap().is_empty());
    assert_eq!(c.delete_many(&[], WAIT).unwrap(), 0);
    assert!(!c.is_connected());
}

#[test]
fn set_many_with_an_item_over_the_server_limit() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let big = vec![b'x'; 2 * 1024 * 1024];
    let items: [(&[u8], &[u8]); 3] = [(b"a", b"1"), (b"big", &big), (b"c", b"3")];
    // Waiting: memcached answers SERVER_ERROR (not NOT_STORED), which is an
    // error, as in pymemcache.
    assert_err!(
        c.set_many(&items, 0, 0, WAIT),
        Error::ServerError { text, .. } if text.contains("too large")
    );
    assert!(!c.is_connected());
    // The client works afterwards; the items around the big one were stored.
    assert_eq!(get_value(&c, b"a").unwrap(), b"1");
    assert_eq!(c.get(b"big").unwrap(), None);
    c.delete_many(&[b"a", b"c"], WAIT).unwrap();
    // With noreply the server stays silent: nothing to report, and no stray
    // error line is left to be read as the reply of the next command.
    assert!(c.set_many(&items, 0, 0, NOREPLY).unwrap().is_empty());
    assert_eq!(
        present(&c.get_many(&[b"a", b"big", b"c"]).unwrap()),
        [true, false, true]
    );
    assert!(c.set(b"big", &big, 0, 0, NOREPLY).unwrap());
    assert_eq!(c.version().unwrap(), "1.6.18");
}

// ---- cas ---------------------------------------------------------------------

#[test]
fn cas_stored_exists_and_not_found() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(
        c.cas(b"missing", b"v", 1, 0, 0, WAIT).unwrap(),
        CasOutcome::NotFound
    );
    c.set(b"k", b"v1", 0, 0, WAIT).unwrap();
    let cas = c.gets(b"k").unwrap().unwrap().cas.unwrap();
    // Someone else changes the item: the old cas no longer matches.
    let other = client(&mc);
    other.set(b"k", b"other", 0, 0, WAIT).unwrap();
    assert_eq!(
        c.cas(b"k", b"mine", cas, 0, 0, WAIT).unwrap(),
        CasOutcome::Exists
    );
    assert_eq!(get_value(&c, b"k").unwrap(), b"other");
    // With the fresh cas it is stored, with its flags.
    let cas = c.gets(b"k").unwrap().unwrap().cas.unwrap();
    assert_eq!(
        c.cas(b"k", b"mine", cas, 8, 0, DEFAULT).unwrap(),
        CasOutcome::Stored
    );
    let it = c.get(b"k").unwrap().unwrap();
    assert_eq!((it.value.as_slice(), it.flags), (&b"mine"[..], 8));
    // The same cas a second time: exists.
    assert_eq!(
        c.cas(b"k", b"again", cas, 0, 0, WAIT).unwrap(),
        CasOutcome::Exists
    );
    // noreply: reported as stored whatever happened.
    assert_eq!(
        c.cas(b"k", b"blind", 1, 0, 0, NOREPLY).unwrap(),
        CasOutcome::Stored
    );
    assert_eq!(get_value(&c, b"k").unwrap(), b"mine");
}

// ---- delete ------------------------------------------------------------------

#[test]
fn delete_found_not_found_and_noreply() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert!(c.delete(b"k", WAIT).unwrap());
    assert_eq!(c.get(b"k").unwrap(), None);
    assert!(!c.delete(b"k", WAIT).unwrap());
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert!(c.delete(b"k", NOREPLY).unwrap());
    assert_eq!(c.get(b"k").unwrap(), None);
}

#[test]
fn delete_many_counts_deleted_keys() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    for k in [&b"a"[..], b"b", b"c"] {
        c.set(k, b"v", 0, 0, WAIT).unwrap();
    }
    assert_eq!(c.delete_many(&[b"a", b"x", b"c", b"a"], WAIT).unwrap(), 2);
    assert_eq!(
        present(&c.get_many(&[b"a", b"b", b"c"]).unwrap()),
        [false, true, false]
    );
    // noreply: the number of keys sent.
    assert_eq!(c.delete_many(&[b"b", b"y"], NOREPLY).unwrap(), 2);
    assert_eq!(c.get(b"b").unwrap(), None);
}

// ---- incr / decr -------------------------------------------------------------

#[test]
fn incr_and_decr_return_the_new_value() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(c.incr(b"missing", 1, WAIT).unwrap(), None);
    assert_eq!(c.decr(b"missing", 1, WAIT).unwrap(), None);
    assert_eq!(c.get(b"missing").unwrap(), None);
    c.set(b"n", b"10", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"n", 5, DEFAULT).unwrap(), Some(15));
    assert_eq!(c.incr(b"n", 0, WAIT).unwrap(), Some(15));
    assert_eq!(c.decr(b"n", 6, DEFAULT).unwrap(), Some(9));
    // memcached pads a shrunk number with spaces in place.
    assert_eq!(get_value(&c, b"n").unwrap().trim_ascii_end(), b"9");
    assert_eq!(c.incr(b"n", 1_000_000, WAIT).unwrap(), Some(1_000_009));
    assert_eq!(get_value(&c, b"n").unwrap(), b"1000009");
}

#[test]
fn decr_stops_at_zero() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"n", b"3", 0, 0, WAIT).unwrap();
    assert_eq!(c.decr(b"n", 100, WAIT).unwrap(), Some(0));
    assert_eq!(c.decr(b"n", 1, WAIT).unwrap(), Some(0));
    assert_eq!(c.decr(b"n", u64::MAX, WAIT).unwrap(), Some(0));
}

#[test]
fn incr_wraps_at_2_pow_64() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    // Stored counters stay below 2^63: memcached 1.6.18 reads a counter of
    // 2^63 or more with strchr(value, '-'), which runs past the value into
    // whatever the slab holds next and may refuse it as non-numeric.
    c.set(b"n", b"9223372036854775807", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"n", (1 << 63) + 1, WAIT).unwrap(), Some(0));
    c.set(b"n", b"9223372036854775806", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"n", (1 << 63) + 6, WAIT).unwrap(), Some(4));
    // The largest delta.
    c.set(b"m", b"1", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"m", u64::MAX, WAIT).unwrap(), Some(0));
    c.set(b"m", b"0", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"m", u64::MAX, WAIT).unwrap(), Some(u64::MAX));
}

#[test]
fn incr_of_a_non_number_is_a_client_error_and_the_client_recovers() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"s", b"abc", 0, 0, WAIT).unwrap();
    assert_err!(
        c.incr(b"s", 1, WAIT),
        Error::ClientError { text, .. } if text == "cannot increment or decrement non-numeric value"
    );
    assert_err!(c.decr(b"s", 1, WAIT), Error::ClientError { .. });
    // The next command on the same client works.
    assert_eq!(get_value(&c, b"s").unwrap(), b"abc");
    c.set(b"n", b"1", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"n", 1, WAIT).unwrap(), Some(2));
    // The error names the server.
    let e = c.incr(b"s", 1, WAIT).unwrap_err();
    assert!(e.to_string().contains(&mc.addr()), "{e}");
}

#[test]
fn incr_decr_with_noreply() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"n", b"5", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"n", 3, NOREPLY).unwrap(), None);
    assert_eq!(c.decr(b"n", 1, NOREPLY).unwrap(), None);
    assert_eq!(c.incr(b"missing", 3, NOREPLY).unwrap(), None);
    assert_eq!(c.incr(b"n", 0, WAIT).unwrap(), Some(7));
}

// ---- touch -------------------------------------------------------------------

#[test]
fn touch_found_and_not_found() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(!c.touch(b"missing", 100, WAIT).unwrap());
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert!(c.touch(b"k", 100, WAIT).unwrap());
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
    assert!(c.touch(b"missing", 100, NOREPLY).unwrap());
    // The default follows default_noreply, as pymemcache's touch(noreply=None):
    // on by default, so the outcome is not waited for.
    assert!(c.touch(b"missing", 100, DEFAULT).unwrap());
    let waits = client_with(&mc.addr(), |o| o.default_noreply = false);
    assert!(!waits.touch(b"missing", 100, DEFAULT).unwrap());
    assert!(waits.touch(b"k", 100, DEFAULT).unwrap());
    // Touch with a past expiry: found, then gone.
    assert!(c.touch(b"k", -1, WAIT).unwrap());
    assert_eq!(c.get(b"k").unwrap(), None);
}

// ---- stats, version, flush_all, cache_memlimit -------------------------------

#[test]
fn stats_general_values_are_typed() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let all = c.stats(&[]).unwrap();
    assert_eq!(all.len(), 1);
    let s = &all[0];
    assert_eq!(s.server, mc.addr());
    assert_eq!(
        s.get("pid").unwrap().value,
        StatValue::Int(i128::from(mc.pid()))
    );
    assert_eq!(
        s.get("version").unwrap().value,
        StatValue::Text("1.6.18".into())
    );
    assert!(
        matches!(s.get("rusage_user").unwrap().value, StatValue::Float(f) if f >= 0.0),
        "{:?}",
        s.get("rusage_user")
    );
    assert!(matches!(
        s.get("rusage_system").unwrap().value,
        StatValue::Float(_)
    ));
    // Text that is not a number stays text.
    assert!(matches!(&s.get("libevent").unwrap().value, StatValue::Text(t) if t.contains('.')));
    assert!(s.get("no_such_stat").is_none());
    assert!(s.stats.len() > 40);
    // Counters move.
    let before = int_stat(&c, &[], "cmd_set");
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    c.get(b"k").unwrap();
    assert_eq!(int_stat(&c, &[], "cmd_set"), before + 1);
    assert!(int_stat(&c, &[], "get_hits") >= 1);
}

#[test]
fn stats_settings() {
    let mc = Memcached::tcp(&["-I", "2m"]);
    let c = client(&mc);
    let all = c.stats(&["settings"]).unwrap();
    let s = &all[0];
    // memcached 1.6 says "yes" here; like pymemcache (int(b"yes") fails and
    // the raw value is kept), the value stays text.
    let cas = s.get("cas_enabled").unwrap();
    assert_eq!(cas.raw, "yes");
    assert_eq!(cas.value, StatValue::Text("yes".into()));
    assert_eq!(s.get("slab_automove").unwrap().value, StatValue::Bool(true));
    assert_eq!(
        s.get("auth_enabled_sasl").unwrap().value,
        StatValue::Bool(false)
    );
    assert_eq!(
        s.get("growth_factor").unwrap().value,
        StatValue::Float(1.25)
    );
    assert_eq!(s.get("umask").unwrap().value, StatValue::Int(0o700));
    assert_eq!(
        s.get("item_size_max").unwrap().value,
        StatValue::Int(2 * 1024 * 1024)
    );
    assert_eq!(
        s.get("inter").unwrap().value,
        StatValue::Text("127.0.0.1".into())
    );
    assert_eq!(
        s.get("tcpport").unwrap().raw,
        mc.addr().rsplit(':').next().unwrap()
    );
}

#[test]
fn stats_items_and_slabs_after_sets() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    for i in 0..10 {
        c.set(format!("k{i}").as_bytes(), b"small", 0, 0, WAIT)
            .unwrap();
    }
    let items = c.stats(&["items"]).unwrap().remove(0);
    let number: i128 = items
        .stats
        .iter()
        .filter(|s| s.name.starts_with("items:") && s.name.ends_with(":number"))
        .map(|s| match s.value {
            StatValue::Int(n) => n,
            ref v => panic!("{}: {v:?}", s.name),
        })
        .sum();
    assert_eq!(number, 10);
    let slabs = c.stats(&["slabs"]).unwrap().remove(0);
    assert!(matches!(
        slabs.get("active_slabs").unwrap().value,
        StatValue::Int(n) if n >= 1
    ));
    assert!(slabs.stats.iter().any(|s| s.name.ends_with(":chunk_size")));
    assert_eq!(get_value(&c, b"k3").unwrap(), b"small");
}

#[test]
fn stats_reset_clears_counters() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    c.get(b"k").unwrap();
    assert!(int_stat(&c, &[], "get_hits") >= 1);
    let r = c.stats(&["reset"]).unwrap();
    assert!(r[0].stats.is_empty());
    assert_eq!(int_stat(&c, &[], "get_hits"), 0);
}

#[test]
fn stats_cachedump_lists_items_as_pymemcache_does() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"dumped", b"abc", 0, 0, WAIT).unwrap();
    // memcached answers with "ITEM <key> [<bytes> b; <exptime> s]" lines,
    // which pymemcache returns keyed by the item's key.
    // (It lists the cold LRU only, which a new item reaches shortly.)
    let mut dump = None;
    assert!(eventually(Duration::from_secs(5), || {
        let d = c.stats(&["cachedump", "1", "10"]).unwrap().remove(0);
        let listed = d.get("dumped").is_some();
        dump = Some(d);
        listed
    }));
    let dump = dump.unwrap();
    let item = dump.get("dumped").unwrap();
    assert!(item.raw.starts_with("[3 b;"), "{:?}", item.raw);
    assert!(matches!(item.value, StatValue::Text(_)));
    assert_eq!(dump.stats.len(), 1);
    // Unknown sub-command: memcached says ERROR.
    assert_err!(c.stats(&["bogus"]), Error::UnknownCommand { .. });
    assert_eq!(get_value(&c, b"dumped").unwrap(), b"abc");
}

#[test]
fn stats_with_an_illegal_argument_is_refused() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_err!(c.stats(&["a b"]), Error::IllegalInput(_));
    assert_err!(c.stats(&["items\r\nflush_all"]), Error::IllegalInput(_));
    assert_err!(c.stats(&[""]), Error::IllegalInput(_));
    assert!(!c.is_connected());
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert_err!(c.stats(&["slabs", "x\ty"]), Error::IllegalInput(_));
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
}

#[test]
fn version_matches_the_binary() {
    let bin = std::env::var("MEMCACHED_BIN").unwrap_or_else(|_| "memcached".into());
    let out = std::process::Command::new(bin).arg("-V").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = text.split_whitespace().nth(1).expect("memcached -V output");
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(c.version().unwrap(), expected);
    assert_eq!(c.version().unwrap(), "1.6.18");
}

#[test]
fn flush_all_removes_everything() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    for k in [&b"a"[..], b"b", b"c"] {
        c.set(k, b"v", 0, 0, WAIT).unwrap();
    }
    c.flush_all(0, WAIT).unwrap();
    assert_eq!(
        present(&c.get_many(&[b"a", b"b", b"c"]).unwrap()),
        [false, false, false]
    );
    // New items are kept.
    c.set(b"d", b"v", 0, 0, WAIT).unwrap();
    assert_eq!(get_value(&c, b"d").unwrap(), b"v");
    c.flush_all(0, NOREPLY).unwrap();
    assert_eq!(c.get(b"d").unwrap(), None);
}

#[test]
fn flush_all_with_a_delay() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    let t0 = Instant::now();
    c.flush_all(3, WAIT).unwrap();
    assert_eq!(get_value(&c, b"k").unwrap(), b"v", "flushed at once");
    assert!(eventually(Duration::from_secs(6), || c
        .get(b"k")
        .unwrap()
        .is_none()));
    assert!(t0.elapsed() >= Duration::from_millis(900));
}

#[test]
fn cache_memlimit_changes_the_limit() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(int_stat(&c, &[], "limit_maxbytes"), 64 * 1024 * 1024);
    c.cache_memlimit(100).unwrap();
    assert_eq!(int_stat(&c, &[], "limit_maxbytes"), 100 * 1024 * 1024);
    c.cache_memlimit(32).unwrap();
    assert_eq!(int_stat(&c, &[], "limit_maxbytes"), 32 * 1024 * 1024);
    // Below memcached's minimum: its own reply line, not OK, as in
    // pymemcache an unknown error; the client recovers.
    assert_err!(
        c.cache_memlimit(1),
        Error::UnknownError { text, .. } if text.contains("MEMLIMIT_TOO_SMALL")
    );
    assert_eq!(int_stat(&c, &[], "limit_maxbytes"), 32 * 1024 * 1024);
}

// ---- raw_command ---------------------------------------------------------------

#[test]
fn raw_command_returns_the_reply_up_to_the_end_token() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_eq!(
        c.raw_command(b"version", b"\r\n").unwrap(),
        b"VERSION 1.6.18"
    );
    let stats = c.raw_command(b"stats", b"END\r\n").unwrap();
    let text = String::from_utf8(stats).unwrap();
    assert!(text.starts_with("STAT pid "), "{text}");
    assert!(text.contains(&format!("STAT pid {}\r\n", mc.pid())));
    assert!(text.ends_with("\r\n") && !text.contains("END"));
    c.set(b"k", b"val", 3, 0, WAIT).unwrap();
    assert_eq!(
        c.raw_command(b"get k", b"END\r\n").unwrap(),
        b"VALUE k 3 3\r\nval\r\n"
    );
    assert_eq!(c.raw_command(b"get nope", b"END\r\n").unwrap(), b"");
    // The stream stays in step: a normal command right after.
    assert_eq!(get_value(&c, b"k").unwrap(), b"val");
    assert_eq!(c.raw_command(b"delete k", b"\r\n").unwrap(), b"DELETED");
    assert_eq!(c.get(b"k").unwrap(), None);
}

#[test]
fn raw_command_unknown_is_unknown_command() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_err!(
        c.raw_command(b"bogus", b"END\r\n"),
        Error::UnknownCommand { text, .. } if text.starts_with("ERROR")
    );
    assert_err!(
        c.raw_command(b"bogus", b"\r\n"),
        Error::UnknownCommand { .. }
    );
    // A server complaint about the line is a client error.
    assert_err!(
        c.raw_command(b"incr", b"\r\n"),
        Error::UnknownCommand { .. } | Error::ClientError { .. }
    );
    assert_eq!(c.version().unwrap(), "1.6.18");
}

#[test]
fn raw_command_with_a_line_break_is_illegal() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert_err!(
        c.raw_command(b"get a\r\nflush_all", b"\r\n"),
        Error::IllegalInput(_)
    );
    assert_err!(c.raw_command(b"get a\nb", b"\r\n"), Error::IllegalInput(_));
    assert_err!(c.raw_command(b"", b"\r\n"), Error::IllegalInput(_));
    assert_err!(c.raw_command(b"version", b""), Error::IllegalInput(_));
    assert!(!c.is_connected());
}

// ---- shutdown, quit, close -----------------------------------------------------

#[test]
fn shutdown_without_dash_a_is_refused() {
    let mut mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert_err!(
        c.shutdown(false),
        Error::UnknownCommand { text, .. } if text.contains("shutdown not enabled")
    );
    assert_err!(c.shutdown(true), Error::UnknownCommand { .. });
    // Still running, data intact, the same client works.
    assert!(!mc.wait_exit(Duration::from_millis(300)));
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
}

#[test]
fn shutdown_with_dash_a_stops_the_server() {
    let mut mc = Memcached::tcp(&["-A"]);
    let c = client(&mc);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    c.shutdown(false).unwrap();
    assert!(
        mc.wait_exit(Duration::from_secs(10)),
        "memcached still runs"
    );
    assert!(!c.is_connected());
    assert_err!(c.get(b"k"), Error::Io { .. });
}

#[test]
fn graceful_shutdown_with_dash_a_stops_the_server() {
    let mut mc = Memcached::tcp(&["-A"]);
    let c = client(&mc);
    c.shutdown(true).unwrap();
    assert!(
        mc.wait_exit(Duration::from_secs(10)),
        "memcached still runs"
    );
}

#[test]
fn quit_closes_and_the_next_command_reconnects() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    // quit on a client that never connected does not connect.
    c.quit().unwrap();
    assert!(!c.is_connected());
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert!(c.is_connected());
    let observer = client(&mc);
    let total = settled_stat(&observer, "total_connections");
    let open = int_stat(&observer, &[], "curr_connections");
    c.quit().unwrap();
    assert!(!c.is_connected());
    // The server saw the connection go away.
    assert!(eventually(Duration::from_secs(5), || {
        int_stat(&observer, &[], "curr_connections") == open - 1
    }));
    // The next command opens a new connection.
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
    assert!(c.is_connected());
    assert_eq!(int_stat(&observer, &[], "total_connections"), total + 1);
    assert!(eventually(Duration::from_secs(5), || {
        int_stat(&observer, &[], "curr_connections") == open
    }));
}

#[test]
fn close_then_the_next_command_reconnects() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.close(); // closing a closed client is fine
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    let conns = settled_stat(&c, "total_connections");
    c.close();
    assert!(!c.is_connected());
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
    assert_eq!(int_stat(&c, &[], "total_connections"), conns + 1);
    c.close();
    c.close();
    assert!(c.set(b"k2", b"v2", 0, 0, WAIT).unwrap());
}

// ---- flags and expiry ------------------------------------------------------------

#[test]
fn flags_round_trip() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    for (i, flags) in [0u32, 1, 16, 0x8000_0000, u32::MAX].into_iter().enumerate() {
        let key = format!("k{i}");
        c.set(key.as_bytes(), b"v", flags, 0, WAIT).unwrap();
        assert_eq!(c.get(key.as_bytes()).unwrap().unwrap().flags, flags);
        assert_eq!(c.gets(key.as_bytes()).unwrap().unwrap().flags, flags);
        assert_eq!(c.gat(key.as_bytes(), 0).unwrap().unwrap().flags, flags);
        assert_eq!(
            c.get_many(&[key.as_bytes()]).unwrap()[0]
                .as_ref()
                .unwrap()
                .flags,
            flags
        );
        let cas = c.gets(key.as_bytes()).unwrap().unwrap().cas.unwrap();
        let new_flags = flags.wrapping_add(1);
        c.cas(key.as_bytes(), b"w", cas, new_flags, 0, WAIT)
            .unwrap();
        assert_eq!(c.get(key.as_bytes()).unwrap().unwrap().flags, new_flags);
    }
    c.set_many(&[(b"m1", b"1"), (b"m2", b"2")], u32::MAX, 0, WAIT)
        .unwrap();
    assert!(c
        .get_many(&[b"m1", b"m2"])
        .unwrap()
        .iter()
        .all(|i| i.as_ref().unwrap().flags == u32::MAX));
}

#[test]
fn expiry_in_the_past_makes_the_item_unavailable() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(c.set(b"neg", b"v", 0, -1, WAIT).unwrap());
    assert_eq!(c.get(b"neg").unwrap(), None);
    assert!(c.set(b"neg_big", b"v", 0, -1_000_000, WAIT).unwrap());
    assert_eq!(c.get(b"neg_big").unwrap(), None);
    // An absolute Unix time (over 30 days) in the past.
    assert!(c.set(b"past", b"v", 0, unix_now() - 3600, WAIT).unwrap());
    assert_eq!(c.get(b"past").unwrap(), None);
    assert!(c.add(b"past2", b"v", 0, -1, WAIT).unwrap());
    assert_eq!(c.get(b"past2").unwrap(), None);
    // And in the future: still there.
    assert!(c.set(b"future", b"v", 0, unix_now() + 3600, WAIT).unwrap());
    assert!(c.set(b"rel", b"v", 0, 3600, WAIT).unwrap());
    assert_eq!(
        present(&c.get_many(&[b"future", b"rel"]).unwrap()),
        [true, true]
    );
}

#[test]
fn short_expiry_runs_out_and_touch_gat_extend_it() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    // memcached's clock ticks once a second, so an expiry of 1 s can run out
    // at any moment; 2 s leaves a whole second to see the items first.
    c.set(b"plain", b"v", 0, 2, WAIT).unwrap();
    c.set(b"touched", b"v", 0, 2, WAIT).unwrap();
    c.set(b"gat", b"v", 0, 2, WAIT).unwrap();
    c.set(b"shortened", b"v", 0, 1000, WAIT).unwrap();
    assert!(c.touch(b"touched", 1000, WAIT).unwrap());
    assert!(c.gat(b"gat", 1000).unwrap().is_some());
    assert!(c.touch(b"shortened", 2, WAIT).unwrap());
    assert_eq!(
        present(
            &c.get_many(&[b"plain", b"touched", b"gat", b"shortened"])
                .unwrap()
        ),
        [true, true, true, true]
    );
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(
        present(
            &c.get_many(&[b"plain", b"touched", b"gat", b"shortened"])
                .unwrap()
        ),
        [false, true, true, false]
    );
}

// ---- TCP and UNIX socket -----------------------------------------------------------

fn representative_sequence(c: &Client) {
    assert_eq!(c.get(b"k").unwrap(), None);
    assert!(c.set(b"k", b"v\r\n\0", 3, 0, WAIT).unwrap());
    let it = c.gets(b"k").unwrap().unwrap();
    assert_eq!((it.value.as_slice(), it.flags), (&b"v\r\n\0"[..], 3));
    assert_eq!(
        c.cas(b"k", b"w", it.cas.unwrap(), 0, 0, WAIT).unwrap(),
        CasOutcome::Stored
    );
    assert!(!c.add(b"k", b"x", 0, 0, WAIT).unwrap());
    assert!(c.append(b"k", b"!", WAIT).unwrap());
    assert_eq!(get_value(c, b"k").unwrap(), b"w!");
    assert!(c
        .set_many(&[(b"n", b"41"), (b"m", b"x")], 0, 0, WAIT)
        .unwrap()
        .is_empty());
    assert_eq!(c.incr(b"n", 1, WAIT).unwrap(), Some(42));
    assert_eq!(
        present(&c.get_many(&[b"k", b"nope", b"n"]).unwrap()),
        [true, false, true]
    );
    assert!(c.touch(b"k", 100, WAIT).unwrap());
    let big = vec![7u8; 300 * 1024];
    assert!(c.set(b"big", &big, 0, 0, WAIT).unwrap());
    assert_eq!(get_value(c, b"big").unwrap(), big);
    assert_eq!(c.delete_many(&[b"k", b"m", b"zz"], WAIT).unwrap(), 2);
    assert_eq!(c.version().unwrap(), "1.6.18");
    assert!(matches!(
        c.stats(&[]).unwrap()[0].get("curr_items").unwrap().value,
        StatValue::Int(2)
    ));
    c.quit().unwrap();
    assert_eq!(get_value(c, b"n").unwrap(), b"42");
    c.flush_all(0, WAIT).unwrap();
    assert_eq!(c.get(b"n").unwrap(), None);
}

#[test]
fn tcp_sequence() {
    let mc = Memcached::tcp(&[]);
    representative_sequence(&client(&mc));
    // TCP options do not change the behaviour.
    let mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| {
        o.no_delay = true;
        o.keepalive = true;
    });
    representative_sequence(&c);
}

#[test]
fn unix_socket_sequence() {
    let mc = Memcached::unix(&[]);
    assert!(mc.addr().starts_with('/'));
    let c = client(&mc);
    representative_sequence(&c);
    assert_eq!(c.stats(&[]).unwrap()[0].server, mc.addr());
}

// ---- keys --------------------------------------------------------------------------

#[test]
fn key_length_limit_is_250_bytes() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let k250 = vec![b'k'; 250];
    let k251 = vec![b'k'; 251];
    assert!(c.set(&k250, b"v", 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, &k250).unwrap(), b"v");
    assert_eq!(present(&c.get_many(&[&k250]).unwrap()), [true]);
    assert!(c.delete(&k250, WAIT).unwrap());
    assert_err!(c.set(&k251, b"v", 0, 0, WAIT), Error::IllegalInput(_));
    assert_err!(c.get(&k251), Error::IllegalInput(_));
    assert_err!(c.delete(&k251, WAIT), Error::IllegalInput(_));
    assert_err!(c.incr(&k251, 1, WAIT), Error::IllegalInput(_));
    assert_err!(c.touch(&k251, 1, WAIT), Error::IllegalInput(_));
    assert_err!(c.get(b""), Error::IllegalInput(_));
    assert_err!(c.set(b"", b"v", 0, 0, WAIT), Error::IllegalInput(_));
    // The connection survived the refusals.
    assert_eq!(c.get(&k250).unwrap(), None);
}

#[test]
fn key_prefix_counts_toward_the_limit_and_is_stored() {
    let mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| o.key_prefix = b"pfx:".to_vec());
    let plain = client(&mc);
    let k246 = vec![b'a'; 246];
    let k247 = vec![b'a'; 247];
    assert!(c.set(&k246, b"v", 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, &k246).unwrap(), b"v");
    assert_err!(c.set(&k247, b"v", 0, 0, WAIT), Error::IllegalInput(_));
    assert_err!(c.get(&k247), Error::IllegalInput(_));
    // What the server holds has the prefix.
    let mut full = b"pfx:".to_vec();
    full.extend_from_slice(&k246);
    assert_eq!(full.len(), 250);
    assert_eq!(get_value(&plain, &full).unwrap(), b"v");
    assert_eq!(plain.get(&k246).unwrap(), None);
    // Every command uses the prefix.
    plain.set(b"pfx:n", b"1", 0, 0, WAIT).unwrap();
    plain.set(b"n", b"100", 0, 0, WAIT).unwrap();
    assert_eq!(c.incr(b"n", 1, WAIT).unwrap(), Some(2));
    let r = c.gets_many(&[b"n", b"zz", &k246]).unwrap();
    assert_eq!(present(&r), [true, false, true]);
    assert_eq!(r[0].as_ref().unwrap().value.trim_ascii_end(), b"2");
    c.set_many(&[(b"x", b"1"), (b"y", b"2")], 0, 0, WAIT)
        .unwrap();
    assert_eq!(
        present(&plain.get_many(&[b"pfx:x", b"pfx:y", b"x"]).unwrap()),
        [true, true, false]
    );
    assert_eq!(c.delete_many(&[b"x", b"y", b"n"], WAIT).unwrap(), 3);
    assert_eq!(get_value(&plain, b"n").unwrap(), b"100");
    // A bad prefix is a configuration error.
    assert!(matches!(
        Client::new(
            &mc.addr(),
            &ClientOptions {
                key_prefix: b"a b".to_vec(),
                ..base_opts()
            }
        ),
        Err(Error::Config(_))
    ));
}

#[test]
fn keys_with_whitespace_or_control_bytes_are_refused() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"ok", b"v", 0, 0, WAIT).unwrap();
    for bad in [
        &b"a b"[..],
        b" lead",
        b"trail ",
        b"a\tb",
        b"a\r\nb",
        b"a\rb",
        b"a\nb",
        b"a\0b",
        b"a\x0bb",
        b"a\x0cb",
        b"get x\r\nflush_all",
    ] {
        assert_err!(c.get(bad), Error::IllegalInput(_));
        assert_err!(c.set(bad, b"v", 0, 0, WAIT), Error::IllegalInput(_));
        assert_err!(c.delete(bad, WAIT), Error::IllegalInput(_));
        assert_err!(c.get_many(&[b"ok", bad]), Error::IllegalInput(_));
    }
    // Nothing reached the server: the item is still there.
    assert_eq!(get_value(&c, b"ok").unwrap(), b"v");
}

/// Keys are bytes, checked as pymemcache checks a `bytes` key: control
/// bytes, non-ASCII bytes, invalid UTF-8 and unicode whitespace are sent
/// and stored whatever `allow_unicode_keys` says (it applies to text keys).
#[test]
fn bytes_keys_allow_every_byte_but_whitespace_and_nul() {
    let mc = Memcached::tcp(&[]);
    let keys: [&[u8]; 9] = [
        "caf\u{e9}-\u{65e5}\u{672c}".as_bytes(),
        b"ctl\x01key",
        b"\x1ckey",
        b"del\x7fkey",
        b"caf\xc3\xa9",
        b"\xff\xfe",
        "a\u{a0}b".as_bytes(),
        "a\u{3000}b".as_bytes(),
        "a\u{85}b".as_bytes(),
    ];
    for unicode in [false, true] {
        let c = client_with(&mc.addr(), |o| o.allow_unicode_keys = unicode);
        for (i, key) in keys.iter().enumerate() {
            let value = format!("v{i}-{unicode}");
            assert!(c.set(key, value.as_bytes(), 0, 0, WAIT).unwrap());
            assert_eq!(get_value(&c, key).unwrap(), value.as_bytes(), "{key:?}");
        }
        let got = c.get_many(&keys).unwrap();
        assert!(got.iter().all(Option::is_some));
        for key in keys {
            assert!(c.delete(key, WAIT).unwrap());
        }
    }
    // Text keys follow pymemcache's str rule.
    let rules = ClientOptions::default().key_rules().unwrap();
    assert_err!(rules.check_text("caf\u{e9}"), Error::IllegalInput(_));
    let unicode = ClientOptions {
        allow_unicode_keys: true,
        ..ClientOptions::default()
    };
    assert!(unicode.key_rules().unwrap().check_text("caf\u{e9}").is_ok());
}

#[test]
fn illegal_input_never_opens_a_connection() {
    let mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| o.max_value_len = 100);
    let long = vec![b'v'; 101];
    assert_err!(c.get(b"a b"), Error::IllegalInput(_));
    assert_err!(c.gets_many(&[b"ok", b"a\nb"]), Error::IllegalInput(_));
    assert_err!(c.set(b"a\0", b"v", 0, 0, WAIT), Error::IllegalInput(_));
    assert_err!(
        c.set_many(&[(b"ok", b"v"), (b"b d", b"v")], 0, 0, WAIT),
        Error::IllegalInput(_)
    );
    assert_err!(
        c.delete_many(&[b"ok", b"x\x0c"], NOREPLY),
        Error::IllegalInput(_)
    );
    assert_err!(c.set(b"ok", &long, 0, 0, WAIT), Error::TooLarge { .. });
    assert_err!(
        c.set_many(&[(b"ok", b"v"), (b"ok2", &long)], 0, 0, NOREPLY),
        Error::TooLarge { .. }
    );
    assert_err!(c.stats(&["a b"]), Error::IllegalInput(_));
    assert_err!(c.raw_command(b"a\r\nb", b"\r\n"), Error::IllegalInput(_));
    assert!(!c.is_connected());
    // Nothing at all was stored by the batches that had one bad item.
    assert_eq!(c.get(b"ok").unwrap(), None);
}

/// A scripted peer records every byte it receives while the client, already
/// connected, tries every kind of illegal input: none of it may reach the
/// wire, and the connection must stay usable.
#[test]
fn illegal_input_writes_not_a_single_byte() {
    let peer = Peer::start(|l| {
        let mut s = accept(&l);
        let mut seen = Vec::new();
        while let Some(line) = read_line(&mut s) {
            seen.extend_from_slice(&line);
            match line.as_slice() {
                b"get ok\r\n" => s.write_all(b"END\r\n").unwrap(),
                b"version\r\n" => s.write_all(b"VERSION 9.9.9\r\n").unwrap(),
                _ => {}
            }
        }
        seen
    });
    let c = client_with(&peer.addr, |o| {
        o.max_value_len = 100_000;
        o.timeout = Some(Duration::from_secs(5));
    });
    assert_eq!(c.get(b"ok").unwrap(), None);
    assert!(c.is_connected());
    let k251 = vec![b'k'; 251];
    let big = vec![b'v'; 100_001];
    // Batches where the bad item comes after what would already be written
    // if items were checked one by one: a value sent straight from the
    // caller's memory, or more items than one pipelined batch.
    let medium = vec![b'm'; 40_000];
    let many_keys: Vec<Vec<u8>> = (0..2500).map(|i| format!("k{i}").into_bytes()).collect();
    let bad_keys: [&[u8]; 6] = [b"a b", b"a\r\nb", b"a\0b", b"a\x0bb", &k251, b""];
    for bad in bad_keys {
        assert_err!(c.get(bad), Error::IllegalInput(_));
        assert_err!(c.gets(bad), Error::IllegalInput(_));
        assert_err!(c.gat(bad, 1), Error::IllegalInput(_));
        assert_err!(c.get_many(&[b"ok", b"ok2", bad]), Error::IllegalInput(_));
        assert_err!(c.gets_many(&[bad, b"ok"]), Error::IllegalInput(_));
        for noreply in [WAIT, NOREPLY] {
            assert_err!(c.set(bad, b"v", 0, 0, noreply), Error::IllegalInput(_));
            assert_err!(c.add(bad, b"v", 0, 0, noreply), Error::IllegalInput(_));
            assert_err!(c.append(bad, b"v", noreply), Error::IllegalInput(_));
            assert_err!(c.cas(bad, b"v", 1, 0, 0, noreply), Error::IllegalInput(_));
            assert_err!(
                c.set_many(&[(b"ok", b"v"), (bad, b"v"), (b"ok2", b"v")], 0, 0, noreply),
                Error::IllegalInput(_)
            );
            assert_err!(
                c.set_many(
                    &[(b"ok", &medium), (b"ok2", &medium), (bad, b"v")],
                    0,
                    0,
                    noreply
                ),
                Error::IllegalInput(_)
            );
            let mut items: Vec<(&[u8], &[u8])> = many_keys
                .iter()
                .map(|k| (k.as_slice(), &b"v"[..]))
                .collect();
            items.push((bad, b"v"));
            assert_err!(c.set_many(&items, 0, 0, noreply), Error::IllegalInput(_));
            let mut keys: Vec<&[u8]> = many_keys.iter().map(|k| k.as_slice()).collect();
            keys.push(bad);
            assert_err!(c.delete_many(&keys, noreply), Error::IllegalInput(_));
            assert_err!(c.get_many(&keys), Error::IllegalInput(_));
            assert_err!(c.delete(bad, noreply), Error::IllegalInput(_));
            assert_err!(
                c.delete_many(&[b"ok", bad, b"ok2"], noreply),
                Error::IllegalInput(_)
            );
            assert_err!(c.incr(bad, 1, noreply), Error::IllegalInput(_));
            assert_err!(c.decr(bad, 1, noreply), Error::IllegalInput(_));
            assert_err!(c.touch(bad, 1, noreply), Error::IllegalInput(_));
        }
    }
    // Values over max_value_len.
    assert_err!(c.set(b"ok", &big, 0, 0, WAIT), Error::TooLarge { .. });
    assert_err!(
        c.replace(b"ok", &big, 0, 0, NOREPLY),
        Error::TooLarge { .. }
    );
    assert_err!(c.cas(b"ok", &big, 1, 0, 0, WAIT), Error::TooLarge { .. });
    assert_err!(
        c.set_many(&[(b"ok", b"v"), (b"ok2", &big)], 0, 0, WAIT),
        Error::TooLarge { .. }
    );
    assert_err!(
        c.set_many(&[(b"ok", &medium), (b"ok2", &big)], 0, 0, NOREPLY),
        Error::TooLarge { .. }
    );
    // Bad arguments of other commands.
    assert_err!(c.stats(&["items", "a b"]), Error::IllegalInput(_));
    assert_err!(
        c.raw_command(b"get a\r\nget b", b"\r\n"),
        Error::IllegalInput(_)
    );
    assert_err!(c.raw_command(b"version", b""), Error::IllegalInput(_));
    // The connection is still the same one and still in step.
    assert!(c.is_connected());
    assert_eq!(c.version().unwrap(), "9.9.9");
    c.close();
    assert_eq!(
        String::from_utf8_lossy(&peer.finish()),
        "get ok\r\nversion\r\n"
    );
}

// ---- binary values -------------------------------------------------------------------

#[test]
fn every_byte_value_round_trips() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let all: Vec<u8> = (0..=255u8).collect();
    let mut twice = all.clone();
    twice.extend(all.iter().rev());
    c.set(b"all", &all, 0, 0, WAIT).unwrap();
    c.set(b"twice", &twice, 0, 0, WAIT).unwrap();
    assert_eq!(get_value(&c, b"all").unwrap(), all);
    let r = c.get_many(&[b"twice", b"all"]).unwrap();
    assert_eq!(r[0].as_ref().unwrap().value, twice);
    assert_eq!(r[1].as_ref().unwrap().value, all);
    // Every single byte on its own.
    let items: Vec<(Vec<u8>, Vec<u8>)> = (0..=255u8)
        .map(|b| (format!("b{b}").into_bytes(), vec![b]))
        .collect();
    let refs: Vec<(&[u8], &[u8])> = items
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    assert!(c.set_many(&refs, 0, 0, WAIT).unwrap().is_empty());
    let keys: Vec<&[u8]> = refs.iter().map(|(k, _)| *k).collect();
    let got = c.get_many(&keys).unwrap();
    for (b, it) in got.into_iter().enumerate() {
        assert_eq!(it.unwrap().value, [b as u8]);
    }
}

#[test]
fn values_that_look_like_protocol_round_trip() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let tricky: [&[u8]; 7] = [
        b"\r\nEND\r\n",
        b"\r\nVALUE x 0 1\r\nx\r\nEND\r\n",
        b"END",
        b"\r\n",
        b"STORED\r\n",
        b"VALUE k 0 5 1\r\n",
        b"\n\n\r\r\0",
    ];
    for (i, v) in tricky.iter().enumerate() {
        let key = format!("t{i}");
        c.set(key.as_bytes(), v, 0, 0, WAIT).unwrap();
        assert_eq!(&get_value(&c, key.as_bytes()).unwrap(), v);
    }
    let keys: Vec<String> = (0..tricky.len()).map(|i| format!("t{i}")).collect();
    let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let mut with_miss = keys.clone();
    with_miss.insert(1, b"x");
    let got = c.gets_many(&with_miss).unwrap();
    assert!(got[1].is_none());
    let got: Vec<Vec<u8>> = got
        .into_iter()
        .flatten()
        .map(|i| i.value)
        .collect::<Vec<_>>();
    assert_eq!(got, tricky.iter().map(|v| v.to_vec()).collect::<Vec<_>>());
    // In append too.
    c.append(b"t0", b"\r\nEND\r\n", WAIT).unwrap();
    assert_eq!(get_value(&c, b"t0").unwrap(), b"\r\nEND\r\n\r\nEND\r\n");
}

#[test]
fn empty_value_round_trips() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    assert!(c.set(b"e", b"", 4, 0, WAIT).unwrap());
    let it = c.get(b"e").unwrap().expect("an empty value is a hit");
    assert_eq!((it.value.len(), it.flags), (0, 4));
    assert_eq!(
        present(&c.get_many(&[b"e", b"x", b"e"]).unwrap()),
        [true, false, true]
    );
    assert!(c.append(b"e", b"", WAIT).unwrap());
    assert_eq!(get_value(&c, b"e").unwrap(), b"");
    assert!(c.append(b"e", b"x", WAIT).unwrap());
    assert_eq!(get_value(&c, b"e").unwrap(), b"x");
}

fn patterned(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn value_near_the_default_item_limit_round_trips() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let v = patterned(1024 * 1024 - 100, 1);
    assert!(c.set(b"near", &v, 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, b"near").unwrap(), v);
    let w = patterned(1024 * 1024 - 100, 2);
    assert!(c.set(b"near2", &w, 0, 0, NOREPLY).unwrap());
    let r = c.get_many(&[b"near", b"nope", b"near2"]).unwrap();
    assert_eq!(r[0].as_ref().unwrap().value, v);
    assert!(r[1].is_none());
    assert_eq!(r[2].as_ref().unwrap().value, w);
}

#[test]
fn multi_megabyte_values_with_a_raised_item_limit() {
    let mc = Memcached::tcp(&["-I", "8m", "-m", "128"]);
    let c = client(&mc);
    let a = patterned(5 * 1024 * 1024 + 17, 3);
    let b = patterned(7 * 1024 * 1024, 4);
    assert!(c.set(b"a", &a, 0, 0, WAIT).unwrap());
    assert!(c
        .set_many(&[(b"b", &b), (b"small", b"s")], 0, 0, WAIT)
        .unwrap()
        .is_empty());
    assert_eq!(get_value(&c, b"a").unwrap(), a);
    let r = c.get_many(&[b"b", b"a", b"none", b"small"]).unwrap();
    assert_eq!(r[0].as_ref().unwrap().value, b);
    assert_eq!(r[1].as_ref().unwrap().value, a);
    assert!(r[2].is_none());
    assert_eq!(r[3].as_ref().unwrap().value, b"s");
    let cas = c.gets(b"a").unwrap().unwrap().cas.unwrap();
    assert_eq!(
        c.cas(b"a", &b, cas, 0, 0, WAIT).unwrap(),
        CasOutcome::Stored
    );
    assert_eq!(get_value(&c, b"a").unwrap(), b);
}

#[test]
fn item_over_the_server_limit_is_a_server_error() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let big = vec![b'x'; 2 * 1024 * 1024];
    c.set(b"other", b"kept", 0, 0, WAIT).unwrap();
    assert_err!(
        c.set(b"big", &big, 0, 0, WAIT),
        Error::ServerError { text, .. } if text.contains("too large")
    );
    assert!(!c.is_connected());
    // The next command on the same client works.
    assert_eq!(get_value(&c, b"other").unwrap(), b"kept");
    assert_eq!(c.get(b"big").unwrap(), None);
    assert_err!(c.add(b"big", &big, 0, 0, WAIT), Error::ServerError { .. });
    assert!(c.set(b"after", b"ok", 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, b"after").unwrap(), b"ok");
    // With noreply: silently not stored, and the stream stays in step.
    assert!(c.set(b"big", &big, 0, 0, NOREPLY).unwrap());
    assert_eq!(c.get(b"big").unwrap(), None);
    assert_eq!(c.version().unwrap(), "1.6.18");
}

// ---- max_value_len -------------------------------------------------------------------

#[test]
fn max_value_len_refuses_to_send_a_longer_value() {
    let mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| o.max_value_len = 1000);
    assert!(c.set(b"exact", &[b'x'; 1000], 0, 0, WAIT).unwrap());
    match c.set(b"over", &[b'x'; 1001], 0, 0, WAIT) {
        Err(Error::TooLarge { len, max, .. }) => assert_eq!((len, max), (1001, 1000)),
        other => panic!("{other:?}"),
    }
    assert_err!(
        c.append(b"exact", &[b'x'; 1001], WAIT),
        Error::TooLarge { .. }
    );
    assert_eq!(c.get(b"over").unwrap(), None);
    assert_eq!(get_value(&c, b"exact").unwrap().len(), 1000);
}

#[test]
fn max_value_len_refuses_a_longer_reply() {
    let mc = Memcached::tcp(&[]);
    let writer = client(&mc);
    writer.set(b"big", &[b'x'; 5000], 0, 0, WAIT).unwrap();
    writer.set(b"small", b"s", 0, 0, WAIT).unwrap();
    let c = client_with(&mc.addr(), |o| o.max_value_len = 1000);
    assert_eq!(get_value(&c, b"small").unwrap(), b"s");
    match c.get(b"big") {
        Err(Error::TooLarge { len, max, .. }) => assert_eq!((len, max), (5000, 1000)),
        other => panic!("{other:?}"),
    }
    assert!(!c.is_connected());
    // The next command works (the unread value is not taken as its reply).
    assert_eq!(get_value(&c, b"small").unwrap(), b"s");
    assert_err!(
        c.get_many(&[b"small", b"big"]),
        Error::TooLarge { len: 5000, .. }
    );
    assert_err!(c.gets(b"big"), Error::TooLarge { .. });
    assert_eq!(
        present(&c.get_many(&[b"small", b"none"]).unwrap()),
        [true, false]
    );
    // raw_command honours the limit too.
    assert_err!(
        c.raw_command(b"get big", b"END\r\n"),
        Error::TooLarge { .. }
    );
    assert_eq!(c.version().unwrap(), "1.6.18");
}

// ---- stalled and killed servers -------------------------------------------------------

#[test]
fn stalled_server_times_out_and_the_client_recovers() {
    let mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| o.timeout = Some(Duration::from_millis(200)));
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    pause(&mc);
    let t0 = Instant::now();
    let res = c.get(b"k");
    let elapsed = t0.elapsed();
    assert_err!(res, Error::Timeout { .. });
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert!(!c.is_connected());
    // A fresh connection to the stopped server: accepted by the kernel,
    // never answered.
    let t0 = Instant::now();
    assert_err!(c.version(), Error::Timeout { .. });
    assert!(t0.elapsed() < Duration::from_secs(2));
    mc.resume();
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
    assert!(c.set(b"k2", b"v2", 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, b"k2").unwrap(), b"v2");
}

#[test]
fn stalled_server_times_out_a_large_write() {
    let mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| o.timeout = Some(Duration::from_millis(200)));
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    pause(&mc);
    // Far more than the socket buffers hold: the write itself stalls.
    let big = vec![b'x'; 48 * 1024 * 1024];
    let t0 = Instant::now();
    assert_err!(c.set(b"big", &big, 0, 0, WAIT), Error::Timeout { .. });
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(!c.is_connected());
    mc.resume();
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
}

#[test]
fn unreachable_addresses() {
    let dir = common::temp_dir();
    let path = dir.join("no-such.sock");
    let c = Client::new(path.to_str().unwrap(), &base_opts()).unwrap();
    assert_err!(
        c.get(b"k"),
        Error::Io { source, .. } if source.kind() == ErrorKind::NotFound
    );
    assert!(!c.is_connected());
    let _ = std::fs::remove_dir_all(dir);
    for bad in ["", "no-port", "host:", "host:99999"] {
        assert!(
            matches!(Client::new(bad, &base_opts()), Err(Error::Config(_))),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn killed_server_then_restart() {
    let mut mc = Memcached::tcp(&[]);
    let c = client(&mc);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert!(c.is_connected());
    mc.kill();
    // The open connection is dead.
    assert_err!(
        c.get(b"k"),
        Error::UnexpectedClose { .. } | Error::Io { .. }
    );
    assert!(!c.is_connected());
    // A new connection is refused.
    assert_err!(
        c.get(b"k"),
        Error::Io { source, .. } if source.kind() == ErrorKind::ConnectionRefused
    );
    assert_err!(c.set(b"k", b"v", 0, 0, WAIT), Error::Io { .. });
    assert_err!(c.version(), Error::Io { .. });
    let fresh = client(&mc);
    let e = fresh.get(b"k").unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.is_connection_failure());
    assert!(e.to_string().contains(&mc.addr()), "{e}");
    mc.restart();
    // The same client reconnects; the restarted server is empty.
    assert_eq!(c.get(b"k").unwrap(), None);
    assert!(c.set(b"k", b"v2", 0, 0, WAIT).unwrap());
    assert_eq!(get_value(&c, b"k").unwrap(), b"v2");
    assert_eq!(get_value(&fresh, b"k").unwrap(), b"v2");
}

#[test]
fn ignore_exc_turns_failed_retrievals_into_misses() {
    let mut mc = Memcached::tcp(&[]);
    let c = client_with(&mc.addr(), |o| o.ignore_exc = true);
    c.set(b"k", b"v", 0, 0, WAIT).unwrap();
    assert_eq!(get_value(&c, b"k").unwrap(), b"v");
    mc.kill();
    assert_eq!(c.get(b"k").unwrap(), None);
    assert_eq!(c.gets(b"k").unwrap(), None);
    assert_eq!(c.gat(b"k", 10).unwrap(), None);
    assert_eq!(c.gats(b"k", 10).unwrap(), None);
    assert_eq!(
        present(&c.get_many(&[b"k", b"a", b"b"]).unwrap()),
        [false, false, false]
    );
    assert_eq!(
        present(&c.gets_many(&[b"k", b"a"]).unwrap()),
        [false, false]
    );
    // stats reads as none (pymemcache returns {}).
    assert!(c.stats(&[]).unwrap().is_empty());
    // Other commands still fail.
    assert_err!(c.set(b"k", b"v", 0, 0, WAIT), Error::Io { .. });
    assert_err!(c.delete(b"k", WAIT), Error::Io { .. });
    assert_err!(c.incr(b"k", 1, WAIT), Error::Io { .. });
    assert_err!(c.version(), Error::Io { .. });
    // Illegal keys are still reported.
    assert_err!(c.get(b"a b"), Error::IllegalInput(_));
    assert_err!(c.get_many(&[b"k", b"a\0"]), Error::IllegalInput(_));
    mc.restart();
    c.set(b"k", b"back", 0, 0, WAIT).unwrap();
    assert_eq!(get_value(&c, b"k").unwrap(), b"back");
    // Without ignore_exc the same failure is an error.
    mc.kill();
    let strict = client(&mc);
    assert_err!(strict.get(b"k"), Error::Io { .. });
    assert_err!(strict.stats(&[]), Error::Io { .. });
}

#[test]
fn ignore_exc_hides_a_bad_reply_but_not_bad_input() {
    let peer = misbehaving_peer(b"GARBAGE\r\n", false);
    let c = client_with(&peer.addr, |o| o.ignore_exc = true);
    assert_err!(c.get_many(&[b"k", b"j k"]), Error::IllegalInput(_));
    assert!(!c.is_connected());
    assert_eq!(c.get_many(&[b"k", b"j"]).unwrap(), vec![None, None]);
    check_recovers(&c, peer, b"get k j\r\n");
}

// ---- misbehaving peers -------------------------------------------------------------------

#[test]
fn garbage_reply_is_an_unknown_error() {
    let peer = misbehaving_peer(b"HELLO THERE\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(
        c.get(b"k"),
        Error::UnknownError { text, .. } if text.contains("HELLO THERE")
    );
    check_recovers(&c, peer, b"get k\r\n");
}

#[test]
fn garbage_store_reply_is_an_unknown_error() {
    let peer = misbehaving_peer(b"STORED_OR_NOT\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.set(b"k", b"v", 0, 0, WAIT), Error::UnknownError { .. });
    check_recovers(&c, peer, b"set k 0 0 1\r\n");
}

#[test]
fn server_and_client_error_replies_keep_the_server_text() {
    let peer = misbehaving_peer(b"SERVER_ERROR out of memory storing object\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(
        c.get(b"k"),
        Error::ServerError { text, .. } if text == "out of memory storing object"
    );
    check_recovers(&c, peer, b"get k\r\n");

    let peer = misbehaving_peer(b"CLIENT_ERROR bad command line format\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(
        c.touch(b"k", 5, WAIT),
        Error::ClientError { text, .. } if text == "bad command line format"
    );
    check_recovers(&c, peer, b"touch k 5\r\n");

    let peer = misbehaving_peer(b"ERROR\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.gat(b"k", 5), Error::UnknownCommand { .. });
    check_recovers(&c, peer, b"gat 5 k\r\n");
}

#[test]
fn half_a_reply_then_close_is_an_unexpected_close() {
    let peer = misbehaving_peer(b"VALUE k 0 10\r\nabc", true);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.get(b"k"), Error::UnexpectedClose { .. });
    check_recovers(&c, peer, b"get k\r\n");

    // A large value cut short, past what the first read takes.
    let mut cut: Vec<u8> = b"VALUE k 0 100000\r\n".to_vec();
    cut.resize(cut.len() + 60_000, b'v');
    let peer = misbehaving_peer(cut.leak(), true);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.get(b"k"), Error::UnexpectedClose { .. });
    check_recovers(&c, peer, b"get k\r\n");

    // Closed in the middle of a line, and before any byte.
    let peer = misbehaving_peer(b"VALU", true);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.get(b"k"), Error::UnexpectedClose { .. });
    check_recovers(&c, peer, b"get k\r\n");

    let peer = misbehaving_peer(b"", true);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(
        c.incr(b"k", 1, WAIT),
        Error::UnexpectedClose { .. } | Error::Io { .. }
    );
    check_recovers(&c, peer, b"incr k 1\r\n");

    // The value complete but not its END line.
    let peer = misbehaving_peer(b"VALUE k 0 3\r\nabc\r\n", true);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.get(b"k"), Error::UnexpectedClose { .. });
    check_recovers(&c, peer, b"get k\r\n");
}

#[test]
fn value_block_without_its_terminator_is_an_unknown_error() {
    // Without the check, "abc" would be taken and "END" read after "\0\0".
    let peer = misbehaving_peer(b"VALUE k 0 3\r\nabc\0\0END\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.get(b"k"), Error::UnknownError { .. });
    check_recovers(&c, peer, b"get k\r\n");
}

#[test]
fn value_for_a_key_not_asked_is_an_unknown_error() {
    let peer = misbehaving_peer(b"VALUE other 0 1\r\nx\r\nEND\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(
        c.get(b"k"),
        Error::UnknownError { text, .. } if text.contains("other")
    );
    check_recovers(&c, peer, b"get k\r\n");

    // Keys out of request order are not accepted either (memcached answers
    // in order).
    let peer = misbehaving_peer(b"VALUE b 0 1\r\nx\r\nVALUE a 0 1\r\ny\r\nEND\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(
        c.get_many(&[b"a", b"b"]),
        Error::UnknownError { text, .. } if text.contains("out of request order: a")
    );
    check_recovers(&c, peer, b"get a b\r\n");

    // A key answered twice is named as such, not as a key never asked.
    let peer = misbehaving_peer(b"VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\ny\r\nEND\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(
        c.get_many(&[b"a", b"b"]),
        Error::UnknownError { text, .. } if text.contains("repeats a key") && text.contains(": a")
    );
    check_recovers(&c, peer, b"get a b\r\n");

    // gets without a cas unique.
    let peer = misbehaving_peer(b"VALUE k 0 1\r\nx\r\nEND\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.gets(b"k"), Error::UnknownError { .. });
    check_recovers(&c, peer, b"gets k\r\n");
}

#[test]
fn ten_gigabyte_announcement_is_too_large_without_allocating() {
    let peer = misbehaving_peer(b"VALUE k 0 10000000000\r\nxxxx", false);
    let c = client_with(&peer.addr, |_| {});
    let t0 = Instant::now();
    match c.get(b"k") {
        Err(Error::TooLarge { len, max, .. }) => {
            assert_eq!(len, 10_000_000_000);
            assert_eq!(max, 64 * 1024 * 1024);
        }
        other => panic!("{other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(2));
    check_recovers(&c, peer, b"get k\r\n");

    // Lengths that do not even fit 64 bits are unparsable.
    let peer = misbehaving_peer(b"VALUE k 0 99999999999999999999999\r\n", false);
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.get(b"k"), Error::UnknownError { .. });
    check_recovers(&c, peer, b"get k\r\n");
}

#[test]
fn endless_reply_line_is_an_error_not_a_giant_buffer() {
    let peer = Peer::start(|l| {
        let mut s = accept(&l);
        let req = read_line(&mut s).unwrap();
        // 10 MB of a line that never ends, unless the client gives up first.
        let chunk = vec![b'A'; 64 * 1024];
        for _ in 0..160 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        drop(s);
        req
    });
    let c = client_with(&peer.addr, |_| {});
    assert_err!(c.version(), Error::UnknownError { .. });
    assert!(!c.is_connected());
    assert_eq!(peer.finish(), b"version\r\n");
}

// ---- many keys ------------------------------------------------------------------------------

fn many_keys(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("key:{i:05}:some-longer-suffix").into_bytes())
        .collect()
}

#[test]
fn get_many_of_5000_keys_half_present() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let keys = many_keys(5000);
    let items: Vec<(&[u8], Vec<u8>)> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, k)| (k.as_slice(), format!("value-{i}").into_bytes()))
        .collect();
    let refs: Vec<(&[u8], &[u8])> = items.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    assert!(c.set_many(&refs, 0, 0, NOREPLY).unwrap().is_empty());
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    let got = c.get_many(&key_refs).unwrap();
    assert_eq!(got.len(), 5000);
    for (i, it) in got.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(
                it.as_ref().expect("present").value,
                format!("value-{i}").as_bytes()
            );
        } else {
            assert!(it.is_none(), "key {i} should miss");
        }
    }
    let with_cas = c.gets_many(&key_refs).unwrap();
    assert_eq!(with_cas.iter().filter(|i| i.is_some()).count(), 2500);
    assert!(with_cas.iter().flatten().all(|i| i.cas.is_some()));
}

#[test]
fn set_many_of_5000_items() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let keys = many_keys(5000);
    let values: Vec<Vec<u8>> = (0..5000).map(|i| patterned(i % 700, i as u32)).collect();
    let items: Vec<(&[u8], &[u8])> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    assert_eq!(c.set_many(&items, 9, 0, WAIT).unwrap(), Vec::<usize>::new());
    assert_eq!(int_stat(&c, &[], "curr_items"), 5000);
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    let got = c.get_many(&key_refs).unwrap();
    for (i, it) in got.into_iter().enumerate() {
        let it = it.expect("stored");
        assert_eq!((it.value, it.flags), (values[i].clone(), 9));
    }
}

#[test]
fn delete_many_of_5000_keys() {
    let mc = Memcached::tcp(&[]);
    let c = client(&mc);
    let keys = many_keys(5000);
    let items: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_slice(), &b"v"[..])).collect();
    assert!(c.set_many(&items[..4000], 0, 0, WAIT).unwrap().is_empty());
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    assert_eq!(c.delete_many(&key_refs, WAIT).unwrap(), 4000);
    assert_eq!(int_stat(&c, &[], "curr_items"), 0);
    assert!(c.set_many(&items, 0, 0, WAIT).unwrap().is_empty());
    assert_eq!(c.delete_many(&key_refs, NOREPLY).unwrap(), 5000);
    assert_eq!(int_stat(&c, &[], "curr_items"), 0);
    assert_eq!(c.delete_many(&key_refs, WAIT).unwrap(), 0);
}

// ---- sharing ------------------------------------------------------------------------------

#[test]
fn a_shared_client_serializes_its_callers() {
    let mc = Memcached::tcp(&[]);
    let c = std::sync::Arc::new(client(&mc));
    c.set(b"counter", b"0", 0, 0, WAIT).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let key = format!("t{t}:{i}");
                    let val = patterned(i * 37 % 3000, t * 1000 + i as u32);
                    c.set(key.as_bytes(), &val, t, 0, WAIT).unwrap();
                    let it = c.get(key.as_bytes()).unwrap().unwrap();
                    assert_eq!((it.value, it.flags), (val, t));
                    c.incr(b"counter", 1, WAIT).unwrap().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.incr(b"counter", 0, WAIT).unwrap(), Some(800));
}

// ---- SIGPIPE ------------------------------------------------------------------------------

/// A C program does not ignore SIGPIPE the way Rust and Python programs do:
/// writing to a connection the server has closed must give an error, never
/// kill the host process. Rust's test harness ignores SIGPIPE, so the
/// scenario runs in a child process (this same test, re-run with an
/// environment variable) with the default disposition restored.
#[test]
fn writing_to_a_closed_connection_does_not_raise_sigpipe() {
    const NAME: &str = "writing_to_a_closed_connection_does_not_raise_sigpipe";
    if std::env::var_os("PMC_SIGPIPE_CHILD").is_some() {
        // SAFETY: restoring the default disposition of a signal.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let big = vec![b'x'; 8 * 1024 * 1024];
        let servers: [fn() -> Memcached; 2] = [
            || Memcached::tcp(&["-I", "16m"]),
            || Memcached::unix(&["-I", "16m"]),
        ];
        for start in servers {
            // Started one at a time: a child killed by SIGPIPE leaks nothing.
            let mut mc = start();
            let c = client(&mc);
            c.set(b"k", b"v", 0, 0, WAIT).unwrap();
            mc.kill();
            std::thread::sleep(Duration::from_millis(50));
            // The first write is accepted, the server's kernel answers with a
            // reset, and the following writes fail.
            let e = c.set(b"k", &big, 0, 0, WAIT).unwrap_err();
            assert!(e.is_connection_failure(), "{e}");
            let items: Vec<(&[u8], &[u8])> = vec![(&b"a"[..], &big[..]); 4];
            c.set(b"k", b"v", 0, 0, WAIT).unwrap_err();
            c.set_many(&items, 0, 0, NOREPLY).unwrap_err();
        }
        println!("child survived");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env("PMC_SIGPIPE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child survived"),
        "child: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn stats_sizes_enable_answers_without_end() {
    let mc = Memcached::tcp(&[]);
    let c = Client::new(&mc.addr(), &ClientOptions::default()).unwrap();
    for (arg, want) in [("sizes_enable", "enabled"), ("sizes_disable", "disabled")] {
        let s = c.stats(&[arg]).unwrap();
        assert_eq!(s[0].get("sizes_status").unwrap().raw, want);
        // The connection is still in step.
        assert!(c.version().unwrap().starts_with("1."));
    }
}

//! FallbackClient and RetryingClient behaviour beyond the conformance table.

mod common;
use common::Memcached;
use pymemcache::{
    Client, ClientOptions, Error, ErrorKind, FallbackClient, Memcache, RetryOptions, RetryingClient,
};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn opts() -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        timeout: Some(Duration::from_secs(2)),
        ..Default::default()
    }
}

#[test]
fn fallback_reads_through_and_writes_to_the_first() {
    let (new, old) = (Memcached::tcp(&[]), Memcached::tcp(&[]));
    let new_c = Client::new(&new.addr(), &opts()).unwrap();
    let old_c = Client::new(&old.addr(), &opts()).unwrap();
    old_c.set(b"warm", b"old-value", 3, 0, None).unwrap();
    old_c.set(b"both", b"old", 0, 0, None).unwrap();
    new_c.set(b"both", b"new", 0, 0, None).unwrap();
    let fb = FallbackClient::new(vec![
        Box::new(Client::new(&new.addr(), &opts()).unwrap()),
        Box::new(Client::new(&old.addr(), &opts()).unwrap()),
    ])
    .unwrap();
    let it = fb.get(b"warm").unwrap().unwrap();
    assert_eq!((it.value.as_slice(), it.flags), (&b"old-value"[..], 3));
    assert_eq!(
        fb.get(b"both").unwrap().unwrap().value,
        b"new",
        "the first hit wins"
    );
    let many = fb.get_many(&[b"warm", b"both", b"none"]).unwrap();
    assert_eq!(many[0].as_ref().unwrap().value, b"old-value");
    assert_eq!(many[1].as_ref().unwrap().value, b"new");
    assert!(many[2].is_none());
    assert!(fb.gets(b"warm").unwrap().unwrap().cas.is_some());
    // Writes go to the first client only.
    fb.set(b"fresh", b"1", 0, 0, None).unwrap();
    assert!(new_c.get(b"fresh").unwrap().is_some());
    assert!(old_c.get(b"fresh").unwrap().is_none());
    assert!(
        !fb.delete(b"warm", None).unwrap(),
        "delete goes to the first, which lacks it"
    );
    assert!(old_c.get(b"warm").unwrap().is_some());
    assert_eq!(fb.stats(&[]).unwrap().len(), 2);
    assert!(matches!(FallbackClient::new(vec![]), Err(Error::Config(_))));
}

#[test]
fn retrying_client_validates_its_options() {
    let mc = Memcached::tcp(&[]);
    let inner = || Box::new(Client::new(&mc.addr(), &opts()).unwrap()) as Box<dyn Memcache>;
    let zero = RetryOptions {
        attempts: 0,
        ..Default::default()
    };
    assert!(matches!(
        RetryingClient::new(inner(), zero),
        Err(Error::Config(_))
    ));
    let overlap = RetryOptions {
        retry_for: vec![ErrorKind::Timeout, ErrorKind::Io],
        do_not_retry_for: vec![ErrorKind::Io],
        ..Default::default()
    };
    assert!(matches!(
        RetryingClient::new(inner(), overlap),
        Err(Error::Config(_))
    ));
}

/// A TCP peer that drops the first `drops` connections at once and serves
/// the rest by relaying to a real memcached.
fn flaky_proxy(target: String, drops: usize) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(client) = conn else { break };
            let n = s2.fetch_add(1, Ordering::SeqCst);
            if n < drops {
                drop(client);
                continue;
            }
            let server = std::net::TcpStream::connect(&target).unwrap();
            let (mut c1, mut s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c2, mut s2) = (client, server);
            std::thread::spawn(move || std::io::copy(&mut c1, &mut s1));
            std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
        }
    });
    (addr, seen)
}

#[test]
fn retrying_client_retries_connection_failures() {
    let mc = Memcached::tcp(&[]);
    Client::new(&mc.addr(), &opts())
        .unwrap()
        .set(b"k", b"v", 0, 0, None)
        .unwrap();
    let (proxy, seen) = flaky_proxy(mc.addr(), 2);
    let r = RetryingClient::new(
        Box::new(Client::new(&proxy, &opts()).unwrap()),
        RetryOptions {
            attempts: 3,
            retry_delay: Duration::from_millis(50),
            ..Default::default()
        },
    )
    .unwrap();
    let t = Instant::now();
    assert_eq!(r.get(b"k").unwrap().unwrap().value, b"v");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "two dropped connections, then success"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "slept between tries"
    );

    // Too few attempts: the last error comes back.
    let (proxy, _) = flaky_proxy(mc.addr(), 5);
    let r = RetryingClient::new(
        Box::new(Client::new(&proxy, &opts()).unwrap()),
        RetryOptions {
            attempts: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.get(b"k").unwrap_err().is_connection_failure());
}

#[test]
fn retrying_client_respects_its_error_lists() {
    let mc = Memcached::tcp(&[]);
    let c = Client::new(&mc.addr(), &opts()).unwrap();
    c.set(b"text", b"abc", 0, 0, None).unwrap();
    let (proxy, seen) = flaky_proxy(mc.addr(), 1);
    let only_timeouts = RetryingClient::new(
        Box::new(Client::new(&proxy, &opts()).unwrap()),
        RetryOptions {
            attempts: 5,
            retry_for: vec![ErrorKind::Timeout],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(only_timeouts
        .get(b"text")
        .unwrap_err()
        .is_connection_failure());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "a dropped connection is not a timeout"
    );

    let (proxy, seen) = flaky_proxy(mc.addr(), 0);
    let not_client_errors = RetryingClient::new(
        Box::new(Client::new(&proxy, &opts()).unwrap()),
        RetryOptions {
            attempts: 5,
            do_not_retry_for: vec![ErrorKind::ClientError],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        not_client_errors.incr(b"text", 1, None),
        Err(Error::ClientError { .. })
    ));
    assert_eq!(seen.load(Ordering::SeqCst), 1, "one connection: no retry");
    // Illegal input is never worth retrying unless asked; with the default
    // (retry everything) it fails the same way each time.
    assert!(matches!(
        not_client_errors.get(b"bad key"),
        Err(Error::IllegalInput(_))
    ));
}

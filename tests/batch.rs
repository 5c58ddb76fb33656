//! Batches and the meta protocol against real memcached processes: every
//! command kind with hits, misses and refusals in one batch, every meta
//! flag the batch and stampede control use, the stampede states under
//! threads, a batch split across a hash client with one node down, and a
//! server that does not speak meta.

mod common;
use common::{line_peer, scripted_peer, Memcached};
use pymemcache::client::{CodecClient, ValueCodec};
use pymemcache::{
    Batch, Client, ClientOptions, ErrorKind, FallbackClient, FetchCmd, HashClient, HashOptions,
    Lease, Memcache, MetaCmd, MockClient, OpStatus, PoolOptions, PooledClient, Reply, Request,
    RetryOptions, RetryingClient, StoreCmd,
};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn opts() -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        connect_timeout: Some(Duration::from_millis(500)),
        timeout: Some(Duration::from_secs(3)),
        ..Default::default()
    }
}

fn status_of(b: &Batch, i: usize) -> OpStatus {
    b.result(i).status
}

/// A codec that visibly changes what is stored: the bytes reversed and
/// flag 0x100 set, undone on the way in (only when the flag is there).
struct Reverse;

const REVERSED: u32 = 0x100;

impl ValueCodec for Reverse {
    fn encode(&self, _key: &[u8], value: &[u8], flags: u32) -> pymemcache::Result<(Vec<u8>, u32)> {
        Ok((value.iter().rev().copied().collect(), flags | REVERSED))
    }

    fn decode(&self, _key: &[u8], data: Vec<u8>, flags: u32) -> pymemcache::Result<(Vec<u8>, u32)> {
        if flags & REVERSED == 0 {
            return Ok((data, flags));
        }
        Ok((data.into_iter().rev().collect(), flags & !REVERSED))
    }
}

/// A codec that marks what it stores (flag 0x200) and leaves the bytes,
/// so counters and appends keep working: the codec kind of `kinds`.
struct Tag;

const TAGGED: u32 = 0x200;

impl ValueCodec for Tag {
    fn encode(&self, _key: &[u8], value: &[u8], flags: u32) -> pymemcache::Result<(Vec<u8>, u32)> {
        Ok((value.to_vec(), flags | TAGGED))
    }

    fn decode(&self, _key: &[u8], data: Vec<u8>, flags: u32) -> pymemcache::Result<(Vec<u8>, u32)> {
        Ok((data, flags & !TAGGED))
    }
}

/// One client of every kind batches run on, each over its own servers
/// (kept alive with it): memcached single, pooled and hash clients, the
/// mock, the codec client over memcached and over the mock, the fallback
/// client (new cluster first) and the retrying client.
fn kinds() -> Vec<(&'static str, Arc<dyn Memcache>, Vec<Memcached>)> {
    let client = |m: &Memcached| Client::new(&m.addr(), &opts()).unwrap();
    let pooled =
        |m: &Memcached| PooledClient::new(&m.addr(), &opts(), PoolOptions::default()).unwrap();
    let mut out: Vec<(&'static str, Arc<dyn Memcache>, Vec<Memcached>)> = Vec::new();
    let m = Memcached::tcp(&[]);
    out.push(("client", Arc::new(client(&m)), vec![m]));
    let m = Memcached::tcp(&[]);
    out.push(("pooled", Arc::new(pooled(&m)), vec![m]));
    let ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let addrs: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let a: Vec<&str> = addrs.iter().map(|s| s.as_str()).collect();
    let h = HashClient::new(&a, &opts(), HashOptions::default()).unwrap();
    out.push(("hash-3", Arc::new(h), ms));
    out.push(("mock", Arc::new(MockClient::new(&opts()).unwrap()), vec![]));
    let m = Memcached::tcp(&[]);
    let codec = CodecClient::new(Box::new(pooled(&m)), Tag);
    out.push(("codec", Arc::new(codec), vec![m]));
    let mock = MockClient::new(&opts()).unwrap();
    out.push((
        "codec-mock",
        Arc::new(CodecClient::new(Box::new(mock), Tag)),
        vec![],
    ));
    let (new, old) = (Memcached::tcp(&[]), Memcached::tcp(&[]));
    let f = FallbackClient::new(vec![Box::new(pooled(&new)), Box::new(client(&old))]).unwrap();
    out.push(("fallback", Arc::new(f), vec![new, old]));
    let m = Memcached::tcp(&[]);
    let r = RetryingClient::new(Box::new(pooled(&m)), RetryOptions::default()).unwrap();
    out.push(("retrying", Arc::new(r), vec![m]));
    out
}

/// Run `f` on a client of every kind (see `kinds`).
fn each_kind(f: impl Fn(&dyn Memcache)) {
    for (name, c, _servers) in kinds() {
        eprintln!("-- {name}");
        f(c.as_ref());
    }
}

/// Every classic command kind in one batch, with misses, refusals and an
/// illegal key among them; the results come back in request order.
fn mixed_batch(c: &dyn Memcache) {
    c.set(b"mx:a", b"alpha", 7, 0, None).unwrap();
    c.set(b"mx:n", b"10", 0, 0, None).unwrap();
    c.delete(b"mx:missing", None).unwrap();
    let cas = c.gets(b"mx:a").unwrap().unwrap().cas.unwrap();

    let mut b = Batch::new();
    let get_hit = b.get(b"mx:a");
    let get_miss = b.get(b"mx:missing");
    let gets_hit = b.gets(b"mx:a");
    let set = b.set(b"mx:b", b"beta", 3, 0);
    let add_refused = b.store(StoreCmd::Add, b"mx:a", b"x", 0, 0);
    let add_new = b.store(StoreCmd::Add, b"mx:c", b"gamma", 0, 0);
    let replace_miss = b.store(StoreCmd::Replace, b"mx:missing", b"x", 0, 0);
    let append = b.store(StoreCmd::Append, b"mx:a", b"-end", 0, 0);
    let prepend = b.store(StoreCmd::Prepend, b"mx:a", b"start-", 0, 0);
    let append_miss = b.store(StoreCmd::Append, b"mx:missing", b"x", 0, 0);
    let cas_stale = b.cas(b"mx:a", b"cas", cas, 0, 0); // append changed it
    let cas_missing = b.cas(b"mx:missing", b"cas", 1, 0, 0);
    let incr = b.incr(b"mx:n", 5);
    let decr = b.decr(b"mx:n", 100);
    let incr_miss = b.incr(b"mx:missing", 1);
    let touch = b.touch(b"mx:b", 100);
    let touch_miss = b.touch(b"mx:missing", 100);
    let illegal = b.get(b"has space");
    let get_after = b.get(b"mx:a");
    let delete = b.delete(b"mx:c");
    let delete_miss = b.delete(b"mx:missing");
    let gat = b.gat(b"mx:b", 50);
    c.execute(&mut b).unwrap();

    assert_eq!(status_of(&b, get_hit), OpStatus::Ok);
    assert_eq!(b.result_value(get_hit), b"alpha");
    assert_eq!(b.result(get_hit).flags, 7);
    assert_eq!(b.result(get_hit).cas, None);
    assert_eq!(status_of(&b, get_miss), OpStatus::Miss);
    assert_eq!(b.result(gets_hit).cas, Some(cas));
    assert_eq!(status_of(&b, set), OpStatus::Ok);
    assert_eq!(status_of(&b, add_refused), OpStatus::NotStored);
    assert_eq!(status_of(&b, add_new), OpStatus::Ok);
    assert_eq!(status_of(&b, replace_miss), OpStatus::NotStored);
    assert_eq!(status_of(&b, append), OpStatus::Ok);
    assert_eq!(status_of(&b, prepend), OpStatus::Ok);
    assert_eq!(status_of(&b, append_miss), OpStatus::NotStored);
    assert_eq!(status_of(&b, cas_stale), OpStatus::Exists);
    assert_eq!(status_of(&b, cas_missing), OpStatus::NotFound);
    assert_eq!(b.result(incr).number, Some(15));
    assert_eq!(b.result(decr).number, Some(0));
    assert_eq!(status_of(&b, incr_miss), OpStatus::NotFound);
    assert_eq!(status_of(&b, touch), OpStatus::Ok);
    assert_eq!(status_of(&b, touch_miss), OpStatus::NotFound);
    assert_eq!(status_of(&b, illegal), OpStatus::Failed);
    assert_eq!(
        b.result(illegal).error.as_ref().unwrap().kind(),
        ErrorKind::IllegalInput
    );
    assert_eq!(b.result_value(get_after), b"start-alpha-end");
    assert_eq!(status_of(&b, delete), OpStatus::Ok);
    assert_eq!(status_of(&b, delete_miss), OpStatus::NotFound);
    assert_eq!(b.result_value(gat), b"beta");
    assert_eq!(b.result(gat).flags, 3);

    // What the batch did is what the classic commands see.
    assert_eq!(c.get(b"mx:b").unwrap().unwrap().value, b"beta");
    assert!(c.get(b"mx:c").unwrap().is_none());
    // memcached pads a shrunk counter with spaces.
    assert_eq!(c.get(b"mx:n").unwrap().unwrap().value.trim_ascii(), b"0");

    // Reused: the same batch again gives the same results.
    c.set(b"mx:c", b"gamma", 0, 0, None).unwrap();
    c.execute(&mut b).unwrap();
    assert_eq!(status_of(&b, get_miss), OpStatus::Miss);
    assert_eq!(status_of(&b, add_refused), OpStatus::NotStored);
    assert_eq!(status_of(&b, illegal), OpStatus::Failed);
}

#[test]
fn mixed_batch_on_every_kind() {
    each_kind(|c| mixed_batch(c));
}

/// A value the server refuses (over its item size limit) fails that command
/// alone, among quiet commands on both sides.
#[test]
fn server_refusal_is_per_command() {
    let m = Memcached::tcp(&["-I", "1m"]);
    let o = ClientOptions {
        max_value_len: 8 << 20,
        ..opts()
    };
    let c = Client::new(&m.addr(), &o).unwrap();
    refusal_is_per_command(&c);
    // The server's error names it, as a single call's does.
    let mut b = Batch::new();
    let refused = b.set(b"r:big", &vec![b'x'; 2 << 20], 0, 0);
    c.execute(&mut b).unwrap();
    let msg = b.result(refused).error.as_ref().unwrap().to_string();
    let single = c
        .set(b"r:big", &vec![b'x'; 2 << 20], 0, 0, Some(false))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&m.addr()), "{msg}");
    assert_eq!(msg, single);
    refusal_is_per_command(&MockClient::new(&o).unwrap());
}

fn refusal_is_per_command(c: &dyn Memcache) {
    let big = vec![b'x'; 2 << 20];
    let mut b = Batch::new();
    let before = b.set(b"r:1", b"one", 0, 0);
    let miss = b.get(b"r:missing");
    let refused = b.set(b"r:big", &big, 0, 0);
    let meta_refused = b.meta(MetaCmd::Set, b"r:big2", b"T0", &big);
    let after = b.set(b"r:2", b"two", 0, 0);
    let get = b.get(b"r:1");
    c.execute(&mut b).unwrap();
    assert_eq!(status_of(&b, meta_refused), OpStatus::Failed);
    assert_eq!(
        b.result(meta_refused).error.as_ref().unwrap().kind(),
        ErrorKind::ServerError
    );
    assert_eq!(status_of(&b, before), OpStatus::Ok);
    assert_eq!(status_of(&b, miss), OpStatus::Miss);
    assert_eq!(status_of(&b, refused), OpStatus::Failed);
    assert_eq!(
        b.result(refused).error.as_ref().unwrap().kind(),
        ErrorKind::ServerError
    );
    assert_eq!(status_of(&b, after), OpStatus::Ok);
    assert_eq!(b.result_value(get), b"one");
    assert_eq!(c.get(b"r:2").unwrap().unwrap().value, b"two");
}

/// Larger than one pipelined round: results stay in order.
#[test]
fn large_batches_keep_request_order() {
    let m = Memcached::tcp(&[]);
    let c = Client::new(&m.addr(), &opts()).unwrap();
    let mut b = Batch::new();
    for i in 0..3000 {
        b.set(
            format!("lb:{i}").as_bytes(),
            format!("v{i}").as_bytes(),
            i,
            0,
        );
    }
    c.execute(&mut b).unwrap();
    assert!(b.results().iter().all(|r| r.status == OpStatus::Ok));
    b.clear();
    for i in 0..3000 {
        if i % 3 == 0 {
            b.get(format!("lb:missing{i}").as_bytes());
        } else {
            b.get(format!("lb:{i}").as_bytes());
        }
    }
    c.execute(&mut b).unwrap();
    for i in 0..3000 {
        if i % 3 == 0 {
            assert_eq!(status_of(&b, i), OpStatus::Miss);
        } else {
            assert_eq!(b.result_value(i), format!("v{i}").as_bytes());
            assert_eq!(b.result(i).flags, i as u32);
        }
    }
}

/// The generic meta command: caller's flags, parsed reply.
fn generic_meta(c: &dyn Memcache) {
    let mut b = Batch::new();
    let set = b.meta(MetaCmd::Set, b"g:k", b"F9 T100 c", b"hello");
    let get = b.meta(MetaCmd::Get, b"g:k", b"v f t s h l k c", b"");
    let get2 = b.meta(MetaCmd::Get, b"g:k", b"h", b"");
    let miss = b.meta(MetaCmd::Get, b"g:none", b"v", b"");
    // base64 key: "g:b64" is Zzpi NjQ= ... encoded by the caller.
    let b64 = b.meta(MetaCmd::Set, b"ZzpiNjQ=", b"b T0", b"bin");
    let b64get = b.meta(MetaCmd::Get, b"ZzpiNjQ=", b"b v k", b"");
    let ma = b.meta(MetaCmd::Arithmetic, b"g:ctr", b"N0 J40 D2 v", b"");
    let ma2 = b.meta(MetaCmd::Arithmetic, b"g:ctr", b"MD D50 v t", b"");
    let del_cas = b.meta(MetaCmd::Delete, b"g:k", b"C999999", b"");
    let vivify = b.meta(MetaCmd::Get, b"g:viv", b"v N30 t", b"");
    let bad = b.meta(MetaCmd::Get, b"g:k", b"v O5", b"");
    c.execute(&mut b).unwrap();
    assert_eq!(status_of(&b, set), OpStatus::Ok);
    assert_eq!(&b.result(set).code, b"HD");
    assert!(b.result_flags(set).starts_with(b"c"));
    assert_eq!(&b.result(get).code, b"VA");
    assert_eq!(b.result_value(get), b"hello");
    let flags = String::from_utf8(b.result_flags(get).to_vec()).unwrap();
    for want in ["f9", "s5", "h0", "l0", "kg:k"] {
        assert!(flags.split(' ').any(|t| t == want), "{want} in {flags}");
    }
    let ttl = flags.split(' ').find(|t| t.starts_with('t')).unwrap();
    let ttl: i64 = ttl[1..].parse().unwrap();
    assert!((95..=100).contains(&ttl), "{ttl}");
    assert_eq!(b.result(get).flags, 9);
    assert_eq!(b.result_flags(get2), b"h1");
    assert_eq!(status_of(&b, miss), OpStatus::Miss);
    assert_eq!(&b.result(miss).code, b"EN");
    assert_eq!(status_of(&b, b64), OpStatus::Ok);
    assert_eq!(b.result_value(b64get), b"bin");
    assert!(b.result_flags(b64get).starts_with(b"kZzpiNjQ="));
    assert_eq!(b.result_value(ma), b"40");
    assert_eq!(b.result_value(ma2), b"0");
    assert_eq!(status_of(&b, del_cas), OpStatus::Exists);
    assert_eq!(&b.result(vivify).code, b"VA");
    assert!(b
        .result_flags(vivify)
        .split(|&c| c == b' ')
        .any(|t| t == b"W"));
    assert_eq!(status_of(&b, bad), OpStatus::Failed);
    assert_eq!(
        b.result(bad).error.as_ref().unwrap().kind(),
        ErrorKind::IllegalInput
    );
    assert_eq!(c.get(b"g:b64").unwrap().unwrap().value, b"bin");
}

#[test]
fn generic_meta_flags() {
    // On hash-3 the `b` key is placed by its decoded key, so the plain
    // `get` at the end finds it on the same node.
    for (name, c, _servers) in kinds() {
        eprintln!("-- {name}");
        generic_meta(c.as_ref());
    }
}

/// With a key prefix, a generic meta command whose key is given base64
/// (`b`) reaches the item of prefix + decoded key, base64-encoded as a
/// whole: a plain command and a `b` command for the same key share the
/// item, and a hash client places both on the same node.
#[test]
fn key_prefix_applies_to_the_decoded_base64_key() {
    use base64::Engine as _;
    let b64 = |k: &[u8]| base64::engine::general_purpose::STANDARD.encode(k);
    let prefixed = || {
        let mut o = opts();
        o.key_prefix = b"app:".to_vec();
        o
    };
    let single = Memcached::tcp(&[]);
    let ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let addrs: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let a: Vec<&str> = addrs.iter().map(|s| s.as_str()).collect();
    let clients: Vec<(&str, Box<dyn Memcache>)> = vec![
        (
            "client",
            Box::new(Client::new(&single.addr(), &prefixed()).unwrap()),
        ),
        (
            "hash-3",
            Box::new(HashClient::new(&a, &prefixed(), HashOptions::default()).unwrap()),
        ),
        ("mock", Box::new(MockClient::new(&prefixed()).unwrap())),
    ];
    for (name, c) in clients {
        eprintln!("-- {name}");
        let keys: Vec<Vec<u8>> = (0..12).map(|i| format!("pb:{i}").into_bytes()).collect();
        // Plain set, read back by `mg` with a base64 key.
        for k in &keys {
            c.set(k, b"plain", 3, 0, None).unwrap();
        }
        // One meta command a key (command i for key i), each done.
        let each_b64 = |cmd: MetaCmd, tokens: &[u8], value: &[u8]| {
            let mut b = Batch::new();
            for k in &keys {
                b.meta(cmd, b64(k).as_bytes(), tokens, value);
            }
            c.execute(&mut b).unwrap();
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(status_of(&b, i), OpStatus::Ok, "{name} {k:?}");
            }
            b
        };
        let b = each_b64(MetaCmd::Get, b"b v f k", b"");
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(b.result_value(i), b"plain", "{name}");
            assert_eq!(b.result(i).flags, 3, "{name}");
            // The server names the item it holds: prefix and key (encoded
            // again if the item was stored with a binary key).
            let mut full = b"app:".to_vec();
            full.extend_from_slice(k);
            let want = [
                format!("k{}", String::from_utf8_lossy(&full)),
                format!("k{}", b64(&full)),
            ];
            let flags = String::from_utf8(b.result_flags(i).to_vec()).unwrap();
            assert!(
                flags.split(' ').any(|t| want.iter().any(|w| w == t)),
                "{name}: {flags}"
            );
        }
        // `ms` with a base64 key, read back by plain gets.
        each_b64(MetaCmd::Set, b"b F5", b"meta");
        for k in &keys {
            let item = c.get(k).unwrap().expect("stored by ms b");
            assert_eq!((item.value.as_slice(), item.flags), (&b"meta"[..], 5));
        }
    }
    // On the servers, the items are under "app:" + key, on the node a plain
    // command places the key on.
    let plain = |addr: &str| Client::new(addr, &opts()).unwrap();
    assert_eq!(
        plain(&single.addr())
            .get(b"app:pb:0")
            .unwrap()
            .unwrap()
            .value,
        b"meta"
    );
    let h = HashClient::new(&a, &prefixed(), HashOptions::default()).unwrap();
    for i in 0..12 {
        let k = format!("pb:{i}");
        let node = h.server_for(k.as_bytes()).unwrap();
        let got = plain(&node).get(format!("app:{k}").as_bytes()).unwrap();
        assert_eq!(got.unwrap().value, b"meta", "{k} on {node}");
    }
}

fn stampede_states_on(c: &dyn Memcache) {
    let (l, v) = c.get_or_lock(b"st:k", 30, 0).unwrap();
    assert_eq!((l, v), (Lease::MissWon, None));
    let (l, v) = c.get_or_lock(b"st:k", 30, 0).unwrap();
    assert_eq!((l, v), (Lease::MissBusy, None));
    c.set(b"st:k", b"v1", 4, 100, None).unwrap();
    let (l, v) = c.get_or_lock(b"st:k", 30, 0).unwrap();
    assert_eq!(l, Lease::Hit);
    assert_eq!(v.unwrap().flags, 4);
    assert!(c.invalidate(b"st:k", 30).unwrap());
    assert!(!c.invalidate(b"st:none", 30).unwrap());
    let (l, v) = c.get_or_lock(b"st:k", 30, 0).unwrap();
    assert_eq!(l, Lease::StaleWon);
    assert_eq!(v.unwrap().value, b"v1");
    let (l, v) = c.get_or_lock(b"st:k", 30, 0).unwrap();
    assert_eq!(l, Lease::Stale);
    assert_eq!(v.unwrap().value, b"v1");
    c.set(b"st:k", b"v2", 0, 100, None).unwrap();
    assert_eq!(c.get_or_lock(b"st:k", 30, 0).unwrap().0, Lease::Hit);
    // Recache: fewer seconds left than asked wins one early recompute.
    let (l, v) = c.get_or_lock(b"st:k", 30, 200).unwrap();
    assert_eq!(l, Lease::StaleWon);
    assert_eq!(v.unwrap().value, b"v2");
    let (l, _) = c.get_or_lock(b"st:k", 30, 200).unwrap();
    assert_eq!(l, Lease::Hit);
}

#[test]
fn stampede_states() {
    each_kind(|c| stampede_states_on(c));
}

/// Eight threads at once on `c` running `get_or_lock` on `key` until they
/// have a value: `recompute` is what the winner stores. Returns what each
/// thread got (its lease and value) and how many recomputed.
fn stampede(
    c: &Arc<dyn Memcache>,
    key: &'static [u8],
    recompute: &'static [u8],
) -> (Vec<(Lease, Vec<u8>)>, usize) {
    let barrier = Arc::new(Barrier::new(8));
    let recomputes = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (c, barrier, recomputes) = (c.clone(), barrier.clone(), recomputes.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let until = Instant::now() + Duration::from_secs(5);
                loop {
                    match c.get_or_lock(key, 10, 0).unwrap() {
                        (l @ (Lease::MissWon | Lease::StaleWon), _) => {
                            recomputes.fetch_add(1, Ordering::SeqCst);
                            // Long enough for every other thread to ask.
                            std::thread::sleep(Duration::from_millis(300));
                            c.set(key, recompute, 0, 100, None).unwrap();
                            return (l, recompute.to_vec());
                        }
                        (l @ (Lease::Hit | Lease::Stale), Some(item)) => return (l, item.value),
                        _ => {
                            assert!(Instant::now() < until, "never got the value");
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            })
        })
        .collect();
    let got = threads.into_iter().map(|t| t.join().unwrap()).collect();
    (got, recomputes.load(Ordering::SeqCst))
}

/// Eight threads on one expired key: exactly one recomputes, the others
/// wait and read what it stored. Then the key is invalidated: exactly one
/// recomputes while the seven others are served the stale value. On every
/// client kind, the mock, codec and fallback clients included.
#[test]
fn stampede_one_winner_among_threads() {
    for (name, c, _servers) in kinds() {
        if name == "client" {
            continue; // one connection: the pooled client is the threaded one
        }
        eprintln!("-- {name}");
        // Already expired (a negative exptime).
        c.set(b"hot", b"old", 0, -1, None).unwrap();
        assert!(c.get(b"hot").unwrap().is_none(), "{name}");
        let (got, recomputes) = stampede(&c, b"hot", b"v1");
        assert_eq!(recomputes, 1, "{name}");
        assert!(got.iter().all(|(_, v)| v == b"v1"), "{name}: {got:?}");
        assert_eq!(got.iter().filter(|(l, _)| *l == Lease::MissWon).count(), 1);

        assert!(c.invalidate(b"hot", 30).unwrap(), "{name}");
        let (got, recomputes) = stampede(&c, b"hot", b"v2");
        assert_eq!(recomputes, 1, "{name}");
        let won: Vec<_> = got.iter().filter(|(l, _)| *l == Lease::StaleWon).collect();
        assert_eq!(won.len(), 1, "{name}: {got:?}");
        let stale = got
            .iter()
            .filter(|(l, v)| *l == Lease::Stale && v == b"v1")
            .count();
        assert_eq!(
            stale, 7,
            "{name}: the others are served the stale value: {got:?}"
        );
        assert_eq!(c.get(b"hot").unwrap().unwrap().value, b"v2", "{name}");
        assert_eq!(
            c.get_or_lock(b"hot", 10, 0).unwrap().0,
            Lease::Hit,
            "{name}"
        );
    }
}

/// The codec client's batches encode values as its single commands do
/// and decode what they read; generic meta commands pass as they are.
#[test]
fn codec_batches_encode_per_command() {
    let mock = Arc::new(MockClient::new(&opts()).unwrap());
    struct Shared(Arc<MockClient>);
    impl Memcache for Shared {
        fn execute(&self, b: &mut Batch) -> pymemcache::Result<()> {
            self.0.execute(b)
        }
        fn close(&self) {}
        fn server_for_key(&self, key: &[u8]) -> pymemcache::Result<String> {
            self.0.server_for_key(key)
        }
    }
    let c = CodecClient::new(Box::new(Shared(mock.clone())), Reverse);
    let mut b = Batch::new();
    let set = b.set(b"cb:a", b"abc", 5, 0);
    let app = b.store(StoreCmd::Append, b"cb:a", b"X", 0, 0);
    let get = b.get(b"cb:a");
    let raw = b.meta(MetaCmd::Get, b"cb:a", b"v f", b"");
    c.execute(&mut b).unwrap();
    assert_eq!(status_of(&b, set), OpStatus::Ok);
    assert_eq!(status_of(&b, app), OpStatus::Ok);
    // Stored encoded; the appended byte as it was given.
    let stored = mock.peek(b"cb:a").unwrap().unwrap();
    assert_eq!(
        (stored.value.as_slice(), stored.flags),
        (&b"cbaX"[..], 5 | REVERSED)
    );
    assert_eq!(
        (b.result_value(get), b.result(get).flags),
        (&b"Xabc"[..], 5)
    );
    assert_eq!(b.result_value(raw), b"cbaX");
    assert_eq!(b.result(raw).flags, 5 | REVERSED);
    // Stampede reads decode the value too.
    c.set(b"cb:s", b"xyz", 0, 100, None).unwrap();
    assert!(c.invalidate(b"cb:s", 30).unwrap());
    let (l, v) = c.get_or_lock(b"cb:s", 10, 0).unwrap();
    assert_eq!((l, v.unwrap().value), (Lease::StaleWon, b"xyz".to_vec()));
}

/// The fallback client's batches: writes and stampede reads on the new
/// cluster, read misses answered by the old one.
#[test]
fn fallback_batches_read_through() {
    let (new, old) = (Memcached::tcp(&[]), Memcached::tcp(&[]));
    let old_c = Client::new(&old.addr(), &opts()).unwrap();
    old_c.set(b"fb:old", b"warm", 3, 0, None).unwrap();
    let f = FallbackClient::new(vec![
        Box::new(Client::new(&new.addr(), &opts()).unwrap()),
        Box::new(Client::new(&old.addr(), &opts()).unwrap()),
    ])
    .unwrap();
    let mut b = Batch::new();
    let set = b.set(b"fb:new", b"fresh", 0, 0);
    let old_hit = b.gets(b"fb:old");
    let miss = b.get(b"fb:none");
    let lock = b.get_or_lock(b"fb:old", 10, 0);
    f.execute(&mut b).unwrap();
    assert_eq!(status_of(&b, set), OpStatus::Ok);
    assert_eq!(b.result_value(old_hit), b"warm");
    assert_eq!(b.result(old_hit).flags, 3);
    assert!(b.result(old_hit).cas.is_some());
    assert_eq!(status_of(&b, miss), OpStatus::Miss);
    // Stampede control is the new cluster's: a miss there, won.
    assert_eq!(b.result(lock).lease, Some(Lease::MissWon));
    assert!(old_c.get(b"fb:new").unwrap().is_none());
}

/// A batch across three nodes with one down: that node's commands fail
/// with a connection error, the others run.
#[test]
fn hash_batch_with_one_node_down() {
    let mut ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let addrs: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let a: Vec<&str> = addrs.iter().map(|s| s.as_str()).collect();
    let h = HashClient::new(&a, &opts(), HashOptions::default()).unwrap();
    let keys: Vec<String> = (0..60).map(|i| format!("hk:{i}")).collect();
    let mut b = Batch::new();
    for k in &keys {
        b.set(k.as_bytes(), k.as_bytes(), 0, 0);
    }
    h.execute(&mut b).unwrap();
    assert!(b.results().iter().all(|r| r.status == OpStatus::Ok));
    let down = h.server_for_key(keys[0].as_bytes()).unwrap();
    ms[0..3]
        .iter_mut()
        .find(|m| m.addr() == down)
        .unwrap()
        .kill();
    b.clear();
    for k in &keys {
        b.get(k.as_bytes());
    }
    h.execute(&mut b).unwrap();
    let mut failed = 0;
    for (i, k) in keys.iter().enumerate() {
        let r = b.result(i);
        if h.server_for_key(k.as_bytes()).unwrap() == down {
            failed += 1;
            assert_eq!(r.status, OpStatus::Failed, "{k}");
            assert!(r.error.as_ref().unwrap().is_connection_failure());
        } else {
            assert_eq!(r.status, OpStatus::Ok, "{k}");
            assert_eq!(b.result_value(i), k.as_bytes());
        }
    }
    assert!(failed > 0 && failed < keys.len());
}

/// A server that answers meta commands with ERROR (memcached before 1.6):
/// a clear UnknownCommand for every command, quickly, never a hang.
#[test]
fn server_without_meta_gives_a_clear_error() {
    let addr = scripted_peer(b"ERROR\r\n");
    let c = Client::new(&addr, &opts()).unwrap();
    let mut b = Batch::new();
    b.set(b"k", b"v", 0, 0);
    b.get(b"k");
    let t = Instant::now();
    c.execute(&mut b).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    for r in b.results() {
        assert_eq!(r.status, OpStatus::Failed);
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.kind(), ErrorKind::UnknownCommand);
        assert!(e.to_string().contains("meta protocol"), "{e}");
    }
    let e = c.get_or_lock(b"k", 10, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownCommand);
}

/// A peer that reads the batch and then misbehaves: every command fails
/// with the connection's error, within the timeout, and the client works
/// again afterwards against a real server.
#[test]
fn misbehaving_peers_fail_the_batch_quickly() {
    for (reply, kind) in [
        (&b"VA 10 O0\r\nabc"[..], ErrorKind::UnexpectedClose),
        (b"garbage here\r\n", ErrorKind::UnknownError),
        (b"HD O7\r\n", ErrorKind::UnknownError), // an opaque never sent
        (b"VA 99999999999 O0\r\n", ErrorKind::TooLarge),
        (b"", ErrorKind::Timeout),
    ] {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let reply = reply.to_vec();
        std::thread::spawn(move || {
            let Ok((s, _)) = l.accept() else { return };
            let mut w = s.try_clone().unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            // Read up to the batch's mn, then answer.
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.ends_with("mn\r\n") {
                    break;
                }
                line.clear();
            }
            let _ = w.write_all(&reply);
            if !reply.is_empty() {
                let _ = w.shutdown(std::net::Shutdown::Both);
            } else {
                std::thread::sleep(Duration::from_secs(3));
            }
        });
        let o = ClientOptions {
            timeout: Some(Duration::from_millis(500)),
            ..opts()
        };
        let c = Client::new(&addr, &o).unwrap();
        let mut b = Batch::new();
        b.get(b"a");
        b.set(b"b", b"v", 0, 0);
        b.incr(b"c", 1);
        let t = Instant::now();
        c.execute(&mut b).unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{kind:?}");
        for r in b.results() {
            assert_eq!(r.status, OpStatus::Failed, "{kind:?}");
            assert_eq!(r.error.as_ref().unwrap().kind(), kind, "{:?}", r.error);
        }
    }
}

/// Generic meta commands, one batch each, on a fresh memcached and a fresh
/// mock: the same return codes, return flags and values (CAS uniques
/// compared as their order of appearance).
#[test]
fn mock_meta_replies_match_memcached() {
    let steps: &[(MetaCmd, &str, &str, &str)] = &[
        (MetaCmd::Get, "d:a", "v N30 t c k s f", ""),
        (MetaCmd::Get, "d:a", "v N30 t s", ""),
        (MetaCmd::Set, "d:a", "F5 T60 c k", "hello"),
        (MetaCmd::Get, "d:a", "v f s h l t", ""),
        (MetaCmd::Get, "d:a", "h u", ""),
        (MetaCmd::Get, "d:a", "v R90", ""),
        (MetaCmd::Get, "d:a", "v R90", ""),
        (MetaCmd::Delete, "d:a", "I T30 k", ""),
        (MetaCmd::Get, "d:a", "v c", ""),
        (MetaCmd::Get, "d:a", "v c", ""),
        (MetaCmd::Set, "d:a", "MA", "+more"),
        (MetaCmd::Get, "d:a", "v", ""),
        (MetaCmd::Set, "d:a", "ME", "x"),
        (MetaCmd::Set, "d:n", "MR", "x"),
        (MetaCmd::Set, "d:n", "MA N20", "start"),
        (MetaCmd::Get, "d:n", "v t", ""),
        (MetaCmd::Set, "d:n", "C1", "x"),
        (MetaCmd::Set, "d:none", "C1", "x"),
        (MetaCmd::Arithmetic, "d:c", "v", ""),
        (MetaCmd::Arithmetic, "d:c", "N0 J9 v t c", ""),
        (MetaCmd::Arithmetic, "d:c", "D3 MI v", ""),
        (MetaCmd::Arithmetic, "d:c", "D100 M- v", ""),
        (MetaCmd::Arithmetic, "d:n", "v", ""),
        (MetaCmd::Delete, "d:c", "C1", ""),
        (MetaCmd::Delete, "d:c", "x", ""),
        (MetaCmd::Get, "d:c", "v s", ""),
        (MetaCmd::Delete, "d:c", "", ""),
        (MetaCmd::Delete, "d:c", "", ""),
        (MetaCmd::Get, "ZDpi", "b v k", ""),
        (MetaCmd::Set, "ZDpi", "b k", "bin"),
        (MetaCmd::Get, "ZDpi", "b v k", ""),
        (MetaCmd::Get, "d:a", "v Q", ""),
        (MetaCmd::Set, "d:e", "E777 c", "v"),
        (MetaCmd::Set, "d:e", "c", "v"),
        (MetaCmd::Get, "d:e", "v c C777", ""),
        (MetaCmd::Get, "d:e", "v c C1 P/x Lroute", ""),
        (MetaCmd::Set, "d:e", "C777 E900 c", "w"),
        (MetaCmd::Set, "d:e", "C5 I", "stale"),
        (MetaCmd::Get, "d:e", "v c", ""),
        (MetaCmd::Get, "d:e", "v c", ""),
        (MetaCmd::Set, "d:e", "I C99999", "y"),
        (MetaCmd::Arithmetic, "d:e", "v", ""),
        (MetaCmd::Set, "d:f", "F4294967297", "x"),
        (MetaCmd::Get, "d:f", "f", ""),
        (MetaCmd::Set, "d:f", "MX", "x"),
        (MetaCmd::Arithmetic, "d:f", "MZ", ""),
        (MetaCmd::Get, "d:f", "v v", ""),
        (MetaCmd::Get, "d:f", "v Tabc", ""),
        (MetaCmd::Get, "d:g", "v N30 E42 c", ""),
        (MetaCmd::Delete, "d:g", "I E50", ""),
        (MetaCmd::Get, "d:g", "c", ""),
        (MetaCmd::Arithmetic, "d:h", "N0 J5 E60 c v", ""),
        (MetaCmd::Arithmetic, "d:h", "C60 T100 t v", ""),
        (MetaCmd::Set, "d:t", "T-1", "gone"),
        (MetaCmd::Get, "d:t", "v", ""),
    ];
    let run = |c: &dyn Memcache| -> Vec<String> {
        let mut seen_cas: Vec<String> = Vec::new();
        steps
            .iter()
            .map(|&(cmd, key, flags, value)| {
                let mut b = Batch::new();
                b.meta(cmd, key.as_bytes(), flags.as_bytes(), value.as_bytes());
                c.execute(&mut b).unwrap();
                let r = b.result(0);
                if let Some(e) = &r.error {
                    return format!("{:?}", e.kind());
                }
                let flags: Vec<String> = String::from_utf8_lossy(b.result_flags(0))
                    .split(' ')
                    .filter(|t| !t.is_empty())
                    .map(|t| match t.strip_prefix('c') {
                        Some(n) => {
                            if !seen_cas.iter().any(|s| s == n) {
                                seen_cas.push(n.to_string());
                            }
                            format!("c#{}", seen_cas.iter().position(|s| s == n).unwrap())
                        }
                        None => t.to_string(),
                    })
                    .collect();
                format!(
                    "{} {} {:?}",
                    String::from_utf8_lossy(&r.code),
                    flags.join(" "),
                    String::from_utf8_lossy(b.result_value(0))
                )
            })
            .collect()
    };
    let m = Memcached::tcp(&[]);
    let real = run(&Client::new(&m.addr(), &opts()).unwrap());
    let mock = run(&MockClient::new(&opts()).unwrap());
    let diffs: Vec<String> = steps
        .iter()
        .zip(real.iter().zip(&mock))
        .filter(|(_, (r, m))| r != m)
        .map(|(s, (r, m))| format!("{s:?}: memcached `{r}`, mock `{m}`"))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Requests of the whole command set in one batch with single-key
/// commands: the whole-client ones (set_many, get_many, delete_many,
/// version, stats) are barriers, so each sees what the commands before it
/// did and the commands after it see what it did; every answer is in its
/// own slot, in request order.
fn requests_in_a_batch(c: &dyn Memcache) {
    c.set(b"rq:n", b"5", 0, 0, None).unwrap();
    c.delete(b"rq:missing", None).unwrap();
    let none = Some(false);
    let mut b = Batch::new();
    let set = b.set(b"rq:a", b"1", 0, 0);
    let set_many = b.request(Request::SetMany {
        items: &[(b"rq:b", b"2"), (b"rq:c", b"3")],
        flags: 4,
        expire: 0,
        noreply: none,
    });
    let get_b = b.get(b"rq:b");
    let get_many = b.request(Request::Fetch {
        cmd: FetchCmd::Get,
        keys: &[b"rq:a", b"rq:b", b"rq:missing"],
    });
    let delete_c = b.request(Request::Delete {
        key: b"rq:c",
        noreply: none,
    });
    let incr = b.request(Request::Incr {
        key: b"rq:n",
        delta: 2,
        noreply: none,
    });
    let version = b.request(Request::Version);
    let stats = b.request(Request::Stats { args: &[] });
    let get_c = b.get(b"rq:c");
    let delete_many = b.request(Request::DeleteMany {
        keys: &[b"rq:a", b"rq:b", b"rq:missing"],
        noreply: none,
    });
    let get_a = b.get(b"rq:a");
    c.execute(&mut b).unwrap();

    assert_eq!(status_of(&b, set), OpStatus::Ok);
    assert_eq!(b.take_reply(set_many).unwrap(), Reply::Indices(vec![]));
    assert_eq!(
        (b.result_value(get_b), b.result(get_b).flags),
        (&b"2"[..], 4)
    );
    let items = b.take_reply(get_many).unwrap().into_items().unwrap();
    let values: Vec<Option<Vec<u8>>> = items.into_iter().map(|i| i.map(|i| i.value)).collect();
    assert_eq!(values, [Some(b"1".to_vec()), Some(b"2".to_vec()), None]);
    assert_eq!(b.take_reply(delete_c).unwrap(), Reply::Bool(true));
    assert_eq!(b.take_reply(incr).unwrap(), Reply::Counter(Some(7)));
    let v = b.take_reply(version).unwrap().into_text().unwrap();
    assert!(!v.is_empty());
    assert_eq!(v, c.version().unwrap());
    let s = b.take_reply(stats).unwrap().into_stats().unwrap();
    assert_eq!(s.len(), c.stats(&[]).unwrap().len());
    assert!(s.iter().all(|s| s.get("curr_items").is_some()), "{s:?}");
    assert_eq!(status_of(&b, get_c), OpStatus::Miss);
    assert_eq!(b.take_reply(delete_many).unwrap(), Reply::Count(2));
    assert_eq!(status_of(&b, get_a), OpStatus::Miss);
    // A reply is taken once; batch commands have none.
    assert!(b.take_reply(version).is_err());
    assert!(b.take_reply(get_a).is_err());

    // Reused: the same batch again, in the state the first run left.
    c.execute(&mut b).unwrap();
    assert_eq!(b.take_reply(incr).unwrap(), Reply::Counter(Some(9)));
    assert_eq!(b.take_reply(delete_c).unwrap(), Reply::Bool(true));

    // One request alone is a single call: the same answer as `call`.
    let mut one = Batch::new();
    one.request(Request::Fetch {
        cmd: FetchCmd::Gets,
        keys: &[b"rq:n"],
    });
    c.execute(&mut one).unwrap();
    let item = one.take_reply(0).unwrap().into_items().unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(item.value.trim_ascii(), b"9");
    assert!(item.cas.is_some());
    assert_eq!(status_of(&one, 0), OpStatus::Ok);
    let called = c
        .call(Request::Fetch {
            cmd: FetchCmd::Gets,
            keys: &[b"rq:n"],
        })
        .unwrap();
    assert_eq!(called, Reply::Items(vec![Some(item)]));
}

#[test]
fn requests_in_a_batch_on_every_kind() {
    each_kind(|c| requests_in_a_batch(c));
}

/// A batch with requests across three nodes with one down: each
/// whole-client request answers as the same single call does, the
/// single-key commands of the down node fail with a connection error and
/// the others run.
#[test]
fn hash_requests_with_one_node_down() {
    let mut ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let addrs: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let a: Vec<&str> = addrs.iter().map(|s| s.as_str()).collect();
    // A node that failed is skipped for a minute: the batch and the single
    // calls it is compared with see the same live nodes.
    let hash = HashOptions {
        retry_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let h = HashClient::new(&a, &opts(), hash).unwrap();
    let keys: Vec<String> = (0..30).map(|i| format!("hr:{i}")).collect();
    let ks: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let items: Vec<(&[u8], &[u8])> = ks.iter().map(|k| (*k, *k)).collect();
    assert!(h.set_many(&items, 0, 0, None).unwrap().is_empty());
    let down = h.server_for_key(ks[0]).unwrap();
    ms.iter_mut().find(|m| m.addr() == down).unwrap().kill();
    // The client learns of it from its connection.
    assert!(h.get(ks[0]).unwrap_err().is_connection_failure());

    let mut b = Batch::new();
    let stats = b.request(Request::Stats { args: &[] });
    let singles: Vec<usize> = ks.iter().map(|k| b.get(k)).collect();
    let get_many = b.request(Request::Fetch {
        cmd: FetchCmd::Get,
        keys: &ks,
    });
    let version = b.request(Request::Version);
    h.execute(&mut b).unwrap();

    let same = |got: pymemcache::Result<Reply>, want: pymemcache::Result<Reply>| match (got, want) {
        (Ok(g), Ok(w)) => assert_eq!(g, w),
        (Err(g), Err(w)) => assert_eq!(g.kind(), w.kind(), "{g} / {w}"),
        (g, w) => panic!("batch {g:?}, single call {w:?}"),
    };
    let stats_got = b.take_reply(stats).map(|r| match r {
        // Stats change between two reads: compare the servers that answered.
        Reply::Stats(s) => Reply::Count(s.len()),
        other => other,
    });
    let stats_want = h.call(Request::Stats { args: &[] }).map(|r| match r {
        Reply::Stats(s) => Reply::Count(s.len()),
        other => other,
    });
    same(stats_got, stats_want);
    same(
        b.take_reply(get_many),
        h.call(Request::Fetch {
            cmd: FetchCmd::Get,
            keys: &ks,
        }),
    );
    same(b.take_reply(version), h.call(Request::Version));
    let mut failed = 0;
    for (&i, k) in singles.iter().zip(&ks) {
        let r = b.result(i);
        if h.server_for_key(k).unwrap() == down {
            failed += 1;
            assert_eq!(r.status, OpStatus::Failed);
            assert!(r.error.as_ref().unwrap().is_connection_failure());
        } else {
            assert_eq!((r.status, b.result_value(i)), (OpStatus::Ok, *k));
        }
    }
    assert!(failed > 0 && failed < ks.len());
}

/// A batch of one request goes on the wire as its classic command (a
/// server without meta answers it); in a batch of several, a single-key
/// request joins the meta pipeline, and whole-client requests stay classic.
#[test]
fn one_request_is_the_classic_command() {
    let addr = line_peer(|line| {
        if line.starts_with("get ") {
            b"VALUE k 3 1\r\nv\r\nEND\r\n"
        } else if line == "version" {
            b"VERSION 1.4.0\r\n"
        } else {
            b"ERROR\r\n"
        }
    });
    let c = Client::new(&addr, &opts()).unwrap();
    let get = Request::Fetch {
        cmd: FetchCmd::Get,
        keys: &[b"k"],
    };
    let mut b = Batch::new();
    b.request(get);
    c.execute(&mut b).unwrap();
    let item = b.take_reply(0).unwrap().into_items().unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!((item.value.as_slice(), item.flags), (&b"v"[..], 3));
    assert_eq!(c.version().unwrap(), "1.4.0");

    b.clear();
    b.request(Request::Version);
    b.request(get);
    b.get(b"k");
    c.execute(&mut b).unwrap();
    assert_eq!(b.take_reply(0).unwrap(), Reply::Text("1.4.0".into()));
    for i in 1..3 {
        let e = b.result(i).error.as_ref().unwrap();
        assert_eq!(e.kind(), ErrorKind::UnknownCommand, "{e}");
    }
}

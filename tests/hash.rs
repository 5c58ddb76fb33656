//! HashClient against three real memcached processes.

mod common;
use common::Memcached;
use pymemcache::hash::{NodeHasher, RendezvousHash};
use pymemcache::{Client, ClientOptions, Error, HashClient, HashOptions, Memcache};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn opts(ignore_exc: bool) -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        ignore_exc,
        connect_timeout: Some(Duration::from_millis(300)),
        timeout: Some(Duration::from_secs(2)),
        ..Default::default()
    }
}

fn fast_failover() -> HashOptions {
    HashOptions {
        retry_attempts: 1,
        // Long enough that a busy machine never stretches the steps of a
        // test past them by accident.
        retry_timeout: Duration::from_millis(800),
        dead_timeout: Duration::from_millis(2000),
        ..Default::default()
    }
}

fn cluster(n: usize) -> Vec<Memcached> {
    (0..n).map(|_| Memcached::tcp(&[])).collect()
}

fn addrs(ms: &[Memcached]) -> Vec<String> {
    ms.iter().map(|m| m.addr()).collect()
}

fn hash_client(ms: &[Memcached], o: &ClientOptions, h: HashOptions) -> HashClient {
    let a = addrs(ms);
    let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    HashClient::new(&refs, o, h).unwrap()
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user:{i}:profile")).collect()
}

#[test]
fn keys_land_where_rendezvous_hashing_says() {
    let ms = cluster(3);
    let c = hash_client(&ms, &opts(false), HashOptions::default());
    let names = addrs(&ms);
    let hasher = RendezvousHash::new(&names);
    let plain: HashMap<String, Client> = names
        .iter()
        .map(|n| (n.clone(), Client::new(n, &opts(false)).unwrap()))
        .collect();
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for k in keys(600) {
        c.set(k.as_bytes(), k.as_bytes(), 0, 0, None).unwrap();
        let want = hasher.get_node(k.as_bytes()).unwrap().to_string();
        assert_eq!(c.server_for(k.as_bytes()).unwrap(), want);
        for (name, pc) in &plain {
            let found = pc.get(k.as_bytes()).unwrap().is_some();
            assert_eq!(
                found,
                *name == want,
                "{k} on {name}? expected only on {want}"
            );
        }
        *per_node.entry(want).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3);
    assert!(per_node.values().all(|&n| n > 120), "{per_node:?}");
}

#[test]
fn multi_key_commands_span_every_node() {
    let ms = cluster(3);
    let c = hash_client(&ms, &opts(false), HashOptions::default());
    let ks = keys(3000);
    let vals: Vec<String> = ks.iter().map(|k| format!("v-{k}")).collect();
    let items: Vec<(&[u8], &[u8])> = ks
        .iter()
        .zip(&vals)
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    assert!(c.set_many(&items, 5, 0, None).unwrap().is_empty());
    let mut refs: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
    refs.push(b"missing-key");
    let got = c.get_many(&refs).unwrap();
    assert_eq!(got.len(), refs.len());
    for (i, item) in got.iter().take(ks.len()).enumerate() {
        let item = item.as_ref().unwrap();
        assert_eq!((item.value.as_slice(), item.flags), (vals[i].as_bytes(), 5));
    }
    assert!(got.last().unwrap().is_none());
    let with_cas = c.gets_many(&refs[..10]).unwrap();
    assert!(with_cas.iter().all(|i| i.as_ref().unwrap().cas.is_some()));
    assert_eq!(c.delete_many(&refs, None).unwrap(), ks.len());
    assert!(c.get_many(&refs).unwrap().iter().all(Option::is_none));
    // Illegal input anywhere: nothing is sent.
    assert!(matches!(
        c.get_many(&[b"ok", b"bad key"]),
        Err(Error::IllegalInput(_))
    ));
}

#[test]
fn every_node_commands() {
    let ms = cluster(3);
    let c = hash_client(&ms, &opts(false), HashOptions::default());
    let stats = c.stats(&[]).unwrap();
    let mut servers: Vec<String> = stats.iter().map(|s| s.server.clone()).collect();
    servers.sort();
    let mut want = addrs(&ms);
    want.sort();
    assert_eq!(servers, want);
    assert!(stats.iter().all(|s| s.get("pid").is_some()));
    assert!(c.version().unwrap().starts_with("1."));
    for k in keys(50) {
        c.set(k.as_bytes(), b"x", 0, 0, None).unwrap();
    }
    c.flush_all(0, None).unwrap();
    for k in keys(50) {
        assert_eq!(c.get(k.as_bytes()).unwrap(), None);
    }
    assert!(matches!(
        c.raw_command(b"version", b"\r\n"),
        Err(Error::IllegalInput(_))
    ));
}

#[test]
fn a_failed_node_reads_as_misses_then_dies_then_returns() {
    let mut ms = cluster(3);
    let c = hash_client(&ms, &opts(true), fast_failover());
    let ks = keys(300);
    for k in &ks {
        c.set(k.as_bytes(), k.as_bytes(), 0, 0, None).unwrap();
    }
    let victim = ms[1].addr();
    let on_victim: Vec<&String> = ks
        .iter()
        .filter(|k| c.server_for(k.as_bytes()).unwrap() == victim)
        .collect();
    assert!(!on_victim.is_empty());
    ms[1].kill();

    // ignore_exc: the dead node's keys are misses, the others unaffected.
    let refs: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
    let got = c.get_many(&refs).unwrap();
    for (k, item) in ks.iter().zip(&got) {
        let lost = on_victim.contains(&k);
        assert_eq!(item.is_none(), lost, "{k}");
    }
    assert_eq!(c.get(on_victim[0].as_bytes()).unwrap(), None);
    assert_eq!(c.live_servers().len(), 3, "failed, not yet dead");

    // After retry_timeout the retry fails too: dead, out of the hash.
    std::thread::sleep(Duration::from_millis(850));
    assert_eq!(c.get(on_victim[0].as_bytes()).unwrap(), None);
    assert_eq!(c.live_servers().len(), 2);
    assert!(!c.live_servers().contains(&victim));
    for k in &on_victim {
        assert_ne!(c.server_for(k.as_bytes()).unwrap(), victim);
        assert!(c.set(k.as_bytes(), b"moved", 0, 0, None).unwrap());
        assert_eq!(c.get(k.as_bytes()).unwrap().unwrap().value, b"moved");
    }
    // Other keys never moved.
    for k in ks.iter().filter(|k| !on_victim.contains(k)) {
        assert_eq!(c.get(k.as_bytes()).unwrap().unwrap().value, k.as_bytes());
    }

    // Restart it: after dead_timeout it is back in the hash.
    ms[1].restart();
    std::thread::sleep(Duration::from_millis(2050));
    assert_eq!(c.server_for(on_victim[0].as_bytes()).unwrap(), victim);
    assert_eq!(c.live_servers().len(), 3);
    assert_eq!(
        c.get(on_victim[0].as_bytes()).unwrap(),
        None,
        "a restarted node is empty"
    );
    assert!(c.set(on_victim[0].as_bytes(), b"back", 0, 0, None).unwrap());
    let plain = Client::new(&victim, &opts(false)).unwrap();
    assert_eq!(
        plain.get(on_victim[0].as_bytes()).unwrap().unwrap().value,
        b"back"
    );
}

#[test]
fn without_ignore_exc_errors_are_returned() {
    let mut ms = cluster(3);
    let c = hash_client(&ms, &opts(false), fast_failover());
    let ks = keys(200);
    let items: Vec<(&[u8], &[u8])> = ks.iter().map(|k| (k.as_bytes(), &b"v"[..])).collect();
    assert!(c.set_many(&items, 0, 0, None).unwrap().is_empty());
    let victim = ms[2].addr();
    let victim_keys: Vec<usize> = (0..ks.len())
        .filter(|&i| c.server_for(ks[i].as_bytes()).unwrap() == victim)
        .collect();
    let other = (0..ks.len()).find(|i| !victim_keys.contains(i)).unwrap();
    ms[2].kill();
    let e = c.get(ks[victim_keys[0]].as_bytes()).unwrap_err();
    assert!(e.is_connection_failure(), "{e}");
    assert_eq!(c.get(ks[other].as_bytes()).unwrap().unwrap().value, b"v");
    // Within retry_timeout the failed node is not tried: its commands give
    // their defaults, as pymemcache's HashClient does even without ignore_exc.
    let vk = ks[victim_keys[0]].as_bytes();
    assert_eq!(c.get(vk).unwrap(), None);
    assert!(!c.set(vk, b"v", 0, 0, None).unwrap());
    assert!(!c.delete(vk, None).unwrap());
    assert_eq!(c.incr(vk, 1, None).unwrap(), None);
    assert!(!c.touch(vk, 0, None).unwrap());
    let all: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
    let got = c.get_many(&all).unwrap();
    for (i, it) in got.iter().enumerate() {
        assert_eq!(it.is_none(), victim_keys.contains(&i), "key {i}");
    }
    // Within retry_timeout the failed node is skipped: set_many reports its
    // keys as failed, every other key is stored.
    let failed = c.set_many(&items, 0, 0, None).unwrap();
    assert_eq!(failed, victim_keys);
    // A server's reply is not a node failure.
    c.set(ks[other].as_bytes(), b"text", 0, 0, None).unwrap();
    assert!(matches!(
        c.incr(ks[other].as_bytes(), 1, None),
        Err(Error::ClientError { .. })
    ));
    assert_eq!(c.live_servers().len(), 3);
}

#[test]
fn no_live_server_is_its_own_error() {
    let mut ms = cluster(1);
    let h = HashOptions {
        retry_attempts: 0,
        ..fast_failover()
    };
    let c = hash_client(&ms, &opts(false), h);
    c.set(b"k", b"v", 0, 0, None).unwrap();
    ms[0].kill();
    assert!(c.get(b"k").unwrap_err().is_connection_failure());
    assert!(c.live_servers().is_empty());
    assert!(matches!(c.get(b"k"), Err(Error::NoServers)));
    assert!(matches!(
        c.set(b"k", b"v", 0, 0, None),
        Err(Error::NoServers)
    ));
    let empty = HashClient::new(&[], &opts(true), HashOptions::default()).unwrap();
    assert_eq!(empty.get(b"k").unwrap(), None, "ignore_exc: a miss");
}

#[test]
fn adding_and_removing_servers_moves_only_the_hashed_keys() {
    let ms = cluster(3);
    let names = addrs(&ms);
    let c = HashClient::new(
        &[&names[0], &names[1]],
        &opts(false),
        HashOptions::default(),
    )
    .unwrap();
    let ks = keys(2000);
    let before: Vec<String> = ks
        .iter()
        .map(|k| c.server_for(k.as_bytes()).unwrap())
        .collect();
    for k in &ks {
        c.set(k.as_bytes(), b"1", 0, 0, None).unwrap();
    }
    c.add_server(&names[2]).unwrap();
    assert!(matches!(c.add_server(&names[2]), Err(Error::Config(_))));
    let after: Vec<String> = ks
        .iter()
        .map(|k| c.server_for(k.as_bytes()).unwrap())
        .collect();
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    for (b, a) in before.iter().zip(&after) {
        assert!(a == b || *a == names[2], "a key moved from {b} to {a}");
    }
    assert!(
        moved > 400 && moved < 1000,
        "{moved} of 2000 keys moved to the new node"
    );
    // Keys that did not move are still readable; moved ones miss.
    for (i, k) in ks.iter().enumerate() {
        let hit = c.get(k.as_bytes()).unwrap().is_some();
        assert_eq!(hit, before[i] == after[i], "{k}");
    }
    c.remove_server(&names[0]).unwrap();
    assert!(matches!(c.remove_server(&names[0]), Err(Error::Config(_))));
    for (i, k) in ks.iter().enumerate() {
        let now = c.server_for(k.as_bytes()).unwrap();
        if after[i] != names[0] {
            assert_eq!(now, after[i], "{k} moved though its node stayed");
        } else {
            assert_ne!(now, names[0]);
        }
    }
    assert_eq!(c.servers(), vec![names[1].clone(), names[2].clone()]);
}

#[test]
fn pooled_hash_client_shared_by_threads() {
    let ms = cluster(3);
    let h = HashOptions {
        use_pooling: true,
        ..Default::default()
    };
    let c = std::sync::Arc::new(hash_client(&ms, &opts(false), h));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..6)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..300 {
                    let k = format!("t{t}:{i}");
                    c.set(k.as_bytes(), k.as_bytes(), 0, 0, None).unwrap();
                    let keys = [k.as_bytes(), b"absent"];
                    let got = c.get_many(&keys).unwrap();
                    assert_eq!(got[0].as_ref().unwrap().value, k.as_bytes());
                    assert!(got[1].is_none());
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let s = c.pool_stats().unwrap();
    assert_eq!((s.in_use, s.destroyed), (0, 0));
    assert!(s.created >= 3 && s.created <= 18, "{s:?}");
    assert!(t0.elapsed() < Duration::from_secs(60));
}

#[test]
fn packed_reads_match_item_reads() {
    use pymemcache::client::Packed;
    use pymemcache::FetchCmd;
    let mut ms = cluster(3);
    let c = hash_client(&ms, &opts(true), fast_failover());
    let ks = keys(300);
    for (i, k) in ks.iter().enumerate() {
        if i % 3 != 0 {
            c.set(k.as_bytes(), format!("v{i}").as_bytes(), i as u32, 0, None)
                .unwrap();
        }
    }
    let refs: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
    let check = |c: &HashClient| {
        let items = c.fetch(FetchCmd::Gets, &refs).unwrap();
        let mut packed = Packed::default();
        c.fetch_packed(FetchCmd::Gets, &refs, &mut packed).unwrap();
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_some())
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            packed.hits.iter().map(|h| h.index).collect::<Vec<_>>(),
            hits,
            "request order"
        );
        for h in &packed.hits {
            let it = items[h.index].as_ref().unwrap();
            assert_eq!(
                (packed.value(h), h.flags, h.cas),
                (it.value.as_slice(), it.flags, it.cas)
            );
            assert_eq!(packed.data[h.start + h.len], 0, "NUL after each value");
        }
        hits.len()
    };
    assert_eq!(check(&c), 200);
    // A dead node's keys read as misses (ignore_exc) in both forms.
    ms[1].kill();
    let live = check(&c);
    assert!(live < 200 && live > 0, "{live}");
}

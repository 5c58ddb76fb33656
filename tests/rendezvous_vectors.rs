//! Every line of pymemcache's own vectors (shared/reference/rendezvous-vectors.tsv):
//! murmur3 values and key -> node for 3 and 4 node lists.

use pymemcache::hash::{murmur3_32_text, NodeHasher, RendezvousHash};

fn vectors() -> String {
    let candidates = [
        std::env::var("PMC_VECTORS").unwrap_or_default(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rendezvous-vectors.tsv"
        )
        .to_string(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/rendezvous-vectors.tsv"
        )
        .to_string(),
    ];
    candidates
        .iter()
        .filter(|p| !p.is_empty())
        .find_map(|p| std::fs::read_to_string(p).ok())
        .expect("rendezvous-vectors.tsv (tests/data/ or ../shared/reference/)")
}

#[test]
fn agrees_with_every_vector() {
    let node3 = RendezvousHash::new(&["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"]);
    let node4 = RendezvousHash::new(&[
        "/var/run/memcached/a.sock",
        "10.0.0.1:11211",
        "[::1]:11211",
        "cache-2.example:11211",
    ]);
    let (mut m, mut n3, mut n4) = (0, 0, 0);
    for line in vectors().lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "bad line {line:?}");
        match f[0] {
            "murmur3" => {
                let want: u32 = f[2].parse().unwrap();
                assert_eq!(
                    murmur3_32_text(f[1].as_bytes(), 0),
                    want,
                    "murmur3 of {:?}",
                    f[1]
                );
                m += 1;
            }
            "node3" => {
                assert_eq!(
                    node3.get_node(f[1].as_bytes()),
                    Some(f[2]),
                    "node3 {:?}",
                    f[1]
                );
                n3 += 1;
            }
            "node4" => {
                assert_eq!(
                    node4.get_node(f[1].as_bytes()),
                    Some(f[2]),
                    "node4 {:?}",
                    f[1]
                );
                n4 += 1;
            }
            other => panic!("unknown kind {other}"),
        }
    }
    println!("checked {m} murmur3, {n3} node3, {n4} node4 vectors");
    assert!(
        m > 5 && n3 > 100 && n4 > 100,
        "too few vectors: {m} {n3} {n4}"
    );
}

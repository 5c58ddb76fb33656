//! Every line of pymemcache's own vectors (shared/reference/rendezvous-vectors.tsv,
//! plus the bytes-key lines tests/py/gen_bytes_vectors.py made with pymemcache):
//! murmur3 values and key -> node for 3 and 4 node lists, text and bytes keys.

use pymemcache::hash::{murmur3_32_text, NodeHasher, RendezvousHash};
use pymemcache::KeyForm;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn bytes_form(nodes: &[&str]) -> RendezvousHash {
    let mut h = RendezvousHash::with_key_form(KeyForm::PythonBytes);
    for n in nodes {
        h.add_node(n);
    }
    h
}

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
    let nodes3 = ["127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213"];
    let nodes4 = [
        "/var/run/memcached/a.sock",
        "10.0.0.1:11211",
        "[::1]:11211",
        "cache-2.example:11211",
    ];
    let node3 = RendezvousHash::new(&nodes3);
    let node4 = RendezvousHash::new(&nodes4);
    let (bytes3, bytes4) = (bytes_form(&nodes3), bytes_form(&nodes4));
    let (mut m, mut n3, mut n4, mut b) = (0, 0, 0, 0);
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
            "bytes3" | "bytes4" => {
                let h = if f[0] == "bytes3" { &bytes3 } else { &bytes4 };
                assert_eq!(h.get_node(&unhex(f[1])), Some(f[2]), "{} {}", f[0], f[1]);
                b += 1;
            }
            other => panic!("unknown kind {other}"),
        }
    }
    println!("checked {m} murmur3, {n3} node3, {n4} node4, {b} bytes-key vectors");
    assert!(
        m > 5 && n3 > 100 && n4 > 100,
        "too few vectors: {m} {n3} {n4}"
    );
    // The shared reference copy has no bytes-key lines; tests/data/ has them.
    if vectors().contains("\nbytes3\t") {
        assert!(b > 800, "too few bytes-key vectors: {b}");
    }
}

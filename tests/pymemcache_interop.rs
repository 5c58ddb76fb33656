//! Cross-check with the real pymemcache: for 10,000 generated keys both
//! HashClients pick the same node, and values written through one cluster
//! client are read by the other.

mod common;
#[path = "common/python.rs"]
mod python;

use common::{temp_dir, Memcached};
use pymemcache::{ClientOptions, HashClient, HashOptions, Memcache};
use std::process::Command;

fn generated_keys(n: usize) -> Vec<String> {
    let alphabet: Vec<char> =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:./|#"
            .chars()
            .collect();
    let unicode = [
        "caf\u{e9}",
        "\u{65e5}\u{672c}",
        "\u{1f600}",
        "\u{161}",
        "\u{3a9}x",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|i| {
            let len = 1 + (next() % 60) as usize;
            let mut k: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if i % 10 == 0 {
                k.push_str(unicode[i / 10 % unicode.len()]);
            }
            if i % 97 == 0 {
                k = format!("{k}{}", "L".repeat(180));
            }
            format!("{k}{i}")
        })
        .collect()
}

#[test]
fn same_nodes_and_shared_values_as_pymemcache() {
    let py = python::python();
    let ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let servers: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    let refs: Vec<&str> = servers.iter().map(|s| s.as_str()).collect();
    let opts = ClientOptions {
        allow_unicode_keys: true,
        default_noreply: false,
        ..Default::default()
    };
    let client = HashClient::new(&refs, &opts, HashOptions::default()).unwrap();
    let keys = generated_keys(10_000);

    // Rust writes the odd keys first; Python checks them.
    for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        let v = format!("rs:{k}");
        assert!(
            client.set(k.as_bytes(), v.as_bytes(), 0, 0, None).unwrap(),
            "{i}"
        );
    }
    let dir = temp_dir();
    let keys_file = dir.join("keys.txt");
    let out_file = dir.join("nodes.tsv");
    std::fs::write(
        &keys_file,
        keys.iter().map(|k| format!("{k}\n")).collect::<String>(),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/hash_interop.py");
    let out = Command::new(py)
        .arg(script)
        .arg(servers.join(","))
        .arg(&keys_file)
        .arg(&out_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python failed: {stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let nodes = std::fs::read_to_string(&out_file).unwrap();
    let mut agreed = 0;
    for (line, k) in nodes.lines().zip(&keys) {
        let (pk, pnode) = line.rsplit_once('\t').unwrap();
        assert_eq!(pk, k);
        assert_eq!(client.server_for(k.as_bytes()).unwrap(), pnode, "key {k:?}");
        agreed += 1;
    }
    assert_eq!(agreed, keys.len());

    // Python wrote the even keys; Rust reads them, in one multi-get too.
    let even: Vec<&[u8]> = keys.iter().step_by(2).map(|k| k.as_bytes()).collect();
    let got = client.get_many(&even).unwrap();
    for (k, item) in even.iter().zip(got) {
        let item = item.unwrap_or_else(|| panic!("missing {:?}", String::from_utf8_lossy(k)));
        assert_eq!(item.value, [&b"py:"[..], k].concat());
        assert_eq!(item.flags, 0);
    }
    println!(
        "{agreed} keys placed alike; {} values crossed each way",
        keys.len() / 2
    );
}

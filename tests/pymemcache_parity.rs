//! Differential tests against the real pymemcache 4.0.0 on the same
//! memcached servers: the conformance table's outcomes, which keys are
//! accepted or refused, and where a HashClient places bytes and text keys.
//! Every difference that remains is listed in the README ("Differences from
//! pymemcache") and in tests/py/conformance_runner.py's KNOWN list.

mod common;
#[path = "common/python.rs"]
mod python;

use common::{temp_dir, Memcached};
use pymemcache::{Client, ClientOptions, HashClient, HashOptions, KeyForm, Memcache};
use std::process::Command;
use std::time::Duration;

fn py_script(name: &str) -> String {
    format!("{}/tests/py/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Run a script with pymemcache's interpreter; its stdout, or a panic with
/// everything it printed.
fn run_python(args: &[&str]) -> String {
    let out = Command::new(python::python()).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn opts() -> ClientOptions {
    ClientOptions {
        connect_timeout: Some(Duration::from_secs(5)),
        timeout: Some(Duration::from_secs(5)),
        default_noreply: false,
        ..ClientOptions::default()
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// pymemcache's client, pooled client and hash client (3 servers) give the
/// table's outcomes, but for the known differences the runner lists.
#[test]
fn conformance_table_holds_for_pymemcache() {
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance/cases.txt");
    let ms: Vec<Memcached> = (0..3).map(|_| Memcached::tcp(&[])).collect();
    let all: Vec<String> = ms.iter().map(|m| m.addr()).collect();
    for (kind, servers) in [
        ("client", all[0].clone()),
        ("pooled", all[0].clone()),
        ("hash", all.join(",")),
    ] {
        let out = run_python(&[
            &py_script("conformance_runner.py"),
            kind,
            "bytes",
            &servers,
            cases,
        ]);
        let last = out.lines().last().unwrap_or_default();
        println!("pymemcache {kind}: {last}");
        assert!(last.ends_with(", 0 failed"), "{out}");
        let known = out.lines().filter(|l| l.starts_with("known difference"));
        assert_eq!(known.count(), 3, "{out}");
    }
}

/// For ~3,000 generated keys, each with and without a prefix, as bytes and
/// as text, with allow_unicode_keys off and on: this library accepts exactly
/// the keys pymemcache accepts, and reads what pymemcache stored under them.
#[test]
fn same_keys_accepted_and_refused_as_pymemcache() {
    let mc = Memcached::tcp(&[]);
    let dir = temp_dir();
    let out = dir.join("rules.tsv");
    run_python(&[
        &py_script("key_parity.py"),
        "rules",
        &mc.addr(),
        out.to_str().unwrap(),
    ]);
    let table = std::fs::read_to_string(&out).unwrap();
    let (mut agreed, mut stored, mut blank_keys) = (0, Vec::new(), 0);
    for line in table.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (key, form, prefix, unicode, pm) = (unhex(f[0]), f[1], f[2], f[3] == "1", f[4]);
        let o = ClientOptions {
            key_prefix: prefix.as_bytes().to_vec(),
            allow_unicode_keys: unicode,
            ..opts()
        };
        let rules = o.key_rules().unwrap();
        let ours = match form {
            "bytes" => rules.check(&key),
            _ => rules.check_text(std::str::from_utf8(&key).unwrap()),
        };
        // The known difference: a key of whitespace only (or empty), without
        // a prefix, passes pymemcache's check (`key.split()` finds no part to
        // compare) and is sent: memcached stores it when its bytes are \t, \v
        // or \f and refuses the command otherwise. Refused here before
        // sending: whitespace never reaches the wire.
        let blank = prefix.is_empty() && key.iter().all(|b| b" \t\n\r\x0b\x0c".contains(b));
        match pm {
            _ if blank => {
                assert!(ours.is_err(), "{line}");
                assert!(["1", "sent-refused-by-server"].contains(&pm), "{line}");
                blank_keys += 1;
            }
            "1" => {
                assert!(ours.is_ok(), "{line}: refused here: {ours:?}");
                if form == "bytes" {
                    stored.push((prefix.to_string(), key));
                }
            }
            "0" => assert!(
                ours.is_err(),
                "{line}: pymemcache refuses it, accepted here"
            ),
            other => panic!("{line}: unexpected outcome {other}"),
        }
        agreed += 1;
    }
    assert!(agreed > 20_000, "only {agreed} lines");
    // What pymemcache stored, read back through this library's clients.
    for prefix in ["", "app:"] {
        let o = ClientOptions {
            key_prefix: prefix.as_bytes().to_vec(),
            ..opts()
        };
        let c = Client::new(&mc.addr(), &o).unwrap();
        let keys: Vec<&[u8]> = stored
            .iter()
            .filter(|(p, _)| p == prefix)
            .map(|(_, k)| k.as_slice())
            .collect();
        assert!(keys.len() > 2_000);
        for chunk in keys.chunks(100) {
            for (k, it) in chunk.iter().zip(c.get_many(chunk).unwrap()) {
                let it = it.unwrap_or_else(|| panic!("{:?} with prefix {prefix:?} missing", k));
                assert_eq!(it.value, hex(&[prefix.as_bytes(), k].concat()).as_bytes());
            }
        }
    }
    println!(
        "{agreed} key checks agree with pymemcache ({blank_keys} of them empty or blank keys: the known difference); {} stored keys read back",
        stored.len()
    );
}

/// pymemcache's HashClient over 2, 3 and 5 real servers stores generated
/// keys passed as bytes, then as text; a HashClient here with the matching
/// key form picks the same node for every key and reads every value.
#[test]
fn placement_of_bytes_and_text_keys_matches_pymemcache() {
    for n in [2, 3, 5] {
        let ms: Vec<Memcached> = (0..n).map(|_| Memcached::tcp(&[])).collect();
        let servers: Vec<String> = ms.iter().map(|m| m.addr()).collect();
        let refs: Vec<&str> = servers.iter().map(String::as_str).collect();
        let mut moved = 0;
        for (form, key_form) in [("bytes", KeyForm::PythonBytes), ("str", KeyForm::Text)] {
            for s in &servers {
                Client::new(s, &opts()).unwrap().flush_all(0, None).unwrap();
            }
            let out = temp_dir().join("nodes.tsv");
            run_python(&[
                &py_script("key_parity.py"),
                "place",
                &servers.join(","),
                form,
                out.to_str().unwrap(),
            ]);
            let hash = HashOptions {
                key_form,
                ..HashOptions::default()
            };
            let client = HashClient::new(&refs, &opts(), hash).unwrap();
            let text = HashClient::new(&refs, &opts(), HashOptions::default()).unwrap();
            let lines = std::fs::read_to_string(&out).unwrap();
            let keys: Vec<(Vec<u8>, &str)> = lines
                .lines()
                .map(|l| {
                    let (k, node) = l.split_once('\t').unwrap();
                    (unhex(k), node)
                })
                .collect();
            assert!(
                keys.len() > 1_000,
                "{n} servers, {form}: {} keys",
                keys.len()
            );
            for (k, node) in &keys {
                assert_eq!(client.server_for(k).unwrap(), *node, "{form} key {k:?}");
                if text.server_for(k).unwrap() != *node {
                    moved += 1;
                }
            }
            let all: Vec<&[u8]> = keys.iter().map(|(k, _)| k.as_slice()).collect();
            for chunk in all.chunks(100) {
                for (k, it) in chunk.iter().zip(client.get_many(chunk).unwrap()) {
                    let it = it.unwrap_or_else(|| panic!("{form} key {k:?} not found"));
                    assert_eq!(it.value, hex(k).as_bytes());
                }
            }
            println!("{n} servers, {form} keys: {} placed alike", keys.len());
        }
        // The option matters: as text, many bytes keys would land elsewhere.
        assert!(
            moved > 100,
            "{n} servers: only {moved} keys move between forms"
        );
        println!("{n} servers: {moved} bytes keys land elsewhere when hashed as text");
    }
}

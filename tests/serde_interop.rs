//! Sharing one cache with Python services that use pymemcache (the real
//! one, from PyPI): every kind of value either side writes, the other reads.

mod common;
#[path = "common/python.rs"]
mod python;

use common::Memcached;
use pymemcache::serde::{
    decode_item, pickle, value_to_i64, value_to_json, value_to_text, CompressingSerde,
    PymemcacheSerde, SerdeClient, Value, DEFAULT_MIN_COMPRESS_LEN,
};
use pymemcache::{Client, ClientOptions, Error, Memcache};
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/serde_interop.py");

fn run_python(mode: &str, server: &str) {
    let out = Command::new(python::python())
        .args([SCRIPT, mode, server])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python {mode} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}

fn opts() -> ClientOptions {
    ClientOptions {
        default_noreply: false,
        ..Default::default()
    }
}

fn read(c: &Client, key: &str) -> (Value, u32) {
    let it = c
        .get(key.as_bytes())
        .unwrap()
        .unwrap_or_else(|| panic!("{key} missing"));
    let flags = it.flags;
    (decode_item(it.value, it.flags, 1 << 26).unwrap(), flags)
}

#[test]
fn rust_reads_what_python_wrote() {
    let mc = Memcached::tcp(&[]);
    run_python("write", &mc.addr());
    let c = Client::new(&mc.addr(), &opts()).unwrap();

    assert_eq!(
        read(&c, "py:bytes"),
        (Value::Bytes(b"\x00\x01binary\r\n\xff".to_vec()), 0)
    );
    let (v, f) = read(&c, "py:str");
    assert_eq!(
        (value_to_text(v).unwrap(), f),
        ("h\u{e9}llo w\u{f6}rld \u{2603}".to_string(), 16)
    );
    assert_eq!(value_to_i64(read(&c, "py:int").0).unwrap(), 42);
    assert_eq!(value_to_i64(read(&c, "py:neg").0).unwrap(), -7);
    let (big, f) = read(&c, "py:bigint");
    assert_eq!(
        (big.clone(), f),
        (Value::BigInt("1267650600228229401496703205376".into()), 2)
    );
    assert!(matches!(value_to_i64(big), Err(Error::NotInteger(_))));

    let (st, f) = read(&c, "py:struct");
    assert_eq!(f, 1);
    assert_eq!(
        value_to_json(&st).unwrap(),
        concat!(
            r#"{"list":[1,2.5,null,true,false,"s",-1208925819614629174706176],"name":"café","#,
            r#""nested":{"a":[1,{"b":{"$bytes":"00ff"}}],"t":[1,"two"]},"set":{"$set":[3]}}"#
        )
    );
    assert_eq!(value_to_json(&read(&c, "py:float").0).unwrap(), "2.5");
    assert_eq!(value_to_json(&read(&c, "py:none").0).unwrap(), "null");
    assert!(matches!(
        value_to_json(&read(&c, "py:date").0),
        Err(Error::UnsupportedPickle(_))
    ));

    // CompressedSerde: compressed above 400 bytes, plain below.
    let (z, f) = read(&c, "py:zstr");
    assert_eq!((value_to_text(z).unwrap(), f), ("z".repeat(1000), 24));
    assert_eq!(read(&c, "py:zshort"), (Value::Text("short".into()), 16));
    let (zl, f) = read(&c, "py:zlist");
    assert_eq!(f, 9);
    let want: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    assert_eq!(value_to_json(&zl).unwrap(), format!("[{}]", want.join(",")));
    assert_eq!(read(&c, "py:zbytes"), (Value::Bytes(vec![b'B'; 399]), 0));
}

#[test]
fn python_reads_what_rust_wrote() {
    let mc = Memcached::tcp(&[]);
    let c = Client::new(&mc.addr(), &opts()).unwrap();
    let plain = PymemcacheSerde;
    let packed = CompressingSerde::new(PymemcacheSerde, DEFAULT_MIN_COMPRESS_LEN, 1 << 26);
    let p = SerdeClient::new(&c, &plain);
    let z = SerdeClient::new(&c, &packed);
    let struct_json = r#"{"name":"café","list":[1,2.5,null,true,"s"],"bytes":{"$bytes":"00ff"},"set":{"$set":[1,2]}}"#;
    let writes: Vec<(&str, Value)> = vec![
        ("rs:bytes", Value::Bytes(b"\x00\x01binary\r\n\xff".to_vec())),
        (
            "rs:str",
            Value::Text("h\u{e9}llo w\u{f6}rld \u{2603}".into()),
        ),
        ("rs:int", Value::Int(42)),
        ("rs:neg", Value::Int(-7)),
        (
            "rs:bigint",
            Value::BigInt("1267650600228229401496703205376".into()),
        ),
        (
            "rs:struct",
            Value::Pickle(pickle::from_json(struct_json).unwrap()),
        ),
    ];
    for (k, v) in &writes {
        assert!(p.set(k.as_bytes(), v, 0, None).unwrap(), "{k}");
    }
    assert!(z
        .set(b"rs:zstr", &Value::Text("z".repeat(1000)), 0, None)
        .unwrap());
    assert!(z
        .set(b"rs:zshort", &Value::Text("short".into()), 0, None)
        .unwrap());
    assert_eq!(c.get(b"rs:zstr").unwrap().unwrap().flags, 24, "compressed");
    assert_eq!(
        c.get(b"rs:zshort").unwrap().unwrap().flags,
        16,
        "too short to compress"
    );
    // And the typed reads come back through the same serde.
    assert_eq!(
        z.get(b"rs:zstr").unwrap().unwrap(),
        Value::Text("z".repeat(1000))
    );
    run_python("read", &mc.addr());
}

#[test]
fn bad_data_gives_its_error_never_a_crash() {
    let mc = Memcached::tcp(&[]);
    let c = Client::new(&mc.addr(), &opts()).unwrap();
    let bomb = pymemcache::serde::compress::compress(&vec![0u8; 8 << 20]);
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("not-utf8", vec![b'a', 0xff, 0xfe], 16),
        ("not-number", b"12abc".to_vec(), 2),
        ("corrupt-zlib", b"\x78\x9cnot really zlib".to_vec(), 8 | 16),
        (
            "truncated-pickle",
            b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01".to_vec(),
            1,
        ),
        (
            "huge-pickle",
            b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.".to_vec(),
            1,
        ),
        (
            "class-pickle",
            b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.".to_vec(),
            1,
        ),
        ("zip-bomb", bomb, 8),
    ];
    for (k, data, flags) in &cases {
        c.set(k.as_bytes(), data, *flags, 0, None).unwrap();
    }
    let decode = |k: &str, max: usize| {
        let it = c.get(k.as_bytes()).unwrap().unwrap();
        decode_item(it.value, it.flags, max)
    };
    assert!(matches!(
        decode("not-utf8", 1 << 20),
        Err(Error::NotText(_))
    ));
    assert!(matches!(
        decode("not-number", 1 << 20),
        Err(Error::NotInteger(_))
    ));
    assert!(matches!(
        decode("corrupt-zlib", 1 << 20),
        Err(Error::Corrupt(_))
    ));
    for k in ["truncated-pickle", "huge-pickle"] {
        let v = decode(k, 1 << 20).unwrap();
        assert!(matches!(value_to_json(&v), Err(Error::Corrupt(_))), "{k}");
    }
    let v = decode("class-pickle", 1 << 20).unwrap();
    assert!(matches!(
        value_to_json(&v),
        Err(Error::UnsupportedPickle(_))
    ));
    assert!(
        matches!(decode("zip-bomb", 1 << 20), Err(Error::Corrupt(_))),
        "bounded inflate"
    );
    let big = decode("zip-bomb", 8 << 20).unwrap();
    assert!(matches!(&big, Value::Bytes(b) if b.len() == 8 << 20 && b.iter().all(|&x| x == 0)));
}

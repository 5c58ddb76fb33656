//! Python pickles of plain data (None, bool, int, float, str, bytes, list,
//! tuple, dict, set), as pymemcache stores most objects (flag 1), to and
//! from JSON text for C callers.
//!
//! Every pickle is screened opcode by opcode before it is decoded: anything
//! that names a class or function (other than the few builtins older
//! protocols use for sets and bytes), builds an object, or refers outside
//! the stream is refused, so nothing is ever executed or half-read, and every
//! announced length is checked against the bytes actually there. The screen
//! also estimates what decoding will cost (serde_pickle copies a memoized
//! value at each reference, so a few hundred bytes can stand for gigabytes)
//! and refuses pickles that would take more than `MAX_DECODE_BYTES` or nest
//! more than 200 deep.
//!
//! JSON mapping: None -> null, bool, int (any size) -> number, float ->
//! number (NaN and infinities -> refused), str -> string, list and tuple ->
//! array, dict -> object (non-string keys written as their JSON text),
//! bytes -> {"$bytes": "<hex>"}, set and frozenset -> {"$set": [...]}.
//! Writing JSON produces a protocol 3 pickle that `pickle.loads` (and so
//! pymemcache's default serde) reads: arrays become lists, objects dicts,
//! and the two tagged objects bytes and sets.

use crate::error::{Error, Result};
use num_bigint::BigInt;
use serde_pickle::{DeOptions, HashableValue, SerOptions, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

mod screen;
pub use screen::{screen, MAX_DECODE_BYTES};

/// Deepest nesting accepted in either direction.
const MAX_DEPTH: usize = 200;

fn unsupported(what: &str, at: usize) -> Error {
    Error::UnsupportedPickle(format!("{what} at byte {at}: not plain data"))
}

fn truncated(at: usize) -> Error {
    Error::Corrupt(format!("pickle truncated at byte {at}"))
}

/// Decode a pickle of plain data to JSON text.
pub fn to_json(data: &[u8]) -> Result<String> {
    screen(data)?;
    // serde_pickle orders set members and dict keys by a comparison that is
    // not a total order across ints and floats (2**53 + 1 equals 2.0**53,
    // which equals 2**53, which is less than 2**53 + 1), and the standard
    // sort panics when it notices: a value Python may well have stored.
    let decoded =
        std::panic::catch_unwind(|| serde_pickle::value_from_slice(data, DeOptions::new()))
            .map_err(|_| {
                Error::Corrupt(
                    "pickle: a set or dict whose numbers serde_pickle cannot order".into(),
                )
            })?;
    let value = decoded.map_err(|e| Error::Corrupt(format!("pickle: {e}")))?;
    let mut out = String::new();
    write_json(&value, &mut out, 0)?;
    Ok(out)
}

fn write_json(v: &Value, out: &mut String, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::Corrupt("pickle nested too deeply".into()));
    }
    match v {
        Value::None => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(n) => write!(out, "{n}").expect("writing to a String"),
        Value::Int(n) => write!(out, "{n}").expect("writing to a String"),
        Value::F64(f) => {
            if !f.is_finite() {
                return Err(Error::Corrupt(format!("float {f} has no JSON form")));
            }
            let text = serde_json::to_string(f).map_err(|e| Error::Corrupt(e.to_string()))?;
            out.push_str(&text);
        }
        Value::Bytes(b) => {
            out.push_str("{\"$bytes\":\"");
            out.push_str(&hex(b));
            out.push_str("\"}");
        }
        Value::String(s) => {
            out.push_str(&serde_json::to_string(s).map_err(|e| Error::Corrupt(e.to_string()))?)
        }
        Value::List(items) | Value::Tuple(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(it, out, depth + 1)?;
            }
            out.push(']');
        }
        Value::Set(items) | Value::FrozenSet(items) => {
            out.push_str("{\"$set\":[");
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(&it.clone().into_value(), out, depth + 1)?;
            }
            out.push_str("]}");
        }
        Value::Dict(map) => {
            out.push('{');
            for (i, (k, val)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = match k {
                    HashableValue::String(s) => s.clone(),
                    other => {
                        let mut t = String::new();
                        write_json(&other.clone().into_value(), &mut t, depth + 1)?;
                        t
                    }
                };
                out.push_str(
                    &serde_json::to_string(&key).map_err(|e| Error::Corrupt(e.to_string()))?,
                );
                out.push(':');
                write_json(val, out, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Encode JSON text as a pickle that Python's `pickle.loads` reads.
pub fn from_json(json: &str) -> Result<Vec<u8>> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("JSON: {e}")))?;
    let value = pickle_value(&v, 0)?;
    serde_pickle::value_to_vec(&value, SerOptions::new())
        .map_err(|e| Error::Corrupt(format!("pickle: {e}")))
}

/// Lower-case hex of `b`, as `$bytes` holds it.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The bytes a `$bytes` hex string stands for.
pub fn hex_bytes(s: &str) -> Result<Vec<u8>> {
    let bad = || Error::Corrupt("$bytes must be an even-length hex string".into());
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

fn pickle_value(v: &serde_json::Value, depth: usize) -> Result<Value> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(Error::Corrupt("JSON nested too deeply".into()));
    }
    Ok(match v {
        J::Null => Value::None,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                // JSON has no infinities: a number beyond f64's range (1e400)
                // is refused here, or the pickle written would hold one that
                // `to_json` cannot give back.
                let f: f64 = text
                    .parse()
                    .map_err(|_| Error::Corrupt(format!("number {text}")))?;
                if !f.is_finite() {
                    return Err(Error::Corrupt(format!(
                        "number {text} is beyond the range of a float"
                    )));
                }
                Value::F64(f)
            } else if let Ok(i) = text.parse::<i64>() {
                Value::I64(i)
            } else {
                let big: BigInt = text
                    .parse()
                    .map_err(|_| Error::Corrupt(format!("number {text}")))?;
                Value::Int(big)
            }
        }
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::List(
            items
                .iter()
                .map(|i| pickle_value(i, depth + 1))
                .collect::<Result<_>>()?,
        ),
        J::Object(map) => {
            if map.len() == 1 {
                if let Some(J::String(hex)) = map.get("$bytes") {
                    return Ok(Value::Bytes(hex_bytes(hex)?));
                }
                if let Some(J::Array(items)) = map.get("$set") {
                    let mut set = BTreeSet::new();
                    for it in items {
                        let h = pickle_value(it, depth + 1)?.into_hashable().map_err(|_| {
                            Error::Corrupt(
                                "a $set member must be hashable (no arrays or objects)".into(),
                            )
                        })?;
                        set.insert(h);
                    }
                    return Ok(Value::Set(set));
                }
            }
            let mut dict = BTreeMap::new();
            for (k, val) in map {
                dict.insert(
                    HashableValue::String(k.clone()),
                    pickle_value(val, depth + 1)?,
                );
            }
            Value::Dict(dict)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({"a": [1, 2.5, None, True], "b": b"\x00\xff", "c": {1, 2}, "n": 2**70, "t": ("x",)}, 5)`
    const PY5: &[u8] = b"\x80\x05\x95H\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88e\x8c\x01b\x94C\x02\x00\xff\x94\x8c\x01c\x94\x8f\x94(K\x01K\x02\x90\x8c\x01n\x94\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@\x8c\x01t\x94\x8c\x01x\x94\x85\x94u.";

    #[test]
    fn plain_data_to_json() {
        let json = to_json(PY5).unwrap();
        assert_eq!(
            json,
            r#"{"a":[1,2.5,null,true],"b":{"$bytes":"00ff"},"c":{"$set":[1,2]},"n":1180591620717411303424,"t":["x"]}"#
        );
    }

    #[test]
    fn protocol_2_bytes_and_sets_use_allowed_globals() {
        // pickle.dumps(b"\x00\xff", 2) and pickle.dumps({1, 2}, 2)
        let b = b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00\x00\xc3\xbfq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.";
        assert_eq!(to_json(b).unwrap(), r#"{"$bytes":"00ff"}"#);
        let set = b"\x80\x02c__builtin__\nset\nq\x00]q\x01(K\x01K\x02e\x85q\x02Rq\x03.";
        assert_eq!(to_json(set).unwrap(), r#"{"$set":[1,2]}"#);
    }

    #[test]
    fn json_round_trips_through_pickle() {
        let json = r#"{"a":[1,2.5,null,true],"b":{"$bytes":"00ff"},"c":{"$set":[1,2]},"n":1180591620717411303424,"s":"h\u00e9"}"#;
        let p = from_json(json).unwrap();
        assert_eq!(to_json(&p).unwrap(), json.replace("\\u00e9", "\u{e9}"));
        assert!(matches!(from_json("{"), Err(Error::Corrupt(_))));
        assert!(matches!(
            from_json(r#"{"$bytes":"abc"}"#),
            Err(Error::Corrupt(_))
        ));
    }

    /// A protocol 2 pickle: `op` bytes between PROTO and STOP.
    fn p2(ops: &[u8]) -> Vec<u8> {
        [&b"\x80\x02"[..], ops, b"."].concat()
    }

    #[test]
    fn memo_references_that_double_at_each_step_are_weighed_in_linear_time() {
        // x = []; 60 times x = [x, x], as pickle.dumps(x, 2) writes it: 2^60
        // lists once unfolded. (serde_pickle happens to refuse such a DAG as
        // "recursive"; the screen must refuse it first, without unfolding it.)
        let n = 60;
        let mut ops = Vec::new();
        for i in 0..n {
            ops.extend_from_slice(&[b']', b'q', i, b'(']);
        }
        ops.extend_from_slice(&[b']', b'q', n, b'h', n, b'e']);
        for i in (1..n).rev() {
            ops.extend_from_slice(&[b'h', i, b'e']);
        }
        match screen(&p2(&ops)) {
            Err(Error::UnsupportedPickle(m)) => assert!(m.contains("MiB"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_big_value_referenced_many_times_is_refused() {
        // A 60 kB string put in a list 20,000 times: 1.2 GB once copied.
        let mut ops = b"X\x60\xea\x00\x00".to_vec();
        ops.extend(std::iter::repeat_n(b'x', 60_000));
        ops.extend_from_slice(b"q\x00](");
        for _ in 0..20_000 {
            ops.extend_from_slice(b"h\x00");
        }
        ops.push(b'e');
        assert!(matches!(
            to_json(&p2(&ops)),
            Err(Error::UnsupportedPickle(_))
        ));
    }

    #[test]
    fn many_marks_are_refused() {
        // serde_pickle gives every MARK 128 slots: 200,000 marks, 1 GB.
        let mut ops = vec![b'('; 200_000];
        ops.push(b'N');
        assert!(matches!(
            to_json(&p2(&ops)),
            Err(Error::UnsupportedPickle(_))
        ));
    }

    #[test]
    fn deep_nesting_is_refused_before_decoding() {
        // 300,000 nested lists overflowed the stack in serde_pickle's
        // recursive conversion (an abort, not an error).
        let n = 300_000;
        let mut ops = vec![b']'; n];
        ops.extend(std::iter::repeat_n(b'a', n - 1));
        match to_json(&p2(&ops)) {
            Err(Error::Corrupt(m)) => assert!(m.contains("deeply"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Nesting through memo references counts too.
        let mut ops = b"]q\x00".to_vec();
        for i in 1..=250u32 {
            let prev = (i - 1).to_le_bytes();
            ops.extend_from_slice(b"]j");
            ops.extend_from_slice(&prev);
            ops.push(b'a');
            ops.push(b'r');
            ops.extend_from_slice(&i.to_le_bytes());
        }
        assert!(matches!(to_json(&p2(&ops)), Err(Error::Corrupt(_))));
        // 200 levels are fine, 201 are not (as write_json counts them).
        let nest = |n: usize| {
            let mut ops = vec![b']'; n + 1];
            ops.extend(std::iter::repeat_n(b'a', n));
            to_json(&p2(&ops))
        };
        assert!(nest(200).is_ok());
        assert!(matches!(nest(201), Err(Error::Corrupt(_))));
    }

    #[test]
    fn the_screen_bounds_its_own_work() {
        // 200,000 references in the innermost of 190 nested lists: each
        // nesting moves them all, 38 million moves in all.
        let nested = |refs: usize| {
            let mut ops = b"Nq\x00".to_vec();
            ops.extend(std::iter::repeat_n(b']', 190));
            ops.push(b'(');
            for _ in 0..refs {
                ops.extend_from_slice(b"h\x00");
            }
            ops.push(b'e');
            ops.extend(std::iter::repeat_n(b'a', 189));
            screen(&p2(&ops))
        };
        match nested(200_000) {
            Err(Error::UnsupportedPickle(m)) => assert!(m.contains("too many"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(nested(1000).is_ok());
    }

    #[test]
    fn nan_and_infinities_are_refused_before_decoding() {
        // Found by the pickle fuzz target: a NaN among the members of a
        // frozenset made serde_pickle's sort panic (PMC_PANIC from C).
        let float = |f: f64| [&[b'G'][..], &f.to_be_bytes()].concat();
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut ops = vec![b'('];
            for _ in 0..30 {
                ops.extend(float(f));
                ops.extend(float(1.5));
                ops.extend_from_slice(b"K\x01");
            }
            ops.push(0x91);
            match to_json(&p2(&ops)) {
                Err(Error::Corrupt(m)) => assert!(m.contains("JSON form"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        // pickle.dumps(float("nan"), 0) and [float("-inf")] at protocol 0.
        assert!(matches!(to_json(b"Fnan\n."), Err(Error::Corrupt(_))));
        assert!(matches!(
            to_json(b"(lp0\nF-inf\na."),
            Err(Error::Corrupt(_))
        ));
        assert_eq!(to_json(b"F2.5\n.").unwrap(), "2.5");
    }

    #[test]
    fn sets_of_ints_and_floats_serde_pickle_cannot_order_are_an_error() {
        // Members around 2**53, where serde_pickle compares an int with a
        // float by rounding the int: its order is not total, and the sort
        // of 21 such members panics inside serde_pickle.
        let big = 1i64 << 53;
        let int = |v: i64| [&[0x8a, 8][..], &v.to_le_bytes()].concat();
        let float = |v: i64| [&[b'G'][..], &(v as f64).to_be_bytes()].concat();
        let items = [
            int(big + 1),
            float(big),
            int(big),
            int(big - 1),
            float(big + 2),
            int(big + 2),
            int(big + 3),
        ];
        let mut ops = vec![b'('];
        for k in [
            5, 5, 1, 3, 1, 2, 5, 0, 3, 4, 4, 0, 1, 1, 3, 4, 6, 2, 4, 3, 4,
        ] {
            ops.extend_from_slice(&items[k]);
        }
        ops.push(0x91);
        match to_json(&p2(&ops)) {
            Err(Error::Corrupt(m)) => assert!(m.contains("cannot order"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_that_contain_themselves_are_refused() {
        // l = []; l.append(l), as pickle.dumps(l, 2) writes it.
        let rec = b"\x80\x02]q\x00h\x00a.";
        assert!(matches!(to_json(rec), Err(Error::Corrupt(_))));
    }

    #[test]
    fn big_plain_data_is_still_read() {
        // 100,000 ints in batches of 1000, as pickle.dumps(list(range(..)), 2).
        let mut ops = b"]q\x00".to_vec();
        for chunk in 0..100u32 {
            ops.push(b'(');
            for i in 0..1000u32 {
                ops.push(b'J');
                ops.extend_from_slice(&(chunk * 1000 + i).to_le_bytes());
            }
            ops.push(b'e');
        }
        let json = to_json(&p2(&ops)).unwrap();
        assert!(json.starts_with("[0,1,2,") && json.ends_with(",99999]"));
        // A shared value referenced 10,000 times: copies, but cheap ones.
        let mut ops = b"X\x05\x00\x00\x00helloq\x00](".to_vec();
        for _ in 0..10_000 {
            ops.extend_from_slice(b"h\x00");
        }
        ops.push(b'e');
        assert_eq!(to_json(&p2(&ops)).unwrap().matches("hello").count(), 10_000);
    }

    #[test]
    fn floats_beyond_range_are_refused_not_stored_as_infinity() {
        // Found by the pickle fuzz target: these parsed to +-inf, were
        // pickled, and then the pickle could not be read back as JSON.
        for json in ["1e400", "[-1345607174113e308]", r#"{"a":{"$set":[1e999]}}"#] {
            assert!(
                matches!(from_json(json), Err(Error::Corrupt(_))),
                "{json} accepted"
            );
        }
        let max = from_json("1.7976931348623157e308").unwrap();
        assert_eq!(to_json(&max).unwrap(), "1.7976931348623157e+308");
        let tiny = from_json("1e-400").unwrap(); // underflows to 0.0: finite
        assert_eq!(to_json(&tiny).unwrap(), "0.0");
    }

    #[test]
    fn class_instances_and_globals_are_refused() {
        // pickle.dumps(datetime.date(2020, 1, 1), 2)
        let date = b"\x80\x02cdatetime\ndate\nq\x00c_codecs\nencode\nq\x01X\x05\x00\x00\x00\x07\xc3\xa4\x01\x01q\x02X\x06\x00\x00\x00latin1q\x03\x86q\x04Rq\x05\x85q\x06Rq\x07.";
        assert!(matches!(to_json(date), Err(Error::UnsupportedPickle(_))));
        // os.system via protocol 0 REDUCE: refused at the GLOBAL, never run.
        let evil = b"cos\nsystem\n(S'echo hi'\ntR.";
        assert!(matches!(to_json(evil), Err(Error::UnsupportedPickle(_))));
        let stack_global = b"\x80\x04\x8c\x02os\x8c\x06system\x93.";
        assert!(matches!(
            to_json(stack_global),
            Err(Error::UnsupportedPickle(_))
        ));
        let newobj = b"\x80\x02N)\x81.";
        assert!(matches!(to_json(newobj), Err(Error::UnsupportedPickle(_))));
    }

    #[test]
    fn truncated_and_huge_lengths_are_corrupt() {
        for cut in 1..PY5.len() {
            assert!(
                to_json(&PY5[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
        // BINBYTES8 announcing 2^60 bytes: refused before any allocation.
        let huge = b"\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x10.";
        assert!(matches!(to_json(huge), Err(Error::Corrupt(_))));
        let huge4 = b"\x80\x03B\xff\xff\xff\x7f.";
        assert!(matches!(to_json(huge4), Err(Error::Corrupt(_))));
        assert!(matches!(to_json(b""), Err(Error::Corrupt(_))));
        assert!(matches!(to_json(b"\x80\x04N.junk"), Err(Error::Corrupt(_))));
    }
}

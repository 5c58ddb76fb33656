//! Serialization with pymemcache's flag conventions, so that a Rust, C or Go
//! service and a Python service that uses pymemcache can share one cache.
//!
//! Flags: 0 bytes, 1 pickle, 2 int (decimal text), 4 long (decimal text),
//! 8 compressed (zlib, added by `CompressingSerde`), 16 text (UTF-8).

pub mod compress;
pub mod pickle;

use crate::client::{set_many_encoded, Item, Memcache};
use crate::error::{Error, Result};

/// Stored as raw bytes.
pub const FLAG_BYTES: u32 = 0;
/// A Python pickle.
pub const FLAG_PICKLE: u32 = 1;
/// A Python int, as decimal text.
pub const FLAG_INTEGER: u32 = 2;
/// A Python 2 long, as decimal text.
pub const FLAG_LONG: u32 = 4;
/// zlib-compressed (on top of the other flags).
pub const FLAG_COMPRESSED: u32 = 8;
/// UTF-8 text.
pub const FLAG_TEXT: u32 = 16;

/// pymemcache's default `min_compress_len`.
pub const DEFAULT_MIN_COMPRESS_LEN: usize = 400;

/// A value as pymemcache types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Bytes with flags, passed through untouched (the default serde).
    Raw(Vec<u8>, u32),
    /// Bytes (flag 0).
    Bytes(Vec<u8>),
    /// Text (flag 16).
    Text(String),
    /// An integer that fits 64 bits (flag 2).
    Int(i64),
    /// An integer of any size, as decimal digits with an optional '-'
    /// (flag 2; read from flag 2 or 4).
    BigInt(String),
    /// A pickle (flag 1), undecoded; `pickle::to_json` reads plain data.
    Pickle(Vec<u8>),
}

/// Turns values into stored bytes and flags, and back.
pub trait Serde: Send + Sync {
    /// The bytes and flags to store for `value` under `key`.
    fn serialize(&self, key: &[u8], value: &Value) -> Result<(Vec<u8>, u32)>;
    /// The value that stored `data` with `flags` stands for.
    fn deserialize(&self, key: &[u8], data: Vec<u8>, flags: u32) -> Result<Value>;
}

/// The default: bytes and flags pass through (`Value::Raw` both ways).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawSerde;

impl Serde for RawSerde {
    fn serialize(&self, _key: &[u8], value: &Value) -> Result<(Vec<u8>, u32)> {
        PymemcacheSerde.serialize(_key, value)
    }

    fn deserialize(&self, _key: &[u8], data: Vec<u8>, flags: u32) -> Result<Value> {
        Ok(Value::Raw(data, flags))
    }
}

/// pymemcache's `python_memcache_serializer` / `_deserializer` conventions.
#[derive(Debug, Clone, Copy, Default)]
pub struct PymemcacheSerde;

/// Parse decimal integer text as Python's `int()` reads what pymemcache
/// stored: optional surrounding whitespace, an optional sign, digits.
pub fn parse_integer(data: &[u8]) -> Result<Value> {
    let text = std::str::from_utf8(data)
        .map_err(|_| Error::NotInteger("stored integer is not ASCII".into()))?
        .trim();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let shown: String = text.chars().take(40).collect();
        return Err(Error::NotInteger(format!(
            "{shown:?} is not a decimal integer"
        )));
    }
    Ok(match text.parse::<i64>() {
        Ok(n) => Value::Int(n),
        Err(_) => {
            let neg = text.starts_with('-');
            let trimmed = digits.trim_start_matches('0');
            let body = if trimmed.is_empty() { "0" } else { trimmed };
            Value::BigInt(if neg {
                format!("-{body}")
            } else {
                body.to_string()
            })
        }
    })
}

impl Serde for PymemcacheSerde {
    fn serialize(&self, _key: &[u8], value: &Value) -> Result<(Vec<u8>, u32)> {
        Ok(match value {
            Value::Raw(d, f) => (d.clone(), *f),
            Value::Bytes(d) => (d.clone(), FLAG_BYTES),
            Value::Text(t) => (t.as_bytes().to_vec(), FLAG_TEXT),
            Value::Int(n) => (n.to_string().into_bytes(), FLAG_INTEGER),
            Value::BigInt(s) => match parse_integer(s.as_bytes())? {
                Value::Int(n) => (n.to_string().into_bytes(), FLAG_INTEGER),
                Value::BigInt(norm) => (norm.into_bytes(), FLAG_INTEGER),
                _ => unreachable!("parse_integer gives integers"),
            },
            Value::Pickle(p) => (p.clone(), FLAG_PICKLE),
        })
    }

    fn deserialize(&self, _key: &[u8], data: Vec<u8>, flags: u32) -> Result<Value> {
        // The same order of checks as pymemcache's deserializer.
        if flags == 0 {
            Ok(Value::Bytes(data))
        } else if flags & FLAG_TEXT != 0 {
            String::from_utf8(data)
                .map(Value::Text)
                .map_err(|e| Error::NotText(format!("flag-16 value is not UTF-8: {e}")))
        } else if flags & (FLAG_INTEGER | FLAG_LONG) != 0 {
            parse_integer(&data)
        } else if flags & FLAG_PICKLE != 0 {
            Ok(Value::Pickle(data))
        } else {
            Ok(Value::Raw(data, flags))
        }
    }
}

/// pymemcache's `CompressedSerde`: zlib over another serde's bytes when they
/// are longer than `min_compress_len` and compression makes them no longer.
pub struct CompressingSerde<S: Serde> {
    inner: S,
    min_compress_len: usize,
    max_value_len: usize,
}

impl<S: Serde> CompressingSerde<S> {
    /// Compress what `inner` makes; 0 turns compression of writes off
    /// (compressed values are still read). `max_value_len` bounds the
    /// decompressed size.
    pub fn new(inner: S, min_compress_len: usize, max_value_len: usize) -> Self {
        CompressingSerde {
            inner,
            min_compress_len,
            max_value_len,
        }
    }
}

/// Compress `data` as CompressedSerde would: the bytes and whether the
/// compressed flag applies.
pub fn maybe_compress(data: Vec<u8>, min_compress_len: usize) -> (Vec<u8>, bool) {
    if min_compress_len > 0 && data.len() > min_compress_len {
        let z = compress::compress(&data);
        // pymemcache keeps the original only when it is strictly shorter.
        if z.len() <= data.len() {
            return (z, true);
        }
    }
    (data, false)
}

impl<S: Serde> Serde for CompressingSerde<S> {
    fn serialize(&self, key: &[u8], value: &Value) -> Result<(Vec<u8>, u32)> {
        let (data, flags) = self.inner.serialize(key, value)?;
        let (data, compressed) = maybe_compress(data, self.min_compress_len);
        Ok((
            data,
            if compressed {
                flags | FLAG_COMPRESSED
            } else {
                flags
            },
        ))
    }

    fn deserialize(&self, key: &[u8], data: Vec<u8>, flags: u32) -> Result<Value> {
        if flags & FLAG_COMPRESSED != 0 {
            let plain = compress::decompress(&data, self.max_value_len)?;
            // pymemcache hands the flags on with bit 8 set; its deserializer
            // reads them exactly as without it.
            self.inner.deserialize(key, plain, flags & !FLAG_COMPRESSED)
        } else {
            self.inner.deserialize(key, data, flags)
        }
    }
}

/// Read stored bytes and flags the way a pymemcache client with
/// CompressedSerde around its default serde does: zlib is undone first
/// (output bounded by `max_value_len`), then the flags give the type.
pub fn decode_item(data: Vec<u8>, flags: u32, max_value_len: usize) -> Result<Value> {
    CompressingSerde::new(PymemcacheSerde, 0, max_value_len).deserialize(b"", data, flags)
}

/// A value as text: flag-16 text, or flag-0 bytes that are UTF-8.
pub fn value_to_text(value: Value) -> Result<String> {
    match value {
        Value::Text(t) => Ok(t),
        Value::Bytes(b) => String::from_utf8(b)
            .map_err(|e| Error::NotText(format!("stored bytes are not UTF-8: {e}"))),
        other => Err(Error::NotText(format!("stored as {}", type_name(&other)))),
    }
}

/// A value as an i64: flag 2 or 4 integers, or flag-0 bytes holding one
/// (a counter set from C, padded by memcached's incr/decr).
pub fn value_to_i64(value: Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(n),
        Value::BigInt(s) => Err(Error::NotInteger(format!("{s} does not fit 64 bits"))),
        Value::Bytes(b) => match parse_integer(&b)? {
            Value::Int(n) => Ok(n),
            _ => Err(Error::NotInteger(
                "the stored integer does not fit 64 bits".into(),
            )),
        },
        other => Err(Error::NotInteger(format!(
            "stored as {}",
            type_name(&other)
        ))),
    }
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Raw(_, f) => format!("unknown flags {f}"),
        Value::Bytes(_) => "bytes (flags 0)".into(),
        Value::Text(_) => "text (flags 16)".into(),
        Value::Int(_) | Value::BigInt(_) => "an integer (flags 2)".into(),
        Value::Pickle(_) => "a pickle (flags 1)".into(),
    }
}

/// A value as JSON text: text -> string, integers -> number, bytes ->
/// {"$bytes": hex}, pickles of plain data per `pickle::to_json`.
pub fn value_to_json(value: &Value) -> Result<String> {
    let json_err = |e: serde_json::Error| Error::Corrupt(e.to_string());
    match value {
        Value::Text(t) => serde_json::to_string(t).map_err(json_err),
        Value::Int(n) => Ok(n.to_string()),
        Value::BigInt(s) => Ok(s.clone()),
        Value::Bytes(b) => Ok(format!("{{\"$bytes\":\"{}\"}}", pickle::hex(b))),
        Value::Pickle(p) => pickle::to_json(p),
        Value::Raw(_, f) => Err(Error::Corrupt(format!(
            "flags {f} are not a pymemcache type"
        ))),
    }
}

/// The value pymemcache's serializer would make of the Python object this
/// JSON stands for: a string -> text (16), an integer -> int (2),
/// {"$bytes": hex} -> bytes (0), anything else -> a pickle (1).
pub fn value_from_json(json: &str) -> Result<Value> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| Error::Corrupt(format!("JSON: {e}")))?;
    Ok(match &v {
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Number(n) if !n.to_string().contains(['.', 'e', 'E']) => {
            parse_integer(n.to_string().as_bytes())?
        }
        serde_json::Value::Object(m) if m.len() == 1 => match m.get("$bytes") {
            Some(serde_json::Value::String(h)) => Value::Bytes(pickle::hex_bytes(h)?),
            _ => Value::Pickle(pickle::from_json(json)?),
        },
        _ => Value::Pickle(pickle::from_json(json)?),
    })
}

/// Any client with a serde in front: typed values in, typed values out.
pub struct SerdeClient<'a> {
    client: &'a dyn Memcache,
    serde: &'a dyn Serde,
}

impl<'a> SerdeClient<'a> {
    /// Use `client` through `serde`.
    pub fn new(client: &'a dyn Memcache, serde: &'a dyn Serde) -> Self {
        SerdeClient { client, serde }
    }

    fn decode(&self, key: &[u8], item: Option<Item>) -> Result<Option<Value>> {
        item.map(|it| self.serde.deserialize(key, it.value, it.flags))
            .transpose()
    }

    /// `get`, deserialized.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        let item = self.client.get(key)?;
        self.decode(key, item)
    }

    /// `get_many`, deserialized: one entry per key.
    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Value>>> {
        let items = self.client.get_many(keys)?;
        keys.iter()
            .zip(items)
            .map(|(k, it)| self.decode(k, it))
            .collect()
    }

    /// `set`, serialized.
    pub fn set(
        &self,
        key: &[u8],
        value: &Value,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        let (data, flags) = self.serde.serialize(key, value)?;
        self.client.set(key, &data, flags, expire, noreply)
    }

    /// `add`, serialized.
    pub fn add(
        &self,
        key: &[u8],
        value: &Value,
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<bool> {
        let (data, flags) = self.serde.serialize(key, value)?;
        self.client.add(key, &data, flags, expire, noreply)
    }

    /// `set_many`, serialized; the indices of items not stored.
    pub fn set_many(
        &self,
        items: &[(&[u8], Value)],
        expire: i64,
        noreply: Option<bool>,
    ) -> Result<Vec<usize>> {
        let encoded: Vec<(Vec<u8>, u32)> = items
            .iter()
            .map(|(k, v)| self.serde.serialize(k, v))
            .collect::<Result<_>>()?;
        let keys: Vec<&[u8]> = items.iter().map(|(k, _)| *k).collect();
        set_many_encoded(self.client, &keys, &encoded, expire, noreply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pymemcache_flags() {
        let s = PymemcacheSerde;
        assert_eq!(
            s.serialize(b"k", &Value::Text("h\u{e9}".into())).unwrap(),
            ("h\u{e9}".as_bytes().to_vec(), 16)
        );
        assert_eq!(
            s.serialize(b"k", &Value::Int(-42)).unwrap(),
            (b"-42".to_vec(), 2)
        );
        assert_eq!(
            s.serialize(
                b"k",
                &Value::BigInt("000123456789012345678901234567890".into())
            )
            .unwrap(),
            (b"123456789012345678901234567890".to_vec(), 2)
        );
        assert_eq!(
            s.serialize(b"k", &Value::BigInt("5".into())).unwrap(),
            (b"5".to_vec(), 2)
        );
        assert_eq!(
            s.deserialize(b"k", b"12".to_vec(), 4).unwrap(),
            Value::Int(12)
        );
        assert_eq!(
            s.deserialize(b"k", b"-99999999999999999999".to_vec(), 2)
                .unwrap(),
            Value::BigInt("-99999999999999999999".into())
        );
        assert!(matches!(
            s.deserialize(b"k", b"12a".to_vec(), 2),
            Err(Error::NotInteger(_))
        ));
        assert!(matches!(
            s.deserialize(b"k", b"".to_vec(), 2),
            Err(Error::NotInteger(_))
        ));
        assert!(matches!(
            s.deserialize(b"k", vec![0xff], 16),
            Err(Error::NotText(_))
        ));
        assert_eq!(
            s.deserialize(b"k", b"x".to_vec(), 0).unwrap(),
            Value::Bytes(b"x".to_vec())
        );
        assert_eq!(
            s.deserialize(b"k", b"x".to_vec(), 1).unwrap(),
            Value::Pickle(b"x".to_vec())
        );
        assert_eq!(
            s.deserialize(b"k", b"x".to_vec(), 64).unwrap(),
            Value::Raw(b"x".to_vec(), 64)
        );
    }

    #[test]
    fn compression_follows_pymemcache() {
        let c = CompressingSerde::new(PymemcacheSerde, 400, 1 << 20);
        let short = Value::Text("a".repeat(400));
        assert_eq!(
            c.serialize(b"k", &short).unwrap().1,
            16,
            "400 bytes: not compressed"
        );
        let long = Value::Text("a".repeat(401));
        let (data, flags) = c.serialize(b"k", &long).unwrap();
        assert_eq!(flags, 24);
        assert!(data.len() < 50);
        assert_eq!(c.deserialize(b"k", data, flags).unwrap(), long);
        // Incompressible data stays as it is.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let (data, flags) = c.serialize(b"k", &Value::Bytes(noise.clone())).unwrap();
        assert_eq!((data, flags), (noise, 0));
        assert!(matches!(
            c.deserialize(b"k", b"junk".to_vec(), 8),
            Err(Error::Corrupt(_))
        ));
    }
}

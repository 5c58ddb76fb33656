//! Values with pymemcache's types from C: text, integers, JSON for pickles;
//! compression as a client option; serialize/deserialize callbacks.

use super::boundary::{as_mut, bytes, key, run, text};
use super::client::{client, pmc_client, pmc_reply, reply_mode};
use super::options::pmc_options;
use super::status::*;
use super::value::{pmc_value, string_to_c};
use crate::client::{Item, Memcache, ValueCodec, DEFAULT_MAX_VALUE_LEN};
use crate::error::{Error, Result};
use crate::serde::{self as sd, Serde, Value};
use std::ffi::{c_char, c_void};

/// pymemcache's flags: bytes.
pub const PMC_FLAG_BYTES: u32 = 0;
/// pymemcache's flags: a pickle.
pub const PMC_FLAG_PICKLE: u32 = 1;
/// pymemcache's flags: an int, as decimal text.
pub const PMC_FLAG_INTEGER: u32 = 2;
/// pymemcache's flags: a Python 2 long, as decimal text.
pub const PMC_FLAG_LONG: u32 = 4;
/// pymemcache's flags: zlib-compressed (added to the others).
pub const PMC_FLAG_COMPRESSED: u32 = 8;
/// pymemcache's flags: UTF-8 text.
pub const PMC_FLAG_TEXT: u32 = 16;
/// pymemcache's default min_compress_len.
pub const PMC_DEFAULT_MIN_COMPRESS_LEN: usize = 400;

fn check<T>(r: Result<T>) -> std::result::Result<T, pmc_status> {
    r.map_err(|e| fail_with(&e))
}

/// Give the client pymemcache's CompressedSerde behaviour, for every kind of
/// client and every command that carries values: a value longer than
/// `min_compress_len` bytes is stored zlib-compressed with flag 8 added when
/// that makes it no longer; values read with flag 8 are decompressed and the
/// flag removed (a stream that would expand beyond max_value_len gives
/// PMC_CORRUPT_VALUE, without allocating it). `min_compress_len` 0 only
/// decompresses; pymemcache's default is 400 (PMC_DEFAULT_MIN_COMPRESS_LEN).
/// append and prepend send their bytes as they are.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_compression(
    opts: *mut pmc_options,
    enabled: bool,
    min_compress_len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            o.compression = enabled.then_some(min_compress_len);
            Ok(PMC_OK)
        }),
    )
}

/// Where a serialize or deserialize callback puts its result; only valid
/// during the callback.
#[allow(non_camel_case_types)]
pub struct pmc_buffer {
    data: Option<(Vec<u8>, u32)>,
}

/// From a serialize/deserialize callback: the result is `len` bytes at
/// `data` (copied; the callback keeps ownership of its memory) with
/// `flags`. Not calling it leaves the value as it was. Returns PMC_OK or
/// PMC_NULL_ARGUMENT.
///
/// # Safety
/// `out` is the buffer the callback was given; `data` points to `len`
/// bytes (may be NULL when len is 0).
#[no_mangle]
pub unsafe extern "C" fn pmc_buffer_set(
    out: *mut pmc_buffer,
    data: *const u8,
    len: usize,
    flags: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let out = as_mut(out, "out")?;
            out.data = Some((bytes(data, len, "data")?.to_vec(), flags));
            Ok(PMC_OK)
        }),
    )
}

/// A serialize or deserialize callback: gets `userdata`, the key as the
/// caller gave it, the value and its flags; puts its result with
/// `pmc_buffer_set(out, ...)` (or leaves the value unchanged by not
/// calling it) and returns PMC_OK, or any other status to fail the command
/// with PMC_SERDE_CALLBACK. It runs on the thread that called the command,
/// possibly on several threads at once when the client is shared.
#[allow(non_camel_case_types)]
pub type pmc_serde_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
        flags: u32,
        out: *mut pmc_buffer,
    ) -> pmc_status,
>;

/// The callbacks and their userdata, carried into the client.
#[derive(Clone, Copy)]
pub(crate) struct Callbacks {
    serialize: pmc_serde_fn,
    deserialize: pmc_serde_fn,
    userdata: *mut c_void,
}

// SAFETY: the header makes the caller promise that the callbacks and their
// userdata may be used from any thread while a client made with them lives.
unsafe impl Send for Callbacks {}
unsafe impl Sync for Callbacks {}

impl Callbacks {
    fn call(
        &self,
        f: pmc_serde_fn,
        what: &str,
        key: &[u8],
        value: &[u8],
        flags: u32,
    ) -> Result<(Vec<u8>, u32)> {
        let Some(f) = f else {
            return Ok((value.to_vec(), flags));
        };
        let mut out = pmc_buffer { data: None };
        // SAFETY: the pointers are live for the call; the callback's contract
        // is stated in the header.
        let status = unsafe {
            f(
                self.userdata,
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
                flags,
                &mut out,
            )
        };
        if status != PMC_OK {
            return Err(Error::SerdeCallback {
                status,
                text: format!("{what} callback"),
            });
        }
        Ok(out.data.unwrap_or_else(|| (value.to_vec(), flags)))
    }
}

impl ValueCodec for Callbacks {
    fn encode(&self, key: &[u8], value: &[u8], flags: u32) -> Result<(Vec<u8>, u32)> {
        self.call(self.serialize, "serialize", key, value, flags)
    }

    fn decode(&self, key: &[u8], data: Vec<u8>, flags: u32) -> Result<(Vec<u8>, u32)> {
        self.call(self.deserialize, "deserialize", key, &data, flags)
    }
}

/// Run every value the client stores through `serialize` and every value it
/// reads through `deserialize` (either may be NULL: no change that way),
/// in every command that carries values, before compression on the way out
/// and after it on the way in. `userdata` is passed to both; it and the
/// callbacks must stay valid, and be safe to call from any thread that uses
/// the client, for as long as a client made from these options lives.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `opts` is NULL or a live options pointer; see above for the callbacks.
#[no_mangle]
pub unsafe extern "C" fn pmc_options_set_serde(
    opts: *mut pmc_options,
    serialize: pmc_serde_fn,
    deserialize: pmc_serde_fn,
    userdata: *mut c_void,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_mut(opts, "opts")?;
            o.callbacks = (serialize.is_some() || deserialize.is_some()).then_some(Callbacks {
                serialize,
                deserialize,
                userdata,
            });
            Ok(PMC_OK)
        }),
    )
}

/// Wrap a freshly built client with the options' codecs.
pub(crate) fn wrap(o: &pmc_options, inner: Box<dyn Memcache>) -> Box<dyn Memcache> {
    let mut c = inner;
    if let Some(min) = o.compression {
        let codec = crate::client::Compression {
            min_compress_len: min,
            max_value_len: o.client.max_value_len,
        };
        c = Box::new(crate::client::CodecClient::new(c, codec));
    }
    if let Some(cb) = o.callbacks {
        c = Box::new(crate::client::CodecClient::new(c, cb));
    }
    c
}

/// Read one key and decode it with pymemcache's flags; `Ok(None)` on a miss.
unsafe fn get_value(
    c: *const pmc_client,
    k: *const u8,
    key_len: usize,
) -> std::result::Result<Option<Value>, pmc_status> {
    let c = client(c)?;
    let k = key(k, key_len, "key")?;
    match check(c.get(k))? {
        None => Ok(None),
        Some(Item { value, flags, .. }) => Ok(Some(check(sd::decode_item(
            value,
            flags,
            DEFAULT_MAX_VALUE_LEN,
        ))?)),
    }
}

unsafe fn set_value(
    c: *const pmc_client,
    k: *const u8,
    key_len: usize,
    value: &Value,
    expire: i64,
    reply: pmc_reply,
) -> std::result::Result<pmc_status, pmc_status> {
    let c = client(c)?;
    let k = key(k, key_len, "key")?;
    let noreply = reply_mode(reply)?;
    let (data, flags) = check(sd::PymemcacheSerde.serialize(k, value))?;
    Ok(if check(c.set(k, &data, flags, expire, noreply))? {
        PMC_OK
    } else {
        PMC_NOT_STORED
    })
}

/// Store UTF-8 text (`len` bytes, no NUL needed) with flag 16, as pymemcache
/// stores a str. Returns PMC_OK, PMC_INVALID_ARGUMENT (not UTF-8), or the
/// statuses of `pmc_set`.
///
/// # Safety
/// `client` is a live client; `key` and `text` point to their lengths.
#[no_mangle]
pub unsafe extern "C" fn pmc_set_text(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    text: *const c_char,
    len: usize,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let t = bytes(text.cast(), len, "text")?;
            let t = std::str::from_utf8(t)
                .map_err(|_| fail(PMC_INVALID_ARGUMENT, "text is not valid UTF-8"))?;
            set_value(
                client,
                key,
                key_len,
                &Value::Text(t.to_string()),
                expire,
                reply,
            )
        }),
    )
}

/// Read text: a flag-16 value (a pymemcache str), or flag-0 bytes that are
/// UTF-8; compressed values (flag 8) are decompressed. `*out` gets the text
/// (NUL-terminated too; release with `pmc_value_free`). Returns PMC_OK,
/// PMC_MISS, PMC_NOT_TEXT (stored as another type, or not UTF-8),
/// PMC_CORRUPT_VALUE, or the errors of `pmc_get`.
///
/// # Safety
/// As for `pmc_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_get_text(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    out: *mut pmc_value,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let out = as_mut(out, "out")?;
            let Some(v) = get_value(client, key, key_len)? else {
                return Ok(PMC_MISS);
            };
            let t = check(sd::value_to_text(v))?;
            *out = pmc_value::from_item(Item {
                value: t.into_bytes(),
                flags: sd::FLAG_TEXT,
                cas: None,
            });
            Ok(PMC_OK)
        }),
    )
}

/// Store an integer as decimal text with flag 2, as pymemcache stores an
/// int. Returns the statuses of `pmc_set`.
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_set_int64(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    value: i64,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| set_value(client, key, key_len, &Value::Int(value), expire, reply)),
    )
}

/// Read an integer: flag 2 or 4 (pymemcache's int and long), or flag-0
/// decimal text such as an incr/decr counter. Returns PMC_OK, PMC_MISS,
/// PMC_NOT_INTEGER (not an integer, or beyond 64 bits: read those with
/// `pmc_get_json`), PMC_CORRUPT_VALUE, or the errors of `pmc_get`.
///
/// # Safety
/// As for `pmc_get`; `out` points to an int64_t.
#[no_mangle]
pub unsafe extern "C" fn pmc_get_int64(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    out: *mut i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let out = as_mut(out, "out")?;
            let Some(v) = get_value(client, key, key_len)? else {
                return Ok(PMC_MISS);
            };
            *out = check(sd::value_to_i64(v))?;
            Ok(PMC_OK)
        }),
    )
}

/// Read any value a pymemcache service stored, as JSON text in `*out`
/// (release with `pmc_string_free`): str -> string, int (any size) ->
/// number, bytes -> {"$bytes":"<hex>"}, and pickles of plain data (None,
/// bool, int, float, str, bytes, list, tuple, dict, set) -> their JSON
/// (tuples as arrays, sets as {"$set":[...]}). Compressed values are
/// decompressed. Returns PMC_OK, PMC_MISS, PMC_UNSUPPORTED_PICKLE (a pickle
/// of a class instance or other non-data: refused, never executed; or one
/// whose decoding would take more than 256 MiB), PMC_CORRUPT_VALUE
/// (truncated pickle, nesting deeper than 200, corrupt zlib, unknown
/// flags), or the errors of `pmc_get`.
///
/// # Safety
/// As for `pmc_get`; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_get_json(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let out = as_mut(out, "out")?;
            let Some(v) = get_value(client, key, key_len)? else {
                return Ok(PMC_MISS);
            };
            let json = check(sd::value_to_json(&v))?;
            *out = string_to_c(&json);
            Ok(PMC_OK)
        }),
    )
}

/// Store JSON text the way pymemcache's default serializer stores the
/// Python object it stands for: a string as text (flag 16), an integer as
/// int (flag 2), {"$bytes":"<hex>"} as bytes (flag 0), anything else as a
/// pickle (flag 1) that `pickle.loads` reads (objects -> dict, arrays ->
/// list, {"$set":[...]} -> set). Returns PMC_OK, PMC_CORRUPT_VALUE (not
/// JSON), PMC_INVALID_ARGUMENT (not UTF-8), or the statuses of `pmc_set`.
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes; `json` is a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pmc_set_json(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    json: *const c_char,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let j = text(json, "json")?;
            let v = check(sd::value_from_json(j))?;
            set_value(client, key, key_len, &v, expire, reply)
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_flag_constants_match_the_core() {
        assert_eq!(
            [
                PMC_FLAG_BYTES,
                PMC_FLAG_PICKLE,
                PMC_FLAG_INTEGER,
                PMC_FLAG_LONG,
                PMC_FLAG_COMPRESSED,
                PMC_FLAG_TEXT
            ],
            [
                sd::FLAG_BYTES,
                sd::FLAG_PICKLE,
                sd::FLAG_INTEGER,
                sd::FLAG_LONG,
                sd::FLAG_COMPRESSED,
                sd::FLAG_TEXT
            ]
        );
        assert_eq!(PMC_DEFAULT_MIN_COMPRESS_LEN, sd::DEFAULT_MIN_COMPRESS_LEN);
    }
}

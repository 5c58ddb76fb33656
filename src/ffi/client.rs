//! `pmc_client`: one handle type for every client kind, and one function
//! per command.

use super::boundary::{as_mut, as_ref, boundary, bytes, key, key_list, pair_list, run, text};
use super::options::pmc_options;
use super::status::*;
use super::value::{pmc_results, pmc_stats_list, pmc_value, string_to_c};
use crate::client::{
    CasOutcome, Client, FallbackClient, FetchCmd, HashClient, HashOptions, Item, Memcache,
    MockClient, PooledClient, RetryOptions, RetryingClient, StoreCmd,
};
use crate::error::ErrorKind;
use crate::hash::RendezvousHash;
use std::ffi::c_char;

/// A memcached client. Made by `pmc_client_new`, released by
/// `pmc_client_free`. Every handle may be shared between threads: a
/// single-server client serializes concurrent calls on its one connection.
#[allow(non_camel_case_types)]
pub struct pmc_client {
    inner: Box<dyn Memcache>,
}

/// Per-call reply mode: one of `PMC_REPLY_DEFAULT`, `PMC_REPLY_WAIT`,
/// `PMC_REPLY_NONE`.
#[allow(non_camel_case_types)]
pub type pmc_reply = i32;
/// Follow the client's default (default_noreply for storage commands,
/// delete, touch and flush_all; wait for cas, incr and decr).
pub const PMC_REPLY_DEFAULT: pmc_reply = 0;
/// Wait for the server's reply and report the outcome.
pub const PMC_REPLY_WAIT: pmc_reply = 1;
/// Send with `noreply`: the outcome is not known (reported as PMC_OK).
pub const PMC_REPLY_NONE: pmc_reply = 2;

pub(crate) fn reply_mode(mode: pmc_reply) -> Result<Option<bool>, pmc_status> {
    match mode {
        PMC_REPLY_DEFAULT => Ok(None),
        PMC_REPLY_WAIT => Ok(Some(false)),
        PMC_REPLY_NONE => Ok(Some(true)),
        other => Err(fail(
            PMC_INVALID_ARGUMENT,
            &format!("reply mode {other} is not PMC_REPLY_DEFAULT, _WAIT or _NONE"),
        )),
    }
}

fn check<T>(r: crate::Result<T>) -> Result<T, pmc_status> {
    r.map_err(|e| fail_with(&e))
}

pub(crate) unsafe fn client<'a>(c: *const pmc_client) -> Result<&'a dyn Memcache, pmc_status> {
    Ok(as_ref(c, "client")?.inner.as_ref())
}

/// Make a client from `opts` and store it in `*out`. One server gives a
/// single-server client (a pooled one with `pmc_options_set_use_pooling`);
/// several servers, or `pmc_options_set_use_hash_client`, a hash client;
/// `pmc_options_set_mock`, an in-memory mock client. `opts` is only read: free it whenever you like.
/// No connection is made until the first command.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, PMC_CONFIG_ERROR (no server, a
/// server given twice, a bad key prefix) or PMC_TLS_ERROR (TLS
/// certificate, key or CA files that cannot be used). A max pool size of 0
/// is unbounded.
///
/// # Safety
/// `opts` is a live options pointer; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_new(
    opts: *const pmc_options,
    out: *mut *mut pmc_client,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let o = as_ref(opts, "opts")?;
            let out = as_mut(out, "out")?;
            let client = o.client_options()?;
            let inner: Box<dyn Memcache> = match o.servers.as_slice() {
                _ if o.mock => Box::new(check(MockClient::new(&client))?),
                [] if !o.use_hash => {
                    return Err(fail(PMC_CONFIG_ERROR, "no server was added to the options"))
                }
                servers if o.use_hash || servers.len() > 1 => {
                    let hash = HashOptions {
                        use_pooling: o.use_pooling,
                        pool: o.pool.clone(),
                        ..o.hash.clone()
                    };
                    Box::new(check(HashClient::with_hasher(
                        servers,
                        &client,
                        hash,
                        Box::new(RendezvousHash::with_key_form(o.hash.key_form)),
                    ))?)
                }
                [one] if o.use_pooling => Box::new(check(PooledClient::with_addr(
                    one.clone(),
                    &client,
                    o.pool.clone(),
                ))?),
                [one] => Box::new(check(Client::with_addr(one.clone(), &client))?),
                _ => unreachable!("one server, or a hash client"),
            };
            let inner = super::serde::wrap(o, inner);
            *out = Box::into_raw(Box::new(pmc_client { inner }));
            Ok(PMC_OK)
        }),
    )
}

/// Close the client's connections and release it. NULL is a no-op; freeing
/// twice, or while another thread still uses it, is undefined behaviour.
///
/// # Safety
/// `client` is NULL or a client pointer not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_free(client: *mut pmc_client) {
    boundary(|| {
        if !client.is_null() {
            drop(Box::from_raw(client));
        }
    })
}

unsafe fn fetch_one(
    c: *const pmc_client,
    cmd: FetchCmd,
    k: *const u8,
    key_len: usize,
    out: *mut pmc_value,
) -> pmc_status {
    run(|| {
        let c = client(c)?;
        let k = key(k, key_len, "key")?;
        let out = as_mut(out, "out")?;
        match check(c.fetch_one(cmd, k))? {
            Some(item) => {
                *out = pmc_value::from_item(item);
                Ok(PMC_OK)
            }
            None => Ok(PMC_MISS),
        }
    })
}

/// `get`: read one key into `*out` (a caller-owned value; release with
/// `pmc_value_free`). Returns PMC_OK, PMC_MISS (`*out` untouched), or an
/// error status (PMC_ILLEGAL_INPUT for a bad key, network and server errors;
/// with ignore_exc, errors read as PMC_MISS).
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes; `out` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_get(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    out: *mut pmc_value,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, fetch_one(client, FetchCmd::Get, key, key_len, out))
}

/// `gets`: as `pmc_get`, and `out->cas` holds the CAS unique for `pmc_cas`.
///
/// # Safety
/// As for `pmc_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_gets(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    out: *mut pmc_value,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(err, fetch_one(client, FetchCmd::Gets, key, key_len, out))
}

/// `gat`: get one key and set its expiry to `expire` (seconds, or a unix
/// time; 0 = never). Returns as `pmc_get`.
///
/// # Safety
/// As for `pmc_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_gat(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    expire: i64,
    out: *mut pmc_value,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        fetch_one(client, FetchCmd::Gat(expire), key, key_len, out),
    )
}

/// `gats`: `pmc_gat` with the CAS unique in `out->cas`.
///
/// # Safety
/// As for `pmc_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_gats(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    expire: i64,
    out: *mut pmc_value,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        fetch_one(client, FetchCmd::Gats(expire), key, key_len, out),
    )
}

unsafe fn fetch_many(
    c: *const pmc_client,
    cmd: FetchCmd,
    keys: *const *const u8,
    key_lens: *const usize,
    n: usize,
    out: *mut *mut pmc_results,
) -> pmc_status {
    run(|| {
        let c = client(c)?;
        let keys = key_list(keys, key_lens, n)?;
        let out = as_mut(out, "out")?;
        let mut results = pmc_results::reuse();
        let mut packed = results.take_packed();
        check(c.fetch_packed(cmd, &keys, &mut packed))?;
        results.fill(&keys, packed);
        *out = Box::into_raw(Box::new(results));
        Ok(PMC_OK)
    })
}

/// `get` of `n` keys (`keys[i]` of `key_lens[i]` bytes) in one request.
/// `*out` receives a results handle holding the hits only (iterate with
/// `pmc_results_len`/`pmc_results_at`, release with `pmc_results_free`).
/// Returns PMC_OK (even if every key missed), or an error status; on error
/// `*out` is untouched. If any key is illegal nothing is sent.
///
/// # Safety
/// `keys` and `key_lens` point to `n` entries (may be NULL when n is 0);
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_get_many(
    client: *const pmc_client,
    keys: *const *const u8,
    key_lens: *const usize,
    n: usize,
    out: *mut *mut pmc_results,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        fetch_many(client, FetchCmd::Get, keys, key_lens, n, out),
    )
}

/// `gets` of `n` keys: as `pmc_get_many`, with CAS uniques.
///
/// # Safety
/// As for `pmc_get_many`.
#[no_mangle]
pub unsafe extern "C" fn pmc_gets_many(
    client: *const pmc_client,
    keys: *const *const u8,
    key_lens: *const usize,
    n: usize,
    out: *mut *mut pmc_results,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        fetch_many(client, FetchCmd::Gets, keys, key_lens, n, out),
    )
}

#[allow(clippy::too_many_arguments)] // mirrors the C signature
unsafe fn store(
    c: *const pmc_client,
    cmd: StoreCmd,
    k: *const u8,
    key_len: usize,
    v: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
) -> pmc_status {
    run(|| {
        let c = client(c)?;
        let k = key(k, key_len, "key")?;
        let v = bytes(v, value_len, "value")?;
        let noreply = reply_mode(reply)?;
        Ok(if check(c.store(cmd, k, v, flags, expire, noreply))? {
            PMC_OK
        } else {
            PMC_NOT_STORED
        })
    })
}

/// `set`: store the value. Returns PMC_OK, or an error status.
///
/// `value` may be NULL when `value_len` is 0. `flags` are stored with the
/// item; `expire` is seconds (or a unix time), 0 = never. With
/// PMC_REPLY_NONE (or PMC_REPLY_DEFAULT under default_noreply) the result
/// is PMC_OK without waiting for the server.
///
/// # Safety
/// `client` is a live client; `key` and `value` point to their lengths of
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_set(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        store(
            client,
            StoreCmd::Set,
            key,
            key_len,
            value,
            value_len,
            flags,
            expire,
            reply,
        ),
    )
}

/// `add`: store only if the key is absent. Returns PMC_OK, PMC_NOT_STORED
/// (the key exists), or an error status.
///
/// `value` may be NULL when `value_len` is 0. `flags` are stored with the
/// item; `expire` is seconds (or a unix time), 0 = never. With
/// PMC_REPLY_NONE (or PMC_REPLY_DEFAULT under default_noreply) the result
/// is PMC_OK without waiting for the server.
///
/// # Safety
/// `client` is a live client; `key` and `value` point to their lengths of
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_add(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        store(
            client,
            StoreCmd::Add,
            key,
            key_len,
            value,
            value_len,
            flags,
            expire,
            reply,
        ),
    )
}

/// `replace`: store only if the key exists. Returns PMC_OK,
/// PMC_NOT_STORED (no such key), or an error status.
///
/// `value` may be NULL when `value_len` is 0. `flags` are stored with the
/// item; `expire` is seconds (or a unix time), 0 = never. With
/// PMC_REPLY_NONE (or PMC_REPLY_DEFAULT under default_noreply) the result
/// is PMC_OK without waiting for the server.
///
/// # Safety
/// `client` is a live client; `key` and `value` point to their lengths of
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_replace(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        store(
            client,
            StoreCmd::Replace,
            key,
            key_len,
            value,
            value_len,
            flags,
            expire,
            reply,
        ),
    )
}

/// `append`: add bytes after an existing value (`flags` and `expire` are
/// ignored by the server). Returns PMC_OK, PMC_NOT_STORED (no such key),
/// or an error status.
///
/// `value` may be NULL when `value_len` is 0. `flags` are stored with the
/// item; `expire` is seconds (or a unix time), 0 = never. With
/// PMC_REPLY_NONE (or PMC_REPLY_DEFAULT under default_noreply) the result
/// is PMC_OK without waiting for the server.
///
/// # Safety
/// `client` is a live client; `key` and `value` point to their lengths of
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_append(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        store(
            client,
            StoreCmd::Append,
            key,
            key_len,
            value,
            value_len,
            flags,
            expire,
            reply,
        ),
    )
}

/// `prepend`: add bytes before an existing value (`flags` and `expire`
/// are ignored by the server). Returns PMC_OK, PMC_NOT_STORED (no such
/// key), or an error status.
///
/// `value` may be NULL when `value_len` is 0. `flags` are stored with the
/// item; `expire` is seconds (or a unix time), 0 = never. With
/// PMC_REPLY_NONE (or PMC_REPLY_DEFAULT under default_noreply) the result
/// is PMC_OK without waiting for the server.
///
/// # Safety
/// `client` is a live client; `key` and `value` point to their lengths of
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_prepend(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        store(
            client,
            StoreCmd::Prepend,
            key,
            key_len,
            value,
            value_len,
            flags,
            expire,
            reply,
        ),
    )
}

/// `cas`: store only if the item's CAS unique is still `cas` (from
/// `pmc_gets`). Waits for the reply by default. Returns PMC_OK (stored),
/// PMC_EXISTS (changed since read), PMC_NOT_FOUND (no such key), or an
/// error status.
///
/// # Safety
/// As for `pmc_set`.
#[no_mangle]
pub unsafe extern "C" fn pmc_cas(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    cas: u64,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let k = self::key(key, key_len, "key")?;
            let v = bytes(value, value_len, "value")?;
            let noreply = reply_mode(reply)?;
            Ok(match check(c.cas(k, v, cas, flags, expire, noreply))? {
                CasOutcome::Stored => PMC_OK,
                CasOutcome::Exists => PMC_EXISTS,
                CasOutcome::NotFound => PMC_NOT_FOUND,
            })
        }),
    )
}

/// `set` of `n` items in one pipelined batch: `keys[i]`/`key_lens[i]` with
/// `values[i]`/`value_lens[i]`, all with the same flags and expiry.
/// `failed` (may be NULL) receives the indices of items the server did not
/// store; it must have room for `n` entries; `*n_failed` (may be NULL) their
/// count. Returns PMC_OK (all stored, or sent with noreply),
/// PMC_NOT_STORED (some were not), or an error status. If any key is
/// illegal nothing is sent.
///
/// # Safety
/// The four arrays point to `n` entries each (may be NULL when n is 0);
/// `failed` is NULL or has room for `n` entries.
#[no_mangle]
pub unsafe extern "C" fn pmc_set_many(
    client: *const pmc_client,
    keys: *const *const u8,
    key_lens: *const usize,
    values: *const *const u8,
    value_lens: *const usize,
    n: usize,
    flags: u32,
    expire: i64,
    reply: pmc_reply,
    failed: *mut usize,
    n_failed: *mut usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let items = pair_list((keys, key_lens), (values, value_lens), n)?;
            let noreply = reply_mode(reply)?;
            let bad = check(c.set_many(&items, flags, expire, noreply))?;
            if !failed.is_null() {
                std::slice::from_raw_parts_mut(failed, n)[..bad.len()].copy_from_slice(&bad);
            }
            if let Some(nf) = n_failed.as_mut() {
                *nf = bad.len();
            }
            Ok(if bad.is_empty() {
                PMC_OK
            } else {
                PMC_NOT_STORED
            })
        }),
    )
}

/// `delete`: remove a key. Returns PMC_OK, PMC_NOT_FOUND (only when waiting
/// for the reply), or an error status.
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_delete(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let k = self::key(key, key_len, "key")?;
            let noreply = reply_mode(reply)?;
            Ok(if check(c.delete(k, noreply))? {
                PMC_OK
            } else {
                PMC_NOT_FOUND
            })
        }),
    )
}

/// Delete `n` keys in pipelined batches. `*deleted` (may be NULL) receives
/// how many existed (with noreply: how many were sent). Returns PMC_OK or an
/// error status; if any key is illegal nothing is sent.
///
/// # Safety
/// `keys` and `key_lens` point to `n` entries (may be NULL when n is 0).
#[no_mangle]
pub unsafe extern "C" fn pmc_delete_many(
    client: *const pmc_client,
    keys: *const *const u8,
    key_lens: *const usize,
    n: usize,
    reply: pmc_reply,
    deleted: *mut usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let keys = key_list(keys, key_lens, n)?;
            let noreply = reply_mode(reply)?;
            let count = check(c.delete_many(&keys, noreply))?;
            if let Some(d) = deleted.as_mut() {
                *d = count;
            }
            Ok(PMC_OK)
        }),
    )
}

unsafe fn counter(
    c: *const pmc_client,
    incr: bool,
    k: *const u8,
    key_len: usize,
    delta: u64,
    reply: pmc_reply,
    new_value: *mut u64,
) -> pmc_status {
    run(|| {
        let c = client(c)?;
        let k = key(k, key_len, "key")?;
        let noreply = reply_mode(reply)?;
        let r = if incr {
            c.incr(k, delta, noreply)
        } else {
            c.decr(k, delta, noreply)
        };
        match check(r)? {
            Some(v) => {
                if let Some(out) = new_value.as_mut() {
                    *out = v;
                }
                Ok(PMC_OK)
            }
            None if noreply == Some(true) => Ok(PMC_OK),
            None => Ok(PMC_NOT_FOUND),
        }
    })
}

/// `incr`: add `delta` to a decimal counter (wrapping at 2^64).
/// `*new_value` (may be NULL) receives the result when waiting for the
/// reply (the default). Returns PMC_OK, PMC_NOT_FOUND, PMC_CLIENT_ERROR
/// (the value is not a number), or another error status.
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes; `new_value`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_incr(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    delta: u64,
    reply: pmc_reply,
    new_value: *mut u64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        counter(client, true, key, key_len, delta, reply, new_value),
    )
}

/// `decr`: subtract `delta` from a decimal counter (stopping at 0).
/// Returns as `pmc_incr`.
///
/// # Safety
/// As for `pmc_incr`.
#[no_mangle]
pub unsafe extern "C" fn pmc_decr(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    delta: u64,
    reply: pmc_reply,
    new_value: *mut u64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        counter(client, false, key, key_len, delta, reply, new_value),
    )
}

/// `touch`: set a new expiry (seconds or unix time; 0 = never). With
/// PMC_REPLY_DEFAULT it follows default_noreply (on unless configured), as
/// pymemcache's `touch(noreply=None)`: then the outcome is not known and
/// PMC_OK is returned. Returns PMC_OK, PMC_NOT_FOUND (when waiting), or an
/// error status.
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_touch(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    expire: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let k = self::key(key, key_len, "key")?;
            let noreply = reply_mode(reply)?;
            Ok(if check(c.touch(k, expire, noreply))? {
                PMC_OK
            } else {
                PMC_NOT_FOUND
            })
        }),
    )
}

/// `stats` with `nargs` optional arguments (e.g. "settings", "items",
/// "slabs"; NULL when nargs is 0). `*out` receives a stats list (release
/// with `pmc_stats_free`; empty when ignore_exc hid a failure). Returns
/// PMC_OK, PMC_ILLEGAL_INPUT (an argument with whitespace), or an error
/// status.
///
/// # Safety
/// `args` points to `nargs` C strings; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_stats(
    client: *const pmc_client,
    args: *const *const c_char,
    nargs: usize,
    out: *mut *mut pmc_stats_list,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let out = as_mut(out, "out")?;
            let mut list = Vec::with_capacity(nargs);
            if nargs > 0 {
                if args.is_null() {
                    return Err(super::boundary::null("args"));
                }
                for &a in std::slice::from_raw_parts(args, nargs) {
                    list.push(text(a, "args[i]")?);
                }
            }
            let stats = check(c.stats(&list))?;
            *out = Box::into_raw(Box::new(pmc_stats_list::new(stats)));
            Ok(PMC_OK)
        }),
    )
}

/// `version`: the server's version (e.g. "1.6.18") as a new string in
/// `*out`, released with `pmc_string_free`. Returns PMC_OK or an error
/// status.
///
/// # Safety
/// `client` is a live client; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_version(
    client: *const pmc_client,
    out: *mut *mut c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let out = as_mut(out, "out")?;
            let v = check(c.version())?;
            *out = string_to_c(&v);
            Ok(PMC_OK)
        }),
    )
}

/// `flush_all`: invalidate every item now, or after `delay` seconds.
/// Returns PMC_OK or an error status.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_flush_all(
    client: *const pmc_client,
    delay: i64,
    reply: pmc_reply,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let noreply = reply_mode(reply)?;
            check(c.flush_all(delay, noreply))?;
            Ok(PMC_OK)
        }),
    )
}

/// `cache_memlimit`: set the server's memory limit in megabytes.
/// Returns PMC_OK or an error status.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_cache_memlimit(
    client: *const pmc_client,
    megabytes: u64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            check(self::client(client)?.cache_memlimit(megabytes))?;
            Ok(PMC_OK)
        }),
    )
}

/// Send one command line the client does not wrap (`command`, without
/// "\r\n"; it may not contain "\r", "\n" or NUL) and read the reply up to
/// `end_token` (e.g. "\r\n" or "END\r\n"), which is not included. The reply
/// goes to `*out` as a value (flags and cas 0); release with
/// `pmc_value_free`. Returns PMC_OK, PMC_ILLEGAL_INPUT, PMC_UNKNOWN_COMMAND,
/// PMC_CLIENT_ERROR, PMC_SERVER_ERROR (the server refused it), or another
/// error status.
///
/// # Safety
/// `command` and `end_token` point to their lengths of bytes; `out` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_raw_command(
    client: *const pmc_client,
    command: *const u8,
    command_len: usize,
    end_token: *const u8,
    end_token_len: usize,
    out: *mut pmc_value,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let cmd = key(command, command_len, "command")?;
            let end = key(end_token, end_token_len, "end_token")?;
            let out = as_mut(out, "out")?;
            let reply = check(c.raw_command(cmd, end))?;
            *out = pmc_value::from_item(Item {
                value: reply,
                flags: 0,
                cas: None,
            });
            Ok(PMC_OK)
        }),
    )
}

/// `shutdown [graceful]`: ask the server to exit (it must run with `-A`).
/// Returns PMC_OK (the server closed the connection), PMC_UNKNOWN_COMMAND
/// (shutdown is not enabled), or an error status.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_shutdown(
    client: *const pmc_client,
    graceful: bool,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            check(self::client(client)?.shutdown(graceful))?;
            Ok(PMC_OK)
        }),
    )
}

/// `quit`: tell the server goodbye and close the connection; the next
/// command reconnects. Returns PMC_OK or an error status.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_quit(
    client: *const pmc_client,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            check(self::client(client)?.quit())?;
            Ok(PMC_OK)
        }),
    )
}

/// Close the client's connections without a word to the server; the next
/// command reconnects. Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_close(
    client: *const pmc_client,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            self::client(client)?.close();
            Ok(PMC_OK)
        }),
    )
}

/// A pooled client's connection counts.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct pmc_pool_stats {
    /// Connections checked out by commands running now.
    pub in_use: usize,
    /// Connections waiting in the pool.
    pub free: usize,
    /// Connections made since the client was created.
    pub created: u64,
    /// Connections destroyed (after an error, idle, or cleared).
    pub destroyed: u64,
}

/// Read a pooled client's connection counts into `*out`.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT (the client
/// has no pool).
///
/// # Safety
/// `client` is a live client; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_pool_stats(
    client: *const pmc_client,
    out: *mut pmc_pool_stats,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let out = as_mut(out, "out")?;
            let s = c
                .pool_stats()
                .ok_or_else(|| fail(PMC_INVALID_ARGUMENT, "this client has no connection pool"))?;
            *out = pmc_pool_stats {
                in_use: s.in_use,
                free: s.free,
                created: s.created,
                destroyed: s.destroyed,
            };
            Ok(PMC_OK)
        }),
    )
}

/// Close every free connection of a pooled client (those in use are
/// returned as usual); for other clients the same as `pmc_close`.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `client` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_pool_clear(
    client: *const pmc_client,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            if c.pool_stats().is_some() {
                c.pool_clear();
            } else {
                c.close();
            }
            Ok(PMC_OK)
        }),
    )
}

unsafe fn hash_client<'a>(c: *const pmc_client) -> Result<&'a HashClient, pmc_status> {
    client(c)?
        .as_hash()
        .ok_or_else(|| fail(PMC_INVALID_ARGUMENT, "this client is not a hash client"))
}

/// Hash client: add a server ("host:port", "[ipv6]:port" or a socket path)
/// while the client is in use; the keys rendezvous hashing gives it move
/// to it. Returns PMC_OK, PMC_NULL_ARGUMENT, PMC_INVALID_ARGUMENT (not a
/// hash client, or not UTF-8) or PMC_CONFIG_ERROR (bad address, already
/// present).
///
/// # Safety
/// `client` is a live client; `server` a C string.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_add_server(
    client: *const pmc_client,
    server: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let h = hash_client(client)?;
            check(h.add_server(text(server, "server")?))?;
            Ok(PMC_OK)
        }),
    )
}

/// Hash client: remove a server while the client is in use; its keys move
/// to the other servers. Returns as `pmc_client_add_server`
/// (PMC_CONFIG_ERROR: not in the client).
///
/// # Safety
/// `client` is a live client; `server` a C string.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_remove_server(
    client: *const pmc_client,
    server: *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let h = hash_client(client)?;
            check(h.remove_server(text(server, "server")?))?;
            Ok(PMC_OK)
        }),
    )
}

/// The server `key` is placed on, as a new string in `*out` ("host:port",
/// with an IPv6 host unbracketed, or the socket path; release with
/// `pmc_string_free`). For a hash client this is the live server
/// rendezvous hashing picks, the same one pymemcache picks. Returns PMC_OK,
/// PMC_ILLEGAL_INPUT, PMC_NO_SERVERS, or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes; `out` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_server_for_key(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    out: *mut *mut c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = self::client(client)?;
            let k = self::key(key, key_len, "key")?;
            let out = as_mut(out, "out")?;
            let name = check(c.server_for_key(k))?;
            *out = string_to_c(&name);
            Ok(PMC_OK)
        }),
    )
}

/// Take the clients out of their handles (the handles are freed).
unsafe fn take_clients(clients: &[*mut pmc_client]) -> Vec<Box<dyn Memcache>> {
    clients.iter().map(|&c| Box::from_raw(c).inner).collect()
}

/// Make a fallback client (pymemcache's FallbackClient) over `n` clients of
/// any kind: writes go to `clients[0]`; reads try each client in order and
/// take, key by key, the first hit. For moving to a new cluster while the
/// old one is still warm.
///
/// Ownership: on PMC_OK the fallback client owns the `n` clients — do not
/// use or free them any more; `pmc_client_free` on the fallback frees them.
/// On any other status they stay yours. Returns PMC_OK, PMC_NULL_ARGUMENT,
/// or PMC_INVALID_ARGUMENT (n is 0, or a client appears twice).
///
/// # Safety
/// `clients` points to `n` live, distinct client pointers; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_client_new_fallback(
    clients: *const *mut pmc_client,
    n: usize,
    out: *mut *mut pmc_client,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let out = as_mut(out, "out")?;
            if n == 0 {
                return Err(fail(
                    PMC_INVALID_ARGUMENT,
                    "a fallback client needs at least one client",
                ));
            }
            if clients.is_null() {
                return Err(super::boundary::null("clients"));
            }
            let list = std::slice::from_raw_parts(clients, n);
            if list.iter().any(|c| c.is_null()) {
                return Err(super::boundary::null("clients[i]"));
            }
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != n {
                return Err(fail(PMC_INVALID_ARGUMENT, "the same client appears twice"));
            }
            let fallback = check(FallbackClient::new(take_clients(list)))?;
            *out = Box::into_raw(Box::new(pmc_client {
                inner: Box::new(fallback),
            }));
            Ok(PMC_OK)
        }),
    )
}

/// The error kind a status code names, for retry lists.
fn kind_of(status: pmc_status) -> Result<ErrorKind, pmc_status> {
    Ok(match status {
        PMC_UNKNOWN_COMMAND => ErrorKind::UnknownCommand,
        PMC_CLIENT_ERROR => ErrorKind::ClientError,
        PMC_SERVER_ERROR => ErrorKind::ServerError,
        PMC_UNKNOWN_ERROR => ErrorKind::UnknownError,
        PMC_UNEXPECTED_CLOSE => ErrorKind::UnexpectedClose,
        PMC_ILLEGAL_INPUT => ErrorKind::IllegalInput,
        PMC_TIMEOUT => ErrorKind::Timeout,
        PMC_IO_ERROR => ErrorKind::Io,
        PMC_TOO_LARGE => ErrorKind::TooLarge,
        PMC_POOL_EXHAUSTED => ErrorKind::PoolExhausted,
        PMC_NO_SERVERS => ErrorKind::NoServers,
        PMC_CONFIG_ERROR => ErrorKind::Config,
        PMC_NOT_TEXT => ErrorKind::NotText,
        PMC_NOT_INTEGER => ErrorKind::NotInteger,
        PMC_UNSUPPORTED_PICKLE => ErrorKind::UnsupportedPickle,
        PMC_CORRUPT_VALUE => ErrorKind::Corrupt,
        PMC_SERDE_CALLBACK => ErrorKind::SerdeCallback,
        PMC_TLS_ERROR => ErrorKind::Tls,
        PMC_AUTH_ERROR => ErrorKind::Auth,
        other => {
            return Err(fail(
                PMC_INVALID_ARGUMENT,
                &format!("status {other} is not an error a command can return"),
            ))
        }
    })
}

unsafe fn kinds(
    list: *const pmc_status,
    n: usize,
    name: &str,
) -> Result<Vec<ErrorKind>, pmc_status> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if list.is_null() {
        return Err(super::boundary::null(name));
    }
    std::slice::from_raw_parts(list, n)
        .iter()
        .map(|&s| kind_of(s))
        .collect()
}

/// Make a retrying client (pymemcache's RetryingClient) around `inner`:
/// each command runs up to `attempts` times (at least 1), sleeping
/// `retry_delay_ms` between tries, when its error status is in `retry_for`
/// (`n_retry_for` codes; none = every error) and not in `do_not_retry_for`.
/// When the attempts run out the last error is returned.
///
/// Ownership: on PMC_OK the retrying client owns `inner` — do not use or free
/// it any more. On any other status it stays yours. Returns PMC_OK,
/// PMC_NULL_ARGUMENT, PMC_INVALID_ARGUMENT (a code that is not an error
/// status) or PMC_CONFIG_ERROR (attempts 0, or a code in both lists).
///
/// # Safety
/// `inner` is a live client; the lists point to their lengths of codes.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: two (array, length) lists
pub unsafe extern "C" fn pmc_client_new_retrying(
    inner: *mut pmc_client,
    attempts: u32,
    retry_delay_ms: u32,
    retry_for: *const pmc_status,
    n_retry_for: usize,
    do_not_retry_for: *const pmc_status,
    n_do_not_retry_for: usize,
    out: *mut *mut pmc_client,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            as_ref(inner, "inner")?;
            let out = as_mut(out, "out")?;
            let opts = RetryOptions {
                attempts,
                retry_delay: std::time::Duration::from_millis(u64::from(retry_delay_ms)),
                retry_for: kinds(retry_for, n_retry_for, "retry_for")?,
                do_not_retry_for: kinds(do_not_retry_for, n_do_not_retry_for, "do_not_retry_for")?,
            };
            if attempts < 1 {
                return Err(fail(PMC_CONFIG_ERROR, "attempts must be at least 1"));
            }
            if let Some(k) = opts
                .retry_for
                .iter()
                .find(|k| opts.do_not_retry_for.contains(k))
            {
                return Err(fail(
                    PMC_CONFIG_ERROR,
                    &format!("{k:?} is both in retry_for and in do_not_retry_for"),
                ));
            }
            let inner = take_clients(&[inner]).pop().expect("one client");
            let retrying = check(RetryingClient::new(inner, opts))?;
            *out = Box::into_raw(Box::new(pmc_client {
                inner: Box::new(retrying),
            }));
            Ok(PMC_OK)
        }),
    )
}

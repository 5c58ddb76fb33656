//! `pmc_async`: the non-blocking client (issue 20) for event loops, in the
//! style of libpq's and c-ares' asynchronous interfaces. Submit operations
//! (never blocks), ask which descriptors to watch (`pmc_async_watches`) and
//! until when (`pmc_async_timeout_ms`), call `pmc_async_step` when one is
//! ready or the time passes, and collect completions by token
//! (`pmc_async_next`). The library starts no thread. See
//! `crate::nonblocking` for the design.

use super::batch::pmc_batch;
use super::boundary::{as_mut, as_ref, boundary, bytes, null, run, text};
use super::metrics::pmc_metrics;
use super::options::pmc_options;
use super::status::*;
use crate::addr::ServerAddr;
use crate::client::{Batch, ClientOptions};
use crate::hash::KeyForm;
use crate::nonblocking::{AsyncClient, Completion, Outcome};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

/// A non-blocking client, driven by the caller's event loop. Made by
/// `pmc_async_new`, released by `pmc_async_free`. Not thread-safe: use it
/// from one thread (one per event-loop thread).
#[allow(non_camel_case_types)]
pub struct pmc_async {
    inner: AsyncClient,
    /// The caller's batches in flight, by the id the client gave them.
    batches: HashMap<u64, *mut pmc_batch>,
    /// Scratch list of batches handed back by cancel and free.
    returned: Vec<(u64, Batch)>,
}

/// `pmc_async_watches`: watch the descriptor for reading.
pub const PMC_WANT_READ: i32 = 1;
/// `pmc_async_watches`: watch the descriptor for writing.
pub const PMC_WANT_WRITE: i32 = 2;

/// A descriptor to watch and for what: `PMC_WANT_READ`, `PMC_WANT_WRITE`
/// or both (in poll(2) terms, POLLIN and POLLOUT).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct pmc_watch {
    /// The socket descriptor (owned by the library: never close it).
    pub fd: c_int,
    /// `PMC_WANT_READ | PMC_WANT_WRITE` bits.
    pub events: c_int,
}

/// A completed operation, filled by `pmc_async_next`; release what it
/// holds with `pmc_completion_clear`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct pmc_completion {
    /// The token the operation was submitted with.
    pub token: u64,
    /// PMC_OK (get hit, stored, deleted, batch ran), PMC_MISS (get miss),
    /// PMC_NOT_STORED, PMC_NOT_FOUND (delete of a missing key), or the
    /// operation's error: PMC_TIMEOUT (no reply within its timeout, or the
    /// connect timed out), PMC_IO_ERROR (refused, reset),
    /// PMC_UNEXPECTED_CLOSE (the server closed the connection),
    /// PMC_SERVER_ERROR, ...
    pub status: pmc_status,
    /// A get hit's value (library-allocated, freed by
    /// `pmc_completion_clear`), else NULL.
    pub value: *mut u8,
    /// Number of bytes at `value`.
    pub value_len: usize,
    /// A get hit's client flags, else 0.
    pub flags: u32,
    /// For an error status (10 and above): the error object (status and
    /// message), freed by `pmc_completion_clear`; else NULL.
    pub error: *mut pmc_error,
}

unsafe fn client<'a>(a: *mut pmc_async) -> Result<&'a mut pmc_async, pmc_status> {
    as_mut(a, "async")
}

fn timeout(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

fn check<T>(r: crate::Result<T>) -> Result<T, pmc_status> {
    r.map_err(|e| fail_with(&e))
}

/// Make a non-blocking client for `n` servers (`"host:port"`, `"[v6]:port"`
/// or a UNIX socket path; n >= 1) and store it in `*out`. With several
/// servers, keys are placed exactly as a hash client over the same servers
/// places them (same rendezvous hash and key form), so both agree. `opts`
/// may be NULL (defaults); its servers are ignored, its `connect_timeout`
/// bounds each connect and its `timeout` is the timeout of operations
/// submitted with `timeout_ms` 0 (none: they wait as long as it takes). Key
/// prefix, unicode keys, max_value_len, no_delay and keepalive apply;
/// pooling and failure tracking do not, and options with serialization or
/// compression are refused (values are bytes). Never blocks and connects nothing: each server's connection
/// starts with its first operation. Returns PMC_OK, PMC_NULL_ARGUMENT or
/// PMC_CONFIG_ERROR (no server, a bad address, a server given twice, a bad
/// key prefix; serialization or compression set; TLS, authentication and
/// the mock are not supported by the async client yet: TLS and
/// authentication are refused by the Rust `AsyncClient`, with its message).
///
/// # Safety
/// `servers` points to `n` NUL-terminated strings; `opts` is NULL or live;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_new(
    servers: *const *const c_char,
    n: usize,
    opts: *const pmc_options,
    out: *mut *mut pmc_async,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let out = as_mut(out, "out")?;
            if n == 0 {
                return Err(fail(PMC_CONFIG_ERROR, "the async client needs a server"));
            }
            if servers.is_null() {
                return Err(null("servers"));
            }
            let mut addrs = Vec::with_capacity(n);
            for &s in std::slice::from_raw_parts(servers, n) {
                addrs.push(check(ServerAddr::parse(text(s, "servers[i]")?))?);
            }
            let (client, form) = match opts.as_ref() {
                None => (ClientOptions::default(), KeyForm::default()),
                Some(o) => {
                    // TLS and authentication are refused by the core
                    // (`AsyncClient::with_key_form`), with its message.
                    if o.mock {
                        return Err(fail(
                            PMC_CONFIG_ERROR,
                            "the mock is not supported by the async client yet",
                        ));
                    }
                    if o.compression.is_some() || o.callbacks.is_some() {
                        return Err(fail(
                            PMC_CONFIG_ERROR,
                            "serialization and compression do not apply to the async client \
                             (its values are bytes): make its options without them",
                        ));
                    }
                    (o.client_options()?, o.hash.key_form)
                }
            };
            let inner = check(AsyncClient::with_key_form(&addrs, &client, form))?;
            *out = Box::into_raw(Box::new(pmc_async {
                inner,
                batches: HashMap::new(),
                returned: Vec::new(),
            }));
            Ok(PMC_OK)
        }),
    )
}

/// Release the client: close its sockets and drop every operation in
/// flight (no completion is delivered for them; completions not yet taken
/// are freed). Batches in flight are handed back to their `pmc_batch`
/// unrun (no results). NULL is a no-op.
///
/// # Safety
/// `a` is NULL or a client not yet freed; the batches it runs are live.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_free(a: *mut pmc_async) {
    boundary(|| {
        if a.is_null() {
            return;
        }
        let mut a = Box::from_raw(a);
        let mut returned = std::mem::take(&mut a.returned);
        a.inner.abandon(&mut returned);
        while let Some(c) = a.inner.next_completion() {
            if let Ok(Outcome::Batch { id, batch }) = c.result {
                returned.push((id, batch));
            }
        }
        for (id, batch) in returned {
            if let Some(&b) = a.batches.get(&id) {
                (*b).restore(batch, false);
            }
        }
    })
}

/// Submit `get key`. Never blocks. `token` is any number of the caller's
/// (duplicates allowed), given back in the completion; `timeout_ms` 0
/// takes the client's default timeout. The completion: PMC_OK with the
/// value and flags, PMC_MISS, or an error. Returns PMC_OK (queued),
/// PMC_NULL_ARGUMENT, or PMC_ILLEGAL_INPUT (a bad key: nothing queued).
///
/// # Safety
/// `a` is a live client; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_get(
    a: *mut pmc_async,
    key: *const u8,
    key_len: usize,
    token: u64,
    timeout_ms: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let a = client(a)?;
            let k = super::boundary::key(key, key_len, "key")?;
            check(a.inner.submit_get(k, token, timeout(timeout_ms)))?;
            Ok(PMC_OK)
        }),
    )
}

/// Submit `set key` (always waiting for the reply). Never blocks; the value
/// is copied. The completion: PMC_OK (stored), PMC_NOT_STORED, or an error
/// (PMC_SERVER_ERROR for a value the server finds too large). Returns
/// PMC_OK (queued), PMC_NULL_ARGUMENT, PMC_ILLEGAL_INPUT (a bad key or
/// expire: nothing queued) or PMC_TOO_LARGE (over max_value_len).
///
/// # Safety
/// `a` is a live client; `key` and `value` point to their lengths of bytes
/// (`value` may be NULL for length 0).
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature agreed in issue 20
pub unsafe extern "C" fn pmc_async_set(
    a: *mut pmc_async,
    key: *const u8,
    key_len: usize,
    value: *const c_void,
    value_len: usize,
    flags: u32,
    expire: i64,
    token: u64,
    timeout_ms: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let a = client(a)?;
            let k = super::boundary::key(key, key_len, "key")?;
            let v = bytes(value.cast(), value_len, "value")?;
            check(
                a.inner
                    .submit_set(k, v, flags, expire, token, timeout(timeout_ms)),
            )?;
            Ok(PMC_OK)
        }),
    )
}

/// Submit `delete key` (waiting for the reply). The completion: PMC_OK
/// (deleted), PMC_NOT_FOUND, or an error. Returns as `pmc_async_get`.
///
/// # Safety
/// As for `pmc_async_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_delete(
    a: *mut pmc_async,
    key: *const u8,
    key_len: usize,
    token: u64,
    timeout_ms: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let a = client(a)?;
            let k = super::boundary::key(key, key_len, "key")?;
            check(a.inner.submit_delete(k, token, timeout(timeout_ms)))?;
            Ok(PMC_OK)
        }),
    )
}

/// Submit every command of `batch` (any mix, grouped per server and sent
/// as `pmc_batch_execute` sends them). The batch belongs to the client
/// until its completion (status PMC_OK) is taken with `pmc_async_next`:
/// then read its results with `pmc_batch_result`/`pmc_batch_results` as
/// after `pmc_batch_execute` (a timeout or connection error fails the
/// commands of that server). Do not touch it meanwhile. Cancelled, or
/// dropped by `pmc_async_free`: it comes back with its commands and no
/// results. Returns PMC_OK (queued) or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `a` is a live client; `batch` a live batch that stays live and unused
/// until its completion is taken (or it is cancelled, or `a` freed).
#[no_mangle]
pub unsafe extern "C" fn pmc_async_batch(
    a: *mut pmc_async,
    batch: *mut pmc_batch,
    token: u64,
    timeout_ms: u32,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let a = client(a)?;
            let b = as_mut(batch, "batch")?;
            if a.batches.values().any(|&p| p == batch) {
                return Err(fail(
                    PMC_INVALID_ARGUMENT,
                    "this batch is already in flight on this client",
                ));
            }
            let id = check(a.inner.submit_batch(b.take(), token, timeout(timeout_ms)))?;
            a.batches.insert(id, batch);
            Ok(PMC_OK)
        }),
    )
}

/// The descriptors to watch now: fills up to `cap` entries of `out` and
/// returns how many there are in all (call with `cap` 0 to size `out`).
/// The set changes after every submit and step (a reconnect gives a new
/// descriptor): ask again each time. 0 for a NULL client.
///
/// # Safety
/// `a` is NULL or a live client; `out` points to `cap` writable entries
/// (may be NULL when `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn pmc_async_watches(
    a: *const pmc_async,
    out: *mut pmc_watch,
    cap: usize,
) -> usize {
    boundary(|| {
        let Some(a) = a.as_ref() else {
            return 0;
        };
        let mut n = 0;
        for w in a.inner.watch_iter() {
            if n < cap && !out.is_null() {
                *out.add(n) = pmc_watch {
                    fd: w.fd,
                    events: w.events,
                };
            }
            n += 1;
        }
        n
    })
}

/// Milliseconds until the earliest operation or connect deadline (rounded
/// up): how long the loop may wait; 0: step now (a deadline passed, or
/// completions are waiting for `pmc_async_next`, e.g. a batch whose
/// commands were all refused before sending); -1: no deadline pending
/// (wait for the descriptors alone). -1 for a NULL client.
///
/// # Safety
/// `a` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_timeout_ms(a: *const pmc_async) -> c_int {
    boundary(|| {
        let Some(a) = a.as_ref() else {
            return -1;
        };
        match a.inner.timeout() {
            None => -1,
            Some(t) => {
                let ms = t.as_nanos().div_ceil(1_000_000);
                c_int::try_from(ms).unwrap_or(c_int::MAX)
            }
        }
    })
}

/// Make progress without blocking: `fd` is the descriptor that is ready
/// (-1: none in particular: every connection is tried, e.g. after the
/// timeout passed), `events` what it is ready for (`PMC_WANT_READ |
/// PMC_WANT_WRITE`; both if unsure; report hang-ups and errors as
/// readable; without PMC_WANT_READ nothing is read, so `(-1, 0)` only
/// writes what is queued and expires deadlines). Writes what it can, reads and
/// parses complete replies, and completes operations past their deadlines
/// with PMC_TIMEOUT. Returns PMC_OK or PMC_NULL_ARGUMENT; the operations'
/// failures go to their completions.
///
/// # Safety
/// `a` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_step(
    a: *mut pmc_async,
    fd: c_int,
    events: c_int,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let a = client(a)?;
            a.inner.step((fd >= 0).then_some(fd), events);
            Ok(PMC_OK)
        }),
    )
}

/// Take the oldest completion: 1 when `*out` was filled (release it with
/// `pmc_completion_clear`), 0 when none is ready (or `a` or `out` is
/// NULL). A batch's completion gives it back with its results published.
///
/// # Safety
/// `a` is NULL or a live client; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_next(a: *mut pmc_async, out: *mut pmc_completion) -> c_int {
    boundary(|| {
        let (Some(a), Some(out)) = (a.as_mut(), out.as_mut()) else {
            return 0;
        };
        let Some(Completion { token, result }) = a.inner.next_completion() else {
            return 0;
        };
        let mut c = pmc_completion {
            token,
            status: PMC_OK,
            value: std::ptr::null_mut(),
            value_len: 0,
            flags: 0,
            error: std::ptr::null_mut(),
        };
        match result {
            Ok(Outcome::Value { value, flags }) => {
                c.value_len = value.len();
                c.value = Box::into_raw(value.into_boxed_slice()).cast();
                c.flags = flags;
            }
            Ok(Outcome::Miss) => c.status = PMC_MISS,
            Ok(Outcome::Stored | Outcome::Deleted) => {}
            Ok(Outcome::NotStored) => c.status = PMC_NOT_STORED,
            Ok(Outcome::Exists) => c.status = PMC_EXISTS,
            Ok(Outcome::NotFound) => c.status = PMC_NOT_FOUND,
            Ok(Outcome::Batch { id, batch }) => {
                if let Some(b) = a.batches.remove(&id) {
                    (*b).restore(batch, true);
                }
            }
            Err(e) => {
                c.status = status_of(&e);
                c.error = error_object(&e);
            }
        }
        *out = c;
        1
    })
}

/// Free what a completion holds (value, error object) and zero it. NULL,
/// and a zeroed completion, are no-ops.
///
/// # Safety
/// `c` is NULL or a completion filled by `pmc_async_next` (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn pmc_completion_clear(c: *mut pmc_completion) {
    boundary(|| {
        let Some(c) = c.as_mut() else {
            return;
        };
        if !c.value.is_null() {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                c.value,
                c.value_len,
            )));
        }
        pmc_error_free(c.error);
        *c = pmc_completion {
            token: 0,
            status: PMC_OK,
            value: std::ptr::null_mut(),
            value_len: 0,
            flags: 0,
            error: std::ptr::null_mut(),
        };
    })
}

/// Cancel every operation submitted with `token` and not yet taken: no
/// completion will ever be delivered for them (a reply already due is read
/// and dropped, keeping later replies matched; completions already made
/// but not yet taken with `pmc_async_next` are dropped too). A cancelled batch comes back to
/// its `pmc_batch` with no results. Returns how many were cancelled (0 for
/// a NULL client).
///
/// # Safety
/// `a` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_cancel(a: *mut pmc_async, token: u64) -> usize {
    boundary(|| {
        let Some(a) = a.as_mut() else {
            return 0;
        };
        let mut returned = std::mem::take(&mut a.returned);
        let n = a.inner.cancel_into(token, &mut returned);
        for (id, batch) in returned.drain(..) {
            if let Some(b) = a.batches.remove(&id) {
                (*b).restore(batch, false);
            }
        }
        a.returned = returned;
        n
    })
}

/// Operations submitted and not yet completed or cancelled (a batch counts
/// once; completions waiting for `pmc_async_next` are not counted). 0 for
/// a NULL client.
///
/// # Safety
/// `a` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_pending(a: *const pmc_async) -> usize {
    boundary(|| a.as_ref().map_or(0, |a| a.inner.pending()))
}

/// Take a snapshot of every server's metrics into `*out`, in the order the
/// servers were given to `pmc_async_new`; read it with the `pmc_metrics_*`
/// accessors and release it with `pmc_metrics_free`. Counted as the
/// blocking clients count: a request per operation and per command of a
/// batch, latency from submit to completion, hits and misses of gets,
/// errors by class (an operation's timeout or the connect's: timeouts;
/// refused, reset, closed: connection errors), bytes, connections opened;
/// a server's connection is in use (1) while it has operations in flight.
/// Cancelled operations are not counted. With metrics off
/// (`pmc_options_set_metrics`) the snapshot has no servers.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `a` is a live client; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_metrics_snapshot(
    a: *const pmc_async,
    out: *mut *mut pmc_metrics,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let a = as_ref(a, "async")?;
            let out = as_mut(out, "out")?;
            *out = super::metrics::handle(a.inner.metrics_snapshot());
            Ok(PMC_OK)
        }),
    )
}

/// Zero every server's counters and latency histogram (connections in use
/// stay; the peak restarts from now).
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `a` is a live client.
#[no_mangle]
pub unsafe extern "C" fn pmc_async_metrics_reset(
    a: *const pmc_async,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            as_ref(a, "async")?.inner.metrics_reset();
            Ok(PMC_OK)
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn want_bits_match_the_core() {
        assert_eq!(PMC_WANT_READ, crate::nonblocking::WANT_READ);
        assert_eq!(PMC_WANT_WRITE, crate::nonblocking::WANT_WRITE);
    }

    #[test]
    fn null_handles_are_harmless() {
        unsafe {
            assert_eq!(
                pmc_async_watches(std::ptr::null(), std::ptr::null_mut(), 0),
                0
            );
            assert_eq!(pmc_async_timeout_ms(std::ptr::null()), -1);
            assert_eq!(pmc_async_pending(std::ptr::null()), 0);
            assert_eq!(pmc_async_cancel(std::ptr::null_mut(), 1), 0);
            assert_eq!(
                pmc_async_next(std::ptr::null_mut(), std::ptr::null_mut()),
                0
            );
            assert_eq!(
                pmc_async_step(std::ptr::null_mut(), -1, 0, std::ptr::null_mut()),
                PMC_NULL_ARGUMENT
            );
            pmc_completion_clear(std::ptr::null_mut());
            pmc_async_free(std::ptr::null_mut());
            let mut out = std::ptr::null_mut();
            assert_eq!(
                pmc_async_new(
                    std::ptr::null(),
                    0,
                    std::ptr::null(),
                    &mut out,
                    std::ptr::null_mut()
                ),
                PMC_CONFIG_ERROR
            );
            let s = c"127.0.0.1:1".as_ptr();
            assert_eq!(
                pmc_async_new(&s, 1, std::ptr::null(), &mut out, std::ptr::null_mut()),
                PMC_OK
            );
            assert_eq!(pmc_async_pending(out), 0);
            assert_eq!(pmc_async_timeout_ms(out), -1);
            pmc_async_free(out);
        }
    }
}

//! `pmc_batch`: many commands queued, run with one write and one read pass
//! per server, one result per command; and stampede control
//! (`pmc_get_or_lock`, `pmc_invalidate`).

use super::boundary::{as_mut, as_ref, boundary, bytes, key, run, text};
use super::client::pmc_client;
use super::status::*;
use super::value::pmc_value;
use crate::client::{Batch, Lease, MetaCmd, OpStatus, StoreCmd};
use std::ffi::{c_char, CString};

/// A list of commands for `pmc_batch_execute`, and their results after it.
/// Made by `pmc_batch_new`, released by `pmc_batch_free`. Queue commands
/// with the `pmc_batch_<command>` functions (each copies its key and value:
/// the caller's buffers may be reused at once), run them with
/// `pmc_batch_execute`, read each command's result with
/// `pmc_batch_result`, and `pmc_batch_clear` it to queue the next batch:
/// its buffers are kept, so a reused batch allocates nothing per command
/// beyond what the values need. A batch may be used by one thread at a time.
#[allow(non_camel_case_types)]
pub struct pmc_batch {
    inner: Batch,
    /// The error messages of the failed commands, by position.
    messages: Vec<(usize, CString)>,
    /// The results as C structs, made once per execution.
    views: Vec<pmc_op_result>,
}

impl pmc_batch {
    /// Take the commands out for the async client (`pmc_async_batch`); the
    /// batch shows no results until `restore`.
    pub(crate) fn take(&mut self) -> Batch {
        self.messages.clear();
        self.views.clear();
        std::mem::take(&mut self.inner)
    }

    /// Put back a batch the async client ran (`ran`: publish its results,
    /// as after `pmc_batch_execute`) or dropped unrun.
    pub(crate) fn restore(&mut self, batch: Batch, ran: bool) {
        self.inner = batch;
        if ran {
            self.publish();
        }
    }

    /// Make the C views of the results (and the error messages they point
    /// to) after a run.
    fn publish(&mut self) {
        self.messages.clear();
        self.views.clear();
        for (i, r) in self.inner.results().iter().enumerate() {
            if let Some(e) = &r.error {
                let c = CString::new(message_of(e).replace('\0', "\\0")).unwrap_or_default();
                self.messages.push((i, c));
            }
        }
        let mut views = std::mem::take(&mut self.views);
        views.extend((0..self.inner.len()).map(|i| view(self, i)));
        self.views = views;
    }
}

/// Where a stampede-controlled read (`pmc_get_or_lock`,
/// `pmc_batch_get_or_lock`) leaves the caller: one of the `PMC_LEASE_*`
/// values.
#[allow(non_camel_case_types)]
pub type pmc_lease = i32;
/// Not a stampede-controlled read (other commands' results).
pub const PMC_LEASE_NONE: pmc_lease = 0;
/// A fresh value: use it.
pub const PMC_LEASE_HIT: pmc_lease = 1;
/// A stale value (invalidated with `pmc_invalidate`) that another caller is
/// recomputing: use it meanwhile.
pub const PMC_LEASE_STALE: pmc_lease = 2;
/// The item was missing and this caller won the recompute: compute the
/// value and store it (`pmc_set`); others see PMC_LEASE_MISS_BUSY until then
/// (or until the lock ttl passes, when another caller wins).
pub const PMC_LEASE_MISS_WON: pmc_lease = 3;
/// The value is stale (or has fewer seconds left than `recache_below`) and
/// this caller won the recompute: the value is returned to serve meanwhile.
pub const PMC_LEASE_STALE_WON: pmc_lease = 4;
/// The item is missing and another caller is recomputing it: no value;
/// wait and ask again.
pub const PMC_LEASE_MISS_BUSY: pmc_lease = 5;

fn lease_code(l: Option<Lease>) -> pmc_lease {
    match l {
        None => PMC_LEASE_NONE,
        Some(Lease::Hit) => PMC_LEASE_HIT,
        Some(Lease::Stale) => PMC_LEASE_STALE,
        Some(Lease::MissWon) => PMC_LEASE_MISS_WON,
        Some(Lease::StaleWon) => PMC_LEASE_STALE_WON,
        Some(Lease::MissBusy) => PMC_LEASE_MISS_BUSY,
    }
}

/// The result of one command of a batch, borrowed from the batch: the
/// pointers stay valid until the batch is executed again, cleared or freed.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct pmc_op_result {
    /// PMC_OK (hit, stored, deleted, touched, counted), PMC_MISS (a read
    /// found nothing), PMC_NOT_STORED, PMC_EXISTS (cas), PMC_NOT_FOUND
    /// (cas, delete, incr, decr, touch, invalidate), or this command's
    /// error status.
    pub status: pmc_status,
    /// The error message for an error status, else NULL.
    pub message: *const c_char,
    /// The value read (reads, get_or_lock, incr/decr's new value as text,
    /// meta commands with `v`), followed by a NUL; never NULL ("" when
    /// there is none).
    pub value: *const u8,
    /// Number of bytes at `value`.
    pub value_len: usize,
    /// The item's flags (reads).
    pub flags: u32,
    /// The CAS unique (gets, gats, get_or_lock), else 0.
    pub cas: u64,
    /// The counter after incr/decr, else 0.
    pub number: u64,
    /// Seconds the item has left (get_or_lock; -1: never expires), else 0.
    pub ttl: i64,
    /// The stampede state, for get_or_lock (else PMC_LEASE_NONE).
    pub lease: pmc_lease,
    /// Meta commands (`pmc_batch_meta`): the return code ("HD", "VA",
    /// "EN", "NF", "NS", "EX"), NUL-terminated; "" for other commands.
    pub code: [c_char; 3],
    /// Meta commands: the return flags as the server sent them
    /// (space-separated tokens such as "f5 t-1 c42"), not NUL-terminated;
    /// never NULL.
    pub meta_flags: *const c_char,
    /// Number of bytes at `meta_flags`.
    pub meta_flags_len: usize,
}

/// The C view of result `i`.
fn view(b: &pmc_batch, i: usize) -> pmc_op_result {
    let r = &b.inner.results()[i];
    let status = match r.status {
        OpStatus::Ok => PMC_OK,
        OpStatus::Miss => PMC_MISS,
        OpStatus::NotStored => PMC_NOT_STORED,
        OpStatus::Exists => PMC_EXISTS,
        OpStatus::NotFound => PMC_NOT_FOUND,
        OpStatus::Failed => r.error.as_ref().map_or(PMC_UNKNOWN_ERROR, status_of),
        OpStatus::Pending => PMC_UNKNOWN_ERROR,
    };
    let message = if r.error.is_some() {
        b.messages
            .iter()
            .find(|(at, _)| *at == i)
            .map_or(std::ptr::null(), |(_, m)| m.as_ptr())
    } else {
        std::ptr::null()
    };
    let value = b.inner.result_value(i);
    let flags = b.inner.result_flags(i);
    let code = r.code;
    pmc_op_result {
        status,
        message,
        value: if value.is_empty() {
            c"".as_ptr().cast::<u8>()
        } else {
            value.as_ptr()
        },
        value_len: value.len(),
        flags: r.flags,
        cas: r.cas.unwrap_or(0),
        number: r.number.unwrap_or(0),
        ttl: r.ttl.unwrap_or(0),
        lease: lease_code(r.lease),
        code: [code[0] as c_char, code[1] as c_char, 0],
        meta_flags: if flags.is_empty() {
            c"".as_ptr()
        } else {
            flags.as_ptr().cast::<c_char>()
        },
        meta_flags_len: flags.len(),
    }
}

/// Every result of the last `pmc_batch_execute` at once: an array of
/// `*len` results in request order, borrowed from the batch (valid until it
/// is executed again, cleared or freed). NULL (and `*len` 0) before the
/// batch ran, or for a NULL batch. `len` may be NULL.
///
/// # Safety
/// `batch` is NULL or a live batch; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_results(
    batch: *const pmc_batch,
    len: *mut usize,
) -> *const pmc_op_result {
    boundary(|| {
        let views = batch.as_ref().map_or(&[][..], |b| b.views.as_slice());
        if let Some(l) = len.as_mut() {
            *l = views.len();
        }
        if views.is_empty() {
            std::ptr::null()
        } else {
            views.as_ptr()
        }
    })
}

unsafe fn batch_mut<'a>(b: *mut pmc_batch) -> Result<&'a mut pmc_batch, pmc_status> {
    as_mut(b, "batch")
}

/// Make an empty batch and store it in `*out`.
/// Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_new(
    out: *mut *mut pmc_batch,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let out = as_mut(out, "out")?;
            *out = Box::into_raw(Box::new(pmc_batch {
                inner: Batch::new(),
                messages: Vec::new(),
                views: Vec::new(),
            }));
            Ok(PMC_OK)
        }),
    )
}

/// Release a batch and its results. NULL is a no-op; freeing twice is
/// undefined behaviour.
///
/// # Safety
/// `batch` is NULL or a batch not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_free(batch: *mut pmc_batch) {
    boundary(|| {
        if !batch.is_null() {
            drop(Box::from_raw(batch));
        }
    })
}

/// Forget every queued command and result, keeping the memory for the next
/// batch. NULL is a no-op.
///
/// # Safety
/// `batch` is NULL or a live batch.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_clear(batch: *mut pmc_batch) {
    boundary(|| {
        if let Some(b) = batch.as_mut() {
            b.inner.clear();
            b.messages.clear();
            b.views.clear();
        }
    })
}

/// Number of commands queued (0 for NULL). A command's position, used with
/// `pmc_batch_result`, is the length before it was queued.
///
/// # Safety
/// `batch` is NULL or a live batch.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_len(batch: *const pmc_batch) -> usize {
    boundary(|| batch.as_ref().map_or(0, |b| b.inner.len()))
}

/// Queue with a checked key and value.
unsafe fn queue(
    batch: *mut pmc_batch,
    k: *const u8,
    key_len: usize,
    v: Option<(*const u8, usize)>,
    push: impl FnOnce(&mut Batch, &[u8], &[u8]),
) -> pmc_status {
    run(|| {
        let b = batch_mut(batch)?;
        let k = key(k, key_len, "key")?;
        let v = match v {
            Some((p, len)) => bytes(p, len, "value")?,
            None => &[],
        };
        push(&mut b.inner, k, v);
        Ok(PMC_OK)
    })
}

/// Queue a `get`. Keys are checked when the batch runs (a bad key fails
/// that command alone). Returns PMC_OK or PMC_NULL_ARGUMENT.
///
/// # Safety
/// `batch` is a live batch; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_get(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.get(k);
        }),
    )
}

/// Queue a `gets` (the result carries the CAS unique).
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_gets(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.gets(k);
        }),
    )
}

/// Queue a `gat`: read and set the expiry.
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_gat(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    expire: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.gat(k, expire);
        }),
    )
}

/// Queue a `touch` (PMC_OK, or PMC_NOT_FOUND in the result).
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_touch(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    expire: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.touch(k, expire);
        }),
    )
}

#[allow(clippy::too_many_arguments)] // the C function's arguments, passed on
unsafe fn store(
    batch: *mut pmc_batch,
    cmd: StoreCmd,
    k: *const u8,
    key_len: usize,
    v: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
) -> pmc_status {
    queue(batch, k, key_len, Some((v, value_len)), |b, k, v| {
        b.store(cmd, k, v, flags, expire);
    })
}

/// Queue a `set` (the result: PMC_OK or an error).
///
/// # Safety
/// `batch` is a live batch; `key` points to `key_len` bytes, `value` to
/// `value_len` bytes (NULL allowed when 0).
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_set(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    let s = store(
        batch,
        StoreCmd::Set,
        key,
        key_len,
        value,
        value_len,
        flags,
        expire,
    );
    report(err, s)
}

/// Queue an `add` (PMC_NOT_STORED in the result if the key exists).
///
/// # Safety
/// As for `pmc_batch_set`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_add(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    let s = store(
        batch,
        StoreCmd::Add,
        key,
        key_len,
        value,
        value_len,
        flags,
        expire,
    );
    report(err, s)
}

/// Queue a `replace` (PMC_NOT_STORED in the result if the key is missing).
///
/// # Safety
/// As for `pmc_batch_set`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_replace(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    flags: u32,
    expire: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    let s = store(
        batch,
        StoreCmd::Replace,
        key,
        key_len,
        value,
        value_len,
        flags,
        expire,
    );
    report(err, s)
}

/// Queue an `append` (PMC_NOT_STORED in the result if the key is missing).
///
/// # Safety
/// As for `pmc_batch_set`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_append(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    let s = store(
        batch,
        StoreCmd::Append,
        key,
        key_len,
        value,
        value_len,
        0,
        0,
    );
    report(err, s)
}

/// Queue a `prepend` (PMC_NOT_STORED in the result if the key is missing).
///
/// # Safety
/// As for `pmc_batch_set`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_prepend(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    let s = store(
        batch,
        StoreCmd::Prepend,
        key,
        key_len,
        value,
        value_len,
        0,
        0,
    );
    report(err, s)
}

/// Queue a `cas` (PMC_OK, PMC_EXISTS or PMC_NOT_FOUND in the result).
///
/// # Safety
/// As for `pmc_batch_set`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_cas(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    cas: u64,
    flags: u32,
    expire: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, Some((value, value_len)), |b, k, v| {
            b.cas(k, v, cas, flags, expire);
        }),
    )
}

/// Queue a `delete` (PMC_OK or PMC_NOT_FOUND in the result).
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_delete(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.delete(k);
        }),
    )
}

/// Queue an `incr` (the result's `number` is the new value; PMC_NOT_FOUND
/// if the key is missing).
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_incr(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    delta: u64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.incr(k, delta);
        }),
    )
}

/// Queue a `decr` (as `pmc_batch_incr`; memcached stops at 0).
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_decr(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    delta: u64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.decr(k, delta);
        }),
    )
}

/// Queue a stampede-controlled read (see `pmc_get_or_lock`); the result's
/// `lease` tells what to do.
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_get_or_lock(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    lock_ttl: i64,
    recache_below: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.get_or_lock(k, lock_ttl, recache_below);
        }),
    )
}

/// Queue an invalidation (see `pmc_invalidate`).
///
/// # Safety
/// As for `pmc_batch_get`.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_invalidate(
    batch: *mut pmc_batch,
    key: *const u8,
    key_len: usize,
    stale_ttl: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        queue(batch, key, key_len, None, |b, k, _| {
            b.invalidate(k, stale_ttl);
        }),
    )
}

/// Queue a generic meta command: `command` is "mg", "ms", "md" or "ma",
/// `flags` the meta flags as protocol tokens separated by single spaces
/// (e.g. "v f t s h l k N30"; "" for none; not `O` or `q`, which the batch
/// sets itself; with `b` the key is given base64-encoded and a hash client places it
/// by the decoded key, as a plain command; a key prefix goes before the
/// decoded key, the whole re-encoded), `value` the data
/// block of "ms" (ignored otherwise). The result holds the return code, the
/// return flags and the value as the server sent them. Flags are checked
/// when the batch runs. Returns PMC_OK, PMC_NULL_ARGUMENT, or
/// PMC_INVALID_ARGUMENT (an unknown command).
///
/// # Safety
/// `batch` is a live batch; `command` and `flags` are NUL-terminated
/// strings; `key` points to `key_len` bytes, `value` to `value_len` bytes
/// (NULL allowed when 0).
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_meta(
    batch: *mut pmc_batch,
    command: *const c_char,
    key: *const u8,
    key_len: usize,
    flags: *const c_char,
    value: *const u8,
    value_len: usize,
    err: *mut *mut pmc_error,
) -> pmc_status {
    let s = run(|| {
        let cmd = text(command, "command")?;
        let cmd = MetaCmd::from_code(cmd.as_bytes()).ok_or_else(|| {
            fail(
                PMC_INVALID_ARGUMENT,
                &format!("meta command {cmd:?} is not one of mg, ms, md, ma"),
            )
        })?;
        let tokens = text(flags, "flags")?;
        let tokens = tokens.as_bytes();
        Ok(queue(
            batch,
            key,
            key_len,
            Some((value, value_len)),
            |b, k, v| {
                let v = if cmd == MetaCmd::Set { v } else { &[][..] };
                b.meta(cmd, k, tokens, v);
            },
        ))
    });
    report(err, s)
}

/// Run every queued command on `client`: one write and one read pass per
/// server over memcached's meta protocol (quiet mode, opaque tokens);
/// across a hash client every server's commands are sent before any reply
/// is read. Each command gets its own result (`pmc_batch_result`): a miss,
/// a refusal or an error of one does not stop the others, and a server
/// that cannot be reached fails its own commands only. The batch may be
/// executed again (the results are replaced). Returns PMC_OK when the batch
/// ran, whatever its commands' outcomes, or PMC_NULL_ARGUMENT. Needs
/// memcached 1.6.10 or later: an older server fails every command with
/// PMC_UNKNOWN_COMMAND. Every client kind runs every command: the mock
/// client in memory with memcached 1.6.18's meta semantics (stampede
/// leases, TTLs, CAS, generic meta flags); clients with compression or
/// serde callbacks encode and decode each command's value as the single
/// calls do; a fallback client on its first client, get/gets/gat misses
/// asked of the others; a retrying client without retrying the batch.
///
/// # Safety
/// `client` is a live client; `batch` a live batch not used by another
/// thread.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_execute(
    client: *const pmc_client,
    batch: *mut pmc_batch,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = super::client::client(client)?;
            let b = batch_mut(batch)?;
            b.messages.clear();
            b.views.clear();
            if let Err(e) = c.execute(&mut b.inner) {
                return Err(fail_with(&e));
            }
            b.publish();
            Ok(PMC_OK)
        }),
    )
}

/// The result of command `index` (its position in the batch) after
/// `pmc_batch_execute`, into `*out` (borrowed from the batch; see
/// `pmc_op_result`). Returns PMC_OK (whatever the command's own status),
/// PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT (no such command, or the
/// batch has not run since it was queued).
///
/// # Safety
/// `batch` is a live batch; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_batch_result(
    batch: *const pmc_batch,
    index: usize,
    out: *mut pmc_op_result,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let b = as_ref(batch, "batch")?;
            let out = as_mut(out, "out")?;
            let Some(v) = b.views.get(index) else {
                return Err(fail(
                    PMC_INVALID_ARGUMENT,
                    &format!(
                        "no result {index}: the batch holds {} results of {} commands",
                        b.views.len(),
                        b.inner.len()
                    ),
                ));
            };
            *out = pmc_op_result { ..*v };
            Ok(PMC_OK)
        }),
    )
}

/// Stampede control in one call: read `key`, or win the right to recompute
/// it, the way memcached's meta get does it (`mg <key> v f c t N<lock_ttl>
/// [R<recache_below>]`). `*lease` receives the state (PMC_LEASE_*); `*out`
/// (may be NULL) receives the value for PMC_LEASE_HIT, PMC_LEASE_STALE and
/// PMC_LEASE_STALE_WON (release with `pmc_value_free`) and is untouched
/// otherwise. On a miss exactly one caller gets PMC_LEASE_MISS_WON (an
/// empty placeholder living `lock_ttl` seconds is made) and the others
/// PMC_LEASE_MISS_BUSY until the winner stores the value with `pmc_set`.
/// After `pmc_invalidate` one caller gets PMC_LEASE_STALE_WON and the others
/// PMC_LEASE_STALE with the old value. `recache_below` > 0 also lets one
/// caller win while the item has fewer seconds left than that (0: off).
/// Returns PMC_OK, or an error status (PMC_UNKNOWN_COMMAND for a server
/// without the meta protocol).
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes; `lease` is
/// writable; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_get_or_lock(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    lock_ttl: i64,
    recache_below: i64,
    lease: *mut pmc_lease,
    out: *mut pmc_value,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = super::client::client(client)?;
            let k = super::boundary::key(key, key_len, "key")?;
            let lease = as_mut(lease, "lease")?;
            let (l, item) = c
                .get_or_lock(k, lock_ttl, recache_below)
                .map_err(|e| fail_with(&e))?;
            *lease = lease_code(Some(l));
            if let (Some(out), Some(item)) = (out.as_mut(), item) {
                *out = pmc_value::from_item(item);
            }
            Ok(PMC_OK)
        }),
    )
}

/// Mark `key` stale for `stale_ttl` seconds (`md <key> I T<stale_ttl>`):
/// the next `pmc_get_or_lock` wins the recompute (PMC_LEASE_STALE_WON) and
/// the others are served the old value (PMC_LEASE_STALE) until it is
/// stored again. Returns PMC_OK, PMC_NOT_FOUND, or an error status.
///
/// # Safety
/// `client` is a live client; `key` points to `key_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn pmc_invalidate(
    client: *const pmc_client,
    key: *const u8,
    key_len: usize,
    stale_ttl: i64,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let c = super::client::client(client)?;
            let k = super::boundary::key(key, key_len, "key")?;
            match c.invalidate(k, stale_ttl) {
                Ok(true) => Ok(PMC_OK),
                Ok(false) => Ok(PMC_NOT_FOUND),
                Err(e) => Err(fail_with(&e)),
            }
        }),
    )
}

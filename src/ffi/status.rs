//! Status codes, their names, the per-call error object and the per-thread
//! last error message.

use crate::error::Error;
use std::cell::RefCell;
use std::ffi::{c_char, CString};

/// The result of every fallible `pmc_*` call: `PMC_OK` (0) or one of the
/// `PMC_*` codes below. Values are never reused for a new meaning.
#[allow(non_camel_case_types)]
pub type pmc_status = i32;

/// Success.
pub const PMC_OK: pmc_status = 0;
/// A get found no item (pymemcache: `None`/default).
pub const PMC_MISS: pmc_status = 1;
/// add/replace/append/prepend did not store (pymemcache: `False`), or
/// set_many left some items unstored.
pub const PMC_NOT_STORED: pmc_status = 2;
/// cas: the item changed since it was read (pymemcache: `False`).
pub const PMC_EXISTS: pmc_status = 3;
/// cas/delete/incr/decr/touch: no such item (pymemcache: `None`/`False`).
pub const PMC_NOT_FOUND: pmc_status = 4;

/// A required pointer argument was NULL.
pub const PMC_NULL_ARGUMENT: pmc_status = 10;
/// An argument is out of range (bad reply mode, non-UTF-8 text, ...).
pub const PMC_INVALID_ARGUMENT: pmc_status = 11;
/// A key or command that may not be sent; nothing was written
/// (pymemcache's `MemcacheIllegalInputError`).
pub const PMC_ILLEGAL_INPUT: pmc_status = 12;
/// The options do not describe a usable client.
pub const PMC_CONFIG_ERROR: pmc_status = 13;
/// A value longer than `max_value_len`, sent or announced by the server.
pub const PMC_TOO_LARGE: pmc_status = 14;

/// A connect, read or write timed out.
pub const PMC_TIMEOUT: pmc_status = 20;
/// A socket error: refused, reset, unknown host.
pub const PMC_IO_ERROR: pmc_status = 21;
/// The server closed the connection mid-reply
/// (`MemcacheUnexpectedCloseError`).
pub const PMC_UNEXPECTED_CLOSE: pmc_status = 22;
/// Every connection of a pooled client stayed in use for the whole pool
/// timeout (0 = fail at once, as pymemcache).
pub const PMC_POOL_EXHAUSTED: pmc_status = 23;
/// A hash client has no live server: every server is dead or none was added.
pub const PMC_NO_SERVERS: pmc_status = 24;
/// TLS failed: the handshake (the server's certificate expired, is signed
/// by an unknown CA or is for another name; the server does not speak TLS
/// or refused the client certificate), unreadable certificate or key
/// files, or a broken TLS stream. The message says which.
pub const PMC_TLS_ERROR: pmc_status = 25;
/// memcached's ASCII authentication (`memcached -Y`) failed: wrong user
/// name or password, or the server wants credentials none were given for.
pub const PMC_AUTH_ERROR: pmc_status = 26;

/// The server answered `ERROR` (`MemcacheUnknownCommandError`).
pub const PMC_UNKNOWN_COMMAND: pmc_status = 30;
/// The server answered `CLIENT_ERROR` (`MemcacheClientError`).
pub const PMC_CLIENT_ERROR: pmc_status = 31;
/// The server answered `SERVER_ERROR` (`MemcacheServerError`).
pub const PMC_SERVER_ERROR: pmc_status = 32;
/// A reply that could not be parsed (`MemcacheUnknownError`).
pub const PMC_UNKNOWN_ERROR: pmc_status = 33;

/// A value read as text is not UTF-8 text (flags 0 or 16 hold text).
pub const PMC_NOT_TEXT: pmc_status = 40;
/// A value read as an integer is not a decimal integer (flags 2 or 4), or
/// does not fit the requested type.
pub const PMC_NOT_INTEGER: pmc_status = 41;
/// A pickle that is not plain data (class instances, globals, external
/// references): refused, never executed or half-read.
pub const PMC_UNSUPPORTED_PICKLE: pmc_status = 42;
/// Stored bytes that cannot be decoded: a corrupt zlib stream, a truncated
/// pickle, bad JSON, a value in a format the call does not read.
pub const PMC_CORRUPT_VALUE: pmc_status = 43;
/// A serialize or deserialize callback returned an error status.
pub const PMC_SERDE_CALLBACK: pmc_status = 44;

/// A bug inside the library was caught at the boundary; the handle that was
/// in use should be freed.
pub const PMC_PANIC: pmc_status = 90;

const NAMES: &[(pmc_status, &str)] = &[
    (PMC_OK, "PMC_OK\0"),
    (PMC_MISS, "PMC_MISS\0"),
    (PMC_NOT_STORED, "PMC_NOT_STORED\0"),
    (PMC_EXISTS, "PMC_EXISTS\0"),
    (PMC_NOT_FOUND, "PMC_NOT_FOUND\0"),
    (PMC_NULL_ARGUMENT, "PMC_NULL_ARGUMENT\0"),
    (PMC_INVALID_ARGUMENT, "PMC_INVALID_ARGUMENT\0"),
    (PMC_ILLEGAL_INPUT, "PMC_ILLEGAL_INPUT\0"),
    (PMC_CONFIG_ERROR, "PMC_CONFIG_ERROR\0"),
    (PMC_TOO_LARGE, "PMC_TOO_LARGE\0"),
    (PMC_TIMEOUT, "PMC_TIMEOUT\0"),
    (PMC_IO_ERROR, "PMC_IO_ERROR\0"),
    (PMC_UNEXPECTED_CLOSE, "PMC_UNEXPECTED_CLOSE\0"),
    (PMC_POOL_EXHAUSTED, "PMC_POOL_EXHAUSTED\0"),
    (PMC_NO_SERVERS, "PMC_NO_SERVERS\0"),
    (PMC_TLS_ERROR, "PMC_TLS_ERROR\0"),
    (PMC_AUTH_ERROR, "PMC_AUTH_ERROR\0"),
    (PMC_UNKNOWN_COMMAND, "PMC_UNKNOWN_COMMAND\0"),
    (PMC_CLIENT_ERROR, "PMC_CLIENT_ERROR\0"),
    (PMC_SERVER_ERROR, "PMC_SERVER_ERROR\0"),
    (PMC_UNKNOWN_ERROR, "PMC_UNKNOWN_ERROR\0"),
    (PMC_NOT_TEXT, "PMC_NOT_TEXT\0"),
    (PMC_NOT_INTEGER, "PMC_NOT_INTEGER\0"),
    (PMC_UNSUPPORTED_PICKLE, "PMC_UNSUPPORTED_PICKLE\0"),
    (PMC_CORRUPT_VALUE, "PMC_CORRUPT_VALUE\0"),
    (PMC_SERDE_CALLBACK, "PMC_SERDE_CALLBACK\0"),
    (PMC_PANIC, "PMC_PANIC\0"),
];

/// The name of a status code, e.g. "PMC_MISS"; "PMC_UNKNOWN_STATUS" for a
/// value that is not a status. The string is static: never free it.
#[no_mangle]
pub extern "C" fn pmc_status_str(status: pmc_status) -> *const c_char {
    let name = NAMES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("PMC_UNKNOWN_STATUS\0", |(_, n)| n);
    name.as_ptr().cast()
}

/// The status every error variant maps to.
pub fn status_of(err: &Error) -> pmc_status {
    match err {
        Error::UnknownCommand { .. } => PMC_UNKNOWN_COMMAND,
        Error::ClientError { .. } => PMC_CLIENT_ERROR,
        Error::ServerError { .. } => PMC_SERVER_ERROR,
        Error::UnknownError { .. } => PMC_UNKNOWN_ERROR,
        Error::UnexpectedClose { .. } => PMC_UNEXPECTED_CLOSE,
        Error::IllegalInput(_) => PMC_ILLEGAL_INPUT,
        Error::Timeout { .. } => PMC_TIMEOUT,
        Error::Io { .. } => PMC_IO_ERROR,
        Error::TooLarge { .. } => PMC_TOO_LARGE,
        Error::Config(_) => PMC_CONFIG_ERROR,
        Error::PoolExhausted { .. } => PMC_POOL_EXHAUSTED,
        Error::NoServers => PMC_NO_SERVERS,
        Error::NotText(_) => PMC_NOT_TEXT,
        Error::NotInteger(_) => PMC_NOT_INTEGER,
        Error::UnsupportedPickle(_) => PMC_UNSUPPORTED_PICKLE,
        Error::Corrupt(_) => PMC_CORRUPT_VALUE,
        Error::SerdeCallback { .. } => PMC_SERDE_CALLBACK,
        Error::Tls { .. } => PMC_TLS_ERROR,
        Error::Auth { .. } => PMC_AUTH_ERROR,
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Record `message` as this thread's last error and return `status`.
pub fn fail(status: pmc_status, message: &str) -> pmc_status {
    let text = format!("{}: {message}", name_of(status));
    let c = CString::new(text.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
    status
}

/// Record a library error as this thread's last error; return its status.
pub fn fail_with(err: &Error) -> pmc_status {
    fail(status_of(err), &err.to_string())
}

/// The message an error object or the last error would carry for `err`.
pub fn message_of(err: &Error) -> String {
    format!("{}: {err}", name_of(status_of(err)))
}

fn name_of(status: pmc_status) -> &'static str {
    NAMES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("PMC_UNKNOWN_STATUS", |(_, n)| n.trim_end_matches('\0'))
}

/// The message of the last call on this thread that returned an error status
/// (10 or above): the status name, what failed, the server's own text and
/// the server's address. "" before any error. The string belongs to the
/// library and stays valid until the next failing call on the same thread.
#[no_mangle]
pub extern "C" fn pmc_last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// The error of one call: its status and message, owned by the caller.
///
/// The rule, for every function that returns a `pmc_status`: its last
/// parameter is `pmc_error **err`. NULL means "no error object, thanks".
/// Otherwise the function always writes `*err`: NULL when it returns a
/// status below 10 (PMC_OK, PMC_MISS, PMC_NOT_STORED, PMC_EXISTS,
/// PMC_NOT_FOUND), and a new `pmc_error` when it returns an error status (10
/// or above), which the caller releases with `pmc_error_free`. The object
/// belongs to the call, not to a thread: read it on any thread, at any time
/// (goroutines that move between threads, async calls finished on a worker
/// thread). `pmc_last_error_message` gives the same text on the calling
/// thread, for callers who prefer it.
#[allow(non_camel_case_types)]
pub struct pmc_error {
    status: pmc_status,
    message: CString,
}

/// Store the call's error object in `*err` (see `pmc_error`) and return
/// `status`. Every exported function that returns a status ends here.
///
/// # Safety
/// `err` is NULL or writable.
#[inline]
pub unsafe fn report(err: *mut *mut pmc_error, status: pmc_status) -> pmc_status {
    if !err.is_null() {
        let e = if status >= PMC_NULL_ARGUMENT {
            let message = LAST_ERROR.with(|e| e.borrow().clone());
            Box::into_raw(Box::new(pmc_error { status, message }))
        } else {
            std::ptr::null_mut()
        };
        *err = e;
    }
    status
}

/// A new error object for `err` (its status and message), owned by the
/// caller: what an error status's `pmc_error` holds, made without touching
/// the thread's last error (completions of the async client carry these).
pub(crate) fn error_object(err: &Error) -> *mut pmc_error {
    let message = CString::new(message_of(err).replace('\0', "\\0")).unwrap_or_default();
    Box::into_raw(Box::new(pmc_error {
        status: status_of(err),
        message,
    }))
}

/// The status an error object records (PMC_NULL_ARGUMENT for a NULL `err`).
///
/// # Safety
/// `err` is NULL or an error object not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_error_status(err: *const pmc_error) -> pmc_status {
    err.as_ref().map_or(PMC_NULL_ARGUMENT, |e| e.status)
}

/// The message of an error object: the status name, what failed, the
/// server's own text and its address, as `pmc_last_error_message` gives it.
/// Valid until `pmc_error_free(err)`; "" for a NULL `err`.
///
/// # Safety
/// `err` is NULL or an error object not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_error_message(err: *const pmc_error) -> *const c_char {
    err.as_ref().map_or(c"".as_ptr(), |e| e.message.as_ptr())
}

/// Release an error object. NULL is a no-op.
///
/// # Safety
/// `err` is NULL or an error object not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_error_free(err: *mut pmc_error) {
    if !err.is_null() {
        drop(Box::from_raw(err));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_status_has_a_distinct_name() {
        let mut seen = std::collections::HashSet::new();
        for (code, name) in NAMES {
            assert!(name.ends_with('\0'));
            assert!(seen.insert(*code), "duplicate code {code}");
            let s = unsafe { CStr::from_ptr(pmc_status_str(*code)) };
            assert_eq!(s.to_str().unwrap(), name.trim_end_matches('\0'));
        }
        let s = unsafe { CStr::from_ptr(pmc_status_str(12345)) };
        assert_eq!(s.to_str().unwrap(), "PMC_UNKNOWN_STATUS");
    }

    #[test]
    fn last_error_is_per_thread() {
        fail(PMC_TIMEOUT, "here");
        std::thread::spawn(|| {
            let s = unsafe { CStr::from_ptr(pmc_last_error_message()) };
            assert_eq!(s.to_str().unwrap(), "");
        })
        .join()
        .unwrap();
        let s = unsafe { CStr::from_ptr(pmc_last_error_message()) };
        assert_eq!(s.to_str().unwrap(), "PMC_TIMEOUT: here");
    }

    #[test]
    fn report_gives_an_error_object_only_for_errors() {
        let mut e: *mut pmc_error = std::ptr::dangling_mut();
        fail(PMC_IO_ERROR, "refused");
        assert_eq!(unsafe { report(&mut e, PMC_IO_ERROR) }, PMC_IO_ERROR);
        let e = std::thread::spawn({
            let e = e as usize;
            move || {
                let e = e as *mut pmc_error;
                unsafe {
                    assert_eq!(pmc_error_status(e), PMC_IO_ERROR);
                    let m = CStr::from_ptr(pmc_error_message(e));
                    assert_eq!(m.to_str().unwrap(), "PMC_IO_ERROR: refused");
                }
                e as usize
            }
        })
        .join()
        .unwrap() as *mut pmc_error;
        unsafe { pmc_error_free(e) };
        for ok in [PMC_OK, PMC_MISS, PMC_NOT_STORED, PMC_EXISTS, PMC_NOT_FOUND] {
            let mut e: *mut pmc_error = std::ptr::dangling_mut();
            assert_eq!(unsafe { report(&mut e, ok) }, ok);
            assert!(e.is_null());
        }
        assert_eq!(
            unsafe { report(std::ptr::null_mut(), PMC_TIMEOUT) },
            PMC_TIMEOUT
        );
        unsafe {
            assert_eq!(pmc_error_status(std::ptr::null()), PMC_NULL_ARGUMENT);
            assert_eq!(
                CStr::from_ptr(pmc_error_message(std::ptr::null())).to_bytes(),
                b""
            );
            pmc_error_free(std::ptr::null_mut());
        }
    }
}

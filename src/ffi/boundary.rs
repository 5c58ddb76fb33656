//! The panic boundary and the pointer checks every exported function uses.

use super::status::{fail, pmc_status, PMC_INVALID_ARGUMENT, PMC_NULL_ARGUMENT, PMC_PANIC};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an exported function returns when a panic is caught.
pub trait OnPanic {
    /// The value for a caught panic.
    fn on_panic() -> Self;
}

impl OnPanic for pmc_status {
    fn on_panic() -> Self {
        fail(PMC_PANIC, "internal error (panic caught at the C boundary)")
    }
}

impl<T> OnPanic for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

impl<T> OnPanic for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl OnPanic for usize {
    fn on_panic() -> Self {
        0
    }
}

impl OnPanic for () {
    fn on_panic() -> Self {}
}

/// Run `f`, turning a panic into the return type's panic value. Every
/// exported function's body runs inside this.
pub fn boundary<T: OnPanic>(f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| T::on_panic())
}

/// Like `boundary`, for bodies that use `?` on a status.
pub fn run(f: impl FnOnce() -> Result<pmc_status, pmc_status>) -> pmc_status {
    boundary(|| f().unwrap_or_else(|s| s))
}

/// The NULL-argument status, with the argument's name in the message.
pub fn null(name: &str) -> pmc_status {
    fail(PMC_NULL_ARGUMENT, &format!("argument `{name}` is NULL"))
}

/// A shared reference from a pointer that must not be NULL.
///
/// # Safety
/// `ptr` is NULL or points to a live `T`.
pub unsafe fn as_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, pmc_status> {
    ptr.as_ref().ok_or_else(|| null(name))
}

/// A mutable reference from an out-pointer that must not be NULL.
///
/// # Safety
/// `ptr` is NULL or points to writable memory for a `T`.
pub unsafe fn as_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, pmc_status> {
    ptr.as_mut().ok_or_else(|| null(name))
}

/// A byte slice from (pointer, length); NULL is allowed only for length 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
#[inline]
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], pmc_status> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(name)) };
    }
    if len > isize::MAX as usize {
        return Err(fail(
            PMC_INVALID_ARGUMENT,
            &format!("argument `{name}` has an impossible length"),
        ));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// A key: like `bytes`, but the pointer may never be NULL.
///
/// # Safety
/// As for `bytes`.
#[inline]
pub unsafe fn key<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], pmc_status> {
    if ptr.is_null() {
        return Err(null(name));
    }
    bytes(ptr, len, name)
}

/// A list of keys given as parallel arrays of pointers and lengths.
///
/// # Safety
/// With `n > 0`, `ptrs` and `lens` point to `n` entries each, and every key
/// pointer to its length of readable bytes.
pub unsafe fn key_list<'a>(
    ptrs: *const *const u8,
    lens: *const usize,
    n: usize,
) -> Result<Vec<&'a [u8]>, pmc_status> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ptrs.is_null() {
        return Err(null("keys"));
    }
    if lens.is_null() {
        return Err(null("key_lens"));
    }
    let ptrs = std::slice::from_raw_parts(ptrs, n);
    let lens = std::slice::from_raw_parts(lens, n);
    let mut out = Vec::with_capacity(n);
    for (&p, &l) in ptrs.iter().zip(lens) {
        out.push(key(p, l, "keys[i]")?);
    }
    Ok(out)
}

/// A key and its value, borrowed from the caller.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Key/value pairs given as four parallel arrays (a value pointer may be
/// NULL when its length is 0), in one list.
///
/// # Safety
/// As for `key_list`, for both pairs of arrays.
pub unsafe fn pair_list<'a>(
    keys: (*const *const u8, *const usize),
    values: (*const *const u8, *const usize),
    n: usize,
) -> Result<Vec<Pair<'a>>, pmc_status> {
    if n == 0 {
        return Ok(Vec::new());
    }
    for (ptr, name) in [
        (keys.0.cast::<u8>(), "keys"),
        (keys.1.cast(), "key_lens"),
        (values.0.cast(), "values"),
        (values.1.cast(), "value_lens"),
    ] {
        if ptr.is_null() {
            return Err(null(name));
        }
    }
    let kp = std::slice::from_raw_parts(keys.0, n);
    let kl = std::slice::from_raw_parts(keys.1, n);
    let vp = std::slice::from_raw_parts(values.0, n);
    let vl = std::slice::from_raw_parts(values.1, n);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push((
            key(kp[i], kl[i], "keys[i]")?,
            bytes(vp[i], vl[i], "values[i]")?,
        ));
    }
    Ok(out)
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, pmc_status> {
    if ptr.is_null() {
        return Err(null(name));
    }
    CStr::from_ptr(ptr).to_str().map_err(|_| {
        fail(
            PMC_INVALID_ARGUMENT,
            &format!("argument `{name}` is not valid UTF-8"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{pmc_last_error_message, PMC_OK};

    #[test]
    fn a_panic_becomes_a_status_or_null() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        assert_eq!(run(|| panic!("boom")), PMC_PANIC);
        let msg = unsafe { CStr::from_ptr(pmc_last_error_message()) };
        assert!(msg.to_str().unwrap().starts_with("PMC_PANIC"));
        assert!(boundary(|| -> *const u8 { panic!("boom") }).is_null());
        assert_eq!(boundary(|| -> usize { panic!("boom") }), 0);
        std::panic::set_hook(prev);
        assert_eq!(run(|| Ok(PMC_OK)), PMC_OK);
    }

    #[test]
    fn pointer_checks() {
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0, "v").unwrap(), b"");
            assert_eq!(bytes(std::ptr::null(), 3, "v"), Err(PMC_NULL_ARGUMENT));
            assert_eq!(key(std::ptr::null(), 0, "k"), Err(PMC_NULL_ARGUMENT));
            assert_eq!(
                key_list(std::ptr::null(), std::ptr::null(), 0)
                    .unwrap()
                    .len(),
                0
            );
            assert_eq!(
                key_list(std::ptr::null(), std::ptr::null(), 2).unwrap_err(),
                PMC_NULL_ARGUMENT
            );
            let bad = [0xffu8, 0];
            assert_eq!(
                text(bad.as_ptr().cast(), "t").unwrap_err(),
                PMC_INVALID_ARGUMENT
            );
        }
    }
}

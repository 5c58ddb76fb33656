//! The library's own version.

use std::ffi::c_char;

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's version, e.g. "0.1.0" (the same as the PMC_VERSION_*
/// macros). The string is static: never free it.
#[no_mangle]
pub extern "C" fn pmc_library_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

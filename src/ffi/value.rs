//! What the library hands back to C: value buffers, multi-key results,
//! stats lists and strings, each released by its own function.

use super::boundary::{as_mut, as_ref, boundary, run};
use super::status::{fail, pmc_error, pmc_status, report, PMC_INVALID_ARGUMENT, PMC_OK};
use crate::client::{Item, Packed, PackedHit, ServerStats};
use std::cell::Cell;
use std::ffi::{c_char, CString};

/// A value owned by the caller: `len` bytes at `data` (followed by one NUL
/// byte not counted in `len`, so text can be printed directly), the item's
/// flags and, for gets/gats, its CAS unique (0 otherwise). Release it with
/// `pmc_value_free`. Initialise it to zero: `pmc_value v = {0};`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct pmc_value {
    /// The bytes; NULL when the value is empty.
    pub data: *mut u8,
    /// Number of bytes at `data`.
    pub len: usize,
    /// The item's flags.
    pub flags: u32,
    /// The CAS unique (gets, gats), else 0.
    pub cas: u64,
}

impl pmc_value {
    /// Move an item into a C value.
    pub(crate) fn from_item(item: Item) -> pmc_value {
        let (data, len) = into_raw_bytes(item.value);
        pmc_value {
            data,
            len,
            flags: item.flags,
            cas: item.cas.unwrap_or(0),
        }
    }
}

/// Hand out a byte buffer as (pointer, length), with a NUL after the bytes.
fn into_raw_bytes(mut v: Vec<u8>) -> (*mut u8, usize) {
    if v.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let len = v.len();
    v.push(0);
    let boxed = v.into_boxed_slice();
    (Box::into_raw(boxed).cast::<u8>(), len)
}

/// Release the bytes of a value and zero it. A zeroed value (or NULL) is a
/// no-op, so freeing twice is harmless as long as the struct was not copied.
///
/// # Safety
/// `value` is NULL or points to a `pmc_value` filled by this library (or
/// zeroed).
#[no_mangle]
pub unsafe extern "C" fn pmc_value_free(value: *mut pmc_value) {
    boundary(|| {
        if let Some(v) = value.as_mut() {
            if !v.data.is_null() {
                let slice = std::ptr::slice_from_raw_parts_mut(v.data, v.len + 1);
                drop(Box::from_raw(slice));
            }
            v.data = std::ptr::null_mut();
            v.len = 0;
            v.flags = 0;
            v.cas = 0;
        }
    })
}

/// One hit of a multi-key get, borrowed from its `pmc_results`: the
/// pointers stay valid until `pmc_results_free`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct pmc_item {
    /// Position of this key in the request's key array.
    pub index: usize,
    /// The key as the caller gave it (without the key prefix).
    pub key: *const u8,
    /// Length of the key.
    pub key_len: usize,
    /// The value's bytes (followed by a NUL not counted in `value_len`).
    pub value: *const u8,
    /// Length of the value.
    pub value_len: usize,
    /// The item's flags.
    pub flags: u32,
    /// The CAS unique (gets_many), else 0.
    pub cas: u64,
}

/// The hits of a multi-key get, in request order; misses are left out (as
/// pymemcache's dict). Released once with `pmc_results_free`. May be read
/// from several threads at once; it is never changed after it is made.
#[allow(non_camel_case_types)]
#[derive(Default)]
pub struct pmc_results {
    /// The values, each followed by a NUL: kept for `items` to point into.
    values: Vec<u8>,
    /// Every hit's key, one after another: kept for `items` too.
    keys: Vec<u8>,
    /// One item per hit, pointing into the two buffers above (which never
    /// move: neither is changed after `fill`).
    items: Vec<pmc_item>,
    /// The read's hit list (emptied), kept only to be reused.
    hits: Vec<PackedHit>,
}

/// Results whose buffers hold more than this are released, not kept: a
/// thread keeps at most this much memory for its next multi-key get.
const SPARE_MAX_BYTES: usize = 8 << 20;

thread_local! {
    /// The emptied results this thread freed last, for its next multi-key
    /// get: a large result then lands in memory already mapped instead of
    /// fresh pages (measured: W3.10k, 10,000 hits of 100 bytes, took about
    /// 580 page faults per call without this).
    static SPARE: Cell<Option<pmc_results>> = const { Cell::new(None) };
}

impl pmc_results {
    /// Empty results to fill: this thread's spare ones if it has some.
    pub(crate) fn reuse() -> pmc_results {
        SPARE.with(|s| s.take()).unwrap_or_default()
    }

    /// An empty `Packed` for the read, in this results' value and hit
    /// buffers (given back by `fill`).
    pub(crate) fn take_packed(&mut self) -> Packed {
        Packed {
            data: std::mem::take(&mut self.values),
            hits: std::mem::take(&mut self.hits),
        }
    }

    /// Fill with the packed read of `keys`.
    pub(crate) fn fill(&mut self, keys: &[&[u8]], mut packed: Packed) {
        let key_bytes = packed.hits.iter().map(|h| keys[h.index].len()).sum();
        // Sized once: the keys never move, so items may point into them.
        self.keys.reserve_exact(key_bytes);
        self.items.reserve(packed.hits.len());
        for h in &packed.hits {
            let key = keys[h.index];
            let at = self.keys.len();
            self.keys.extend_from_slice(key);
            self.items.push(pmc_item {
                index: h.index,
                // In bounds: `at` and `h.start` index bytes of these buffers.
                key: self.keys.as_ptr().wrapping_add(at),
                key_len: key.len(),
                value: packed.data.as_ptr().wrapping_add(h.start),
                value_len: h.len,
                flags: h.flags,
                cas: h.cas.unwrap_or(0),
            });
        }
        packed.hits.clear();
        self.values = packed.data;
        self.hits = packed.hits;
    }

    /// Bytes the buffers hold.
    fn footprint(&self) -> usize {
        self.values.capacity()
            + self.keys.capacity()
            + self.items.capacity() * std::mem::size_of::<pmc_item>()
            + self.hits.capacity() * std::mem::size_of::<PackedHit>()
    }

    /// Release the results, keeping their buffers (emptied) as this
    /// thread's spare if they are not too large.
    fn recycle(mut self) {
        if self.footprint() > SPARE_MAX_BYTES {
            return;
        }
        self.values.clear();
        self.keys.clear();
        self.items.clear();
        self.hits.clear();
        // try_with: a thread being torn down just drops them.
        let _ = SPARE.try_with(|s| s.set(Some(self)));
    }
}

/// Number of hits in `results` (0 for NULL).
///
/// # Safety
/// `results` is NULL or a live results pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_results_len(results: *const pmc_results) -> usize {
    boundary(|| results.as_ref().map_or(0, |r| r.items.len()))
}

/// Fill `out` with hit number `i` (0-based) of `results`.
/// Returns PMC_OK, PMC_NULL_ARGUMENT, or PMC_INVALID_ARGUMENT when `i` is
/// not below `pmc_results_len`.
///
/// # Safety
/// `results` is a live results pointer and `out` points to a `pmc_item`.
#[no_mangle]
pub unsafe extern "C" fn pmc_results_at(
    results: *const pmc_results,
    i: usize,
    out: *mut pmc_item,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let r = as_ref(results, "results")?;
            let out = as_mut(out, "out")?;
            *out = *r.items.get(i).ok_or_else(|| {
                fail(
                    PMC_INVALID_ARGUMENT,
                    &format!("index {i} is out of range ({} results)", r.items.len()),
                )
            })?;
            Ok(PMC_OK)
        }),
    )
}

/// Every hit of `results` at once: a pointer to `*n` items in request
/// order (the same as `pmc_results_at` gives one by one), borrowed from
/// `results` until `pmc_results_free`. For NULL `results`, or no hits,
/// `*n` is 0 and the pointer may be NULL. `n` may be NULL if not wanted.
///
/// # Safety
/// `results` is NULL or a live results pointer; `n` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_results_items(
    results: *const pmc_results,
    n: *mut usize,
) -> *const pmc_item {
    boundary(|| {
        let items: &[pmc_item] = results.as_ref().map_or(&[], |r| &r.items);
        if let Some(n) = n.as_mut() {
            *n = items.len();
        }
        if items.is_empty() {
            std::ptr::null()
        } else {
            items.as_ptr()
        }
    })
}

/// Release results and everything borrowed from them. NULL is a no-op;
/// freeing twice is undefined behaviour. The calling thread keeps the
/// emptied buffers (up to 8 MiB) for its next multi-key get, so large
/// results do not cost fresh memory every time.
///
/// # Safety
/// `results` is NULL or a results pointer not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_results_free(results: *mut pmc_results) {
    boundary(|| {
        if !results.is_null() {
            Box::from_raw(results).recycle();
        }
    })
}

struct StatEntry {
    server: CString,
    name: CString,
    value: CString,
}

/// The `stats` of one or more servers as (server, name, value) strings, in
/// the order the servers sent them. Released once with `pmc_stats_free`.
#[allow(non_camel_case_types)]
pub struct pmc_stats_list {
    entries: Vec<StatEntry>,
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

impl pmc_stats_list {
    pub(crate) fn new(all: Vec<ServerStats>) -> pmc_stats_list {
        let mut entries = Vec::new();
        for s in all {
            let server = c_string(&s.server);
            for st in s.stats {
                entries.push(StatEntry {
                    server: server.clone(),
                    name: c_string(&st.name),
                    value: c_string(&st.raw),
                });
            }
        }
        pmc_stats_list { entries }
    }
}

/// Number of entries in `stats` (0 for NULL).
///
/// # Safety
/// `stats` is NULL or a live stats pointer.
#[no_mangle]
pub unsafe extern "C" fn pmc_stats_len(stats: *const pmc_stats_list) -> usize {
    boundary(|| stats.as_ref().map_or(0, |s| s.entries.len()))
}

/// Entry `i` of `stats`: the server it came from ("host:port" or socket
/// path), the stat's name and its value as the server sent it. The strings
/// are borrowed from `stats` and valid until `pmc_stats_free`. Any of the
/// out-pointers may be NULL if not wanted. Returns PMC_OK,
/// PMC_NULL_ARGUMENT or PMC_INVALID_ARGUMENT (index out of range).
///
/// # Safety
/// `stats` is a live stats pointer; each out-pointer NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pmc_stats_at(
    stats: *const pmc_stats_list,
    i: usize,
    server: *mut *const c_char,
    name: *mut *const c_char,
    value: *mut *const c_char,
    err: *mut *mut pmc_error,
) -> pmc_status {
    report(
        err,
        run(|| {
            let s = as_ref(stats, "stats")?;
            let e = s.entries.get(i).ok_or_else(|| {
                fail(
                    PMC_INVALID_ARGUMENT,
                    &format!("index {i} is out of range ({} stats)", s.entries.len()),
                )
            })?;
            for (out, v) in [(server, &e.server), (name, &e.name), (value, &e.value)] {
                if let Some(o) = out.as_mut() {
                    *o = v.as_ptr();
                }
            }
            Ok(PMC_OK)
        }),
    )
}

/// The value of the first stat named `name`, or NULL if there is none (or an
/// argument is NULL or not UTF-8). Borrowed from `stats`.
///
/// # Safety
/// `stats` is NULL or a live stats pointer; `name` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn pmc_stats_find(
    stats: *const pmc_stats_list,
    name: *const c_char,
) -> *const c_char {
    boundary(|| {
        let (Some(s), false) = (stats.as_ref(), name.is_null()) else {
            return std::ptr::null();
        };
        let want = std::ffi::CStr::from_ptr(name);
        s.entries
            .iter()
            .find(|e| e.name.as_c_str() == want)
            .map_or(std::ptr::null(), |e| e.value.as_ptr())
    })
}

/// Release stats and the strings borrowed from them. NULL is a no-op.
///
/// # Safety
/// `stats` is NULL or a stats pointer not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_stats_free(stats: *mut pmc_stats_list) {
    boundary(|| {
        if !stats.is_null() {
            drop(Box::from_raw(stats));
        }
    })
}

/// Hand a string to C; release it with `pmc_string_free`.
pub(crate) fn string_to_c(s: &str) -> *mut c_char {
    c_string(s).into_raw()
}

/// Release a string this library returned (e.g. by `pmc_version`). NULL is
/// a no-op.
///
/// # Safety
/// `s` is NULL or a string from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn pmc_string_free(s: *mut c_char) {
    boundary(|| {
        if !s.is_null() {
            drop(CString::from_raw(s));
        }
    })
}

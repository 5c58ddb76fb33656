//! Heap allocations per operation through the C ABI (the `pmc_*` functions
//! called directly), counted by a global allocator, against a memcached this
//! program starts. The goal: nothing beyond the buffers handed back to the
//! caller. Run: `cargo bench --bench allocs`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::Memcached;
use pymemcache::ffi::batch::*;
use pymemcache::ffi::client::*;
use pymemcache::ffi::options::*;
use pymemcache::ffi::status::PMC_OK;
use pymemcache::ffi::value::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per call of `f`, over `n` calls after a warm-up.
fn per_op(n: u64, mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / n as f64
}

fn main() {
    let mc = Memcached::tcp(&[]);
    let addr = CString::new(mc.addr()).unwrap();
    unsafe {
        let o = pmc_options_new();
        pmc_options_add_server(o, addr.as_ptr(), std::ptr::null_mut());
        pmc_options_set_no_delay(o, true, std::ptr::null_mut());
        pmc_options_set_default_noreply(o, false, std::ptr::null_mut());
        let mut c = std::ptr::null_mut();
        assert_eq!(pmc_client_new(o, &mut c, std::ptr::null_mut()), PMC_OK);
        pmc_options_free(o);

        let key = b"bench:alloc:key:0000000000000";
        let val = [b'v'; 100];
        let keys: Vec<Vec<u8>> = (0..100)
            .map(|i| format!("bench:alloc:{i:018}").into_bytes())
            .collect();
        let kptr: Vec<*const u8> = keys.iter().map(|k| k.as_ptr()).collect();
        let klen: Vec<usize> = keys.iter().map(|k| k.len()).collect();
        let vptr: Vec<*const u8> = keys.iter().map(|_| val.as_ptr()).collect();
        let vlen: Vec<usize> = keys.iter().map(|_| val.len()).collect();

        println!("# heap allocations per operation through the C ABI");
        println!("| operation | allocations / op | returned buffers / op |");
        println!("|---|---:|---:|");
        let set = per_op(2000, || {
            let st = pmc_set(
                c,
                key.as_ptr(),
                key.len(),
                val.as_ptr(),
                val.len(),
                0,
                0,
                PMC_REPLY_WAIT,
                std::ptr::null_mut(),
            );
            assert_eq!(st, PMC_OK);
        });
        println!("| W2 set (waits for STORED) | {set:.2} | 0 |");
        let get = per_op(2000, || {
            let mut v = pmc_value {
                data: std::ptr::null_mut(),
                len: 0,
                flags: 0,
                cas: 0,
            };
            assert_eq!(
                pmc_get(c, key.as_ptr(), key.len(), &mut v, std::ptr::null_mut()),
                PMC_OK
            );
            pmc_value_free(&mut v);
        });
        println!("| W1 get hit | {get:.2} | 1 (the value) |");
        // The 100 items, stored with the given reply mode.
        let set_all = |reply| {
            let st = pmc_set_many(
                c,
                kptr.as_ptr(),
                klen.as_ptr(),
                vptr.as_ptr(),
                vlen.as_ptr(),
                100,
                0,
                0,
                reply,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            assert_eq!(st, PMC_OK);
        };
        set_all(PMC_REPLY_WAIT);
        let many = per_op(500, || {
            let mut r = std::ptr::null_mut();
            assert_eq!(
                pmc_get_many(
                    c,
                    kptr.as_ptr(),
                    klen.as_ptr(),
                    100,
                    &mut r,
                    std::ptr::null_mut()
                ),
                PMC_OK
            );
            assert_eq!(pmc_results_len(r), 100);
            pmc_results_free(r);
        });
        println!("| W3 get_many of 100 | {many:.2} | 1 results handle (values in one buffer) |");
        // W8: a batch of 100 mixed commands (50 get, 30 set, 10 delete,
        // 10 incr), the batch reused as a program would.
        let mut b = std::ptr::null_mut();
        assert_eq!(pmc_batch_new(&mut b, std::ptr::null_mut()), PMC_OK);
        let ctr = b"bench:alloc:counter";
        pmc_set(
            c,
            ctr.as_ptr(),
            ctr.len(),
            b"0".as_ptr(),
            1,
            0,
            0,
            PMC_REPLY_WAIT,
            std::ptr::null_mut(),
        );
        let null = std::ptr::null_mut();
        let batch = per_op(500, || {
            pmc_batch_clear(b);
            for g in 0..10 {
                for k in 0..5 {
                    pmc_batch_get(b, kptr[g * 5 + k], klen[g * 5 + k], null);
                }
                for k in 0..3 {
                    let i = 50 + g * 3 + k;
                    pmc_batch_set(b, kptr[i], klen[i], val.as_ptr(), val.len(), 0, 0, null);
                }
                pmc_batch_delete(b, kptr[50 + g * 3], klen[50 + g * 3], null);
                pmc_batch_incr(b, ctr.as_ptr(), ctr.len(), 1, null);
            }
            assert_eq!(pmc_batch_execute(c, b, null), PMC_OK);
            let mut n = 0;
            let r = pmc_batch_results(b, &mut n);
            assert_eq!(n, 100);
            assert!((0..n).all(|i| (*r.add(i)).status == PMC_OK));
        });
        pmc_batch_free(b);
        println!(
            "| W8 batch of 100 mixed commands (reused batch) | {batch:.2} | 0 (values borrowed from the batch) |"
        );
        set_all(PMC_REPLY_WAIT);
        let noreply = per_op(500, || set_all(PMC_REPLY_NONE));
        println!("| W4 set_many of 100, noreply | {noreply:.2} | 0 |");
        pmc_client_free(c);
    }
}

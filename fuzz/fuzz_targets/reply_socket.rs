//! The reply parser through a real socket and the C surface: a scripted
//! peer (a thread behind a UNIX socket) answers one command with the
//! fuzzed bytes, then shuts its side down, so a short or cut reply ends in
//! EOF, never in a wait for the socket timeout.
//!
//! Input: `[command, option bits, max value length / 8, reply bytes...]`.
//! The client has a small max_value_len and compression on, so long or
//! compressed values, zlib bombs and huge announced lengths are all in
//! reach. Whatever the reply, the call must return a status other than
//! PMC_PANIC (a panic caught at the boundary), never hang, and never hand
//! back more than max_value_len bytes of value.

#![no_main]

mod common;

use common::{assert_json, let_sort_panics_unwind};
use libfuzzer_sys::fuzz_target;
use pymemcache::ffi::client::*;
use pymemcache::ffi::options::*;
use pymemcache::ffi::serde::*;
use pymemcache::ffi::status::*;
use pymemcache::ffi::value::*;
use std::ffi::{c_char, CStr};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixListener;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The peer: where it listens, and the reply it gives every connection.
struct Peer {
    server: std::ffi::CString,
    reply: Mutex<Vec<u8>>,
}

fn peer() -> &'static Peer {
    static PEER: OnceLock<&'static Peer> = OnceLock::new();
    PEER.get_or_init(|| {
        // A peer writing to a client that has already gone must not kill
        // the process (libFuzzer's main does not ignore SIGPIPE as Rust's does).
        // SAFETY: setting a signal disposition to SIG_IGN.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let dir = std::env::temp_dir().join(format!("pmc-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let _ = SOCKET_DIR.set(dir.clone());
        // SAFETY: registering a function without arguments to run at exit.
        unsafe { libc::atexit(remove_socket_dir) };
        let path = dir.join("peer.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the peer's socket");
        let peer: &'static Peer = Box::leak(Box::new(Peer {
            server: std::ffi::CString::new(path.to_str().expect("UTF-8 temp path")).unwrap(),
            reply: Mutex::new(Vec::new()),
        }));
        std::thread::spawn(move || serve(listener, peer));
        peer
    })
}

static SOCKET_DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

extern "C" fn remove_socket_dir() {
    if let Some(dir) = SOCKET_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Answer every connection with the current reply, then read what the
/// client sends until it closes. The reply is cloned, not taken: a
/// connection from a client that returned without reading (noreply) may be
/// accepted after the next input's reply was set, and then gets that one,
/// harmlessly, since nobody reads it.
fn serve(listener: UnixListener, peer: &'static Peer) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let reply = peer.reply.lock().unwrap().clone();
        let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = conn.write_all(&reply);
        let _ = conn.shutdown(Shutdown::Write);
        let mut sink = [0u8; 4096];
        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
    }
}

fn ok(st: pmc_status, what: &str) {
    assert_ne!(
        st, PMC_PANIC,
        "{what}: a panic was caught at the C boundary"
    );
}

fn check_value(v: &pmc_value, max: usize, what: &str) {
    assert!(
        v.len <= max,
        "{what}: {} bytes over max_value_len {max}",
        v.len
    );
    assert_eq!(v.data.is_null(), v.len == 0, "{what}: data/len mismatch");
}

const KEYS: [&[u8]; 3] = [b"k", b"k2", b"k3"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let_sort_panics_unwind();
    let (cmd, bits, max_sel, reply) = (data[0], data[1], data[2], &data[3..]);
    let max = 1 + usize::from(max_sel) * 8;
    let peer = peer();
    *peer.reply.lock().unwrap() = reply.to_vec();

    unsafe {
        let o = pmc_options_new();
        assert!(!o.is_null());
        assert_eq!(
            pmc_options_add_server(o, peer.server.as_ptr(), std::ptr::null_mut()),
            PMC_OK
        );
        pmc_options_set_timeout_ms(o, 2000, std::ptr::null_mut());
        pmc_options_set_max_value_len(o, max, std::ptr::null_mut());
        pmc_options_set_compression(o, true, 16, std::ptr::null_mut());
        pmc_options_set_ignore_exc(o, bits & 1 != 0, std::ptr::null_mut());
        if bits & 2 != 0 {
            pmc_options_set_key_prefix(o, b"p:".as_ptr(), 2, std::ptr::null_mut());
        }
        pmc_options_set_default_noreply(o, bits & 4 == 0, std::ptr::null_mut());
        match (bits >> 3) & 3 {
            1 => {
                pmc_options_set_use_pooling(o, true, std::ptr::null_mut());
            }
            2 => {
                pmc_options_set_use_hash_client(o, true, std::ptr::null_mut());
            }
            _ => {}
        }
        let mut c: *mut pmc_client = std::ptr::null_mut();
        assert_eq!(pmc_client_new(o, &mut c, std::ptr::null_mut()), PMC_OK);
        pmc_options_free(o);
        run(c, cmd, bits, max);
        pmc_client_free(c);
    }
});

unsafe fn run(c: *mut pmc_client, cmd: u8, bits: u8, max: usize) {
    let k = KEYS[0];
    let reply_mode = if bits & 0x20 != 0 {
        PMC_REPLY_WAIT
    } else {
        PMC_REPLY_DEFAULT
    };
    let long_value = [b'a'; 100]; // compressed on the way out
    let value: &[u8] = if bits & 0x40 != 0 { &long_value } else { b"v" };
    let key_ptrs: Vec<*const u8> = KEYS.iter().map(|k| k.as_ptr()).collect();
    let key_lens: Vec<usize> = KEYS.iter().map(|k| k.len()).collect();
    let mut v = pmc_value {
        data: std::ptr::null_mut(),
        len: 0,
        flags: 0,
        cas: 0,
    };
    match cmd % 26 {
        0 => ok(
            pmc_get(c, k.as_ptr(), k.len(), &mut v, std::ptr::null_mut()),
            "get",
        ),
        1 => ok(
            pmc_gets(c, k.as_ptr(), k.len(), &mut v, std::ptr::null_mut()),
            "gets",
        ),
        2 => ok(
            pmc_gat(c, k.as_ptr(), k.len(), 10, &mut v, std::ptr::null_mut()),
            "gat",
        ),
        3 => ok(
            pmc_gats(c, k.as_ptr(), k.len(), 10, &mut v, std::ptr::null_mut()),
            "gats",
        ),
        n @ (4 | 5) => {
            let mut r: *mut pmc_results = std::ptr::null_mut();
            let st = if n == 4 {
                pmc_get_many(
                    c,
                    key_ptrs.as_ptr(),
                    key_lens.as_ptr(),
                    3,
                    &mut r,
                    std::ptr::null_mut(),
                )
            } else {
                pmc_gets_many(
                    c,
                    key_ptrs.as_ptr(),
                    key_lens.as_ptr(),
                    3,
                    &mut r,
                    std::ptr::null_mut(),
                )
            };
            ok(st, "get_many");
            if st == PMC_OK {
                results(r, max);
            }
            pmc_results_free(r);
        }
        6 => {
            let args: [*const c_char; 1] = [c"items".as_ptr()];
            let mut s: *mut pmc_stats_list = std::ptr::null_mut();
            let nargs = usize::from(bits & 0x40 != 0);
            let st = pmc_stats(c, args.as_ptr(), nargs, &mut s, std::ptr::null_mut());
            ok(st, "stats");
            if st == PMC_OK {
                stats(s);
            }
            pmc_stats_free(s);
        }
        n @ (7 | 8) => {
            let mut out = 0u64;
            let st = if n == 7 {
                pmc_incr(
                    c,
                    k.as_ptr(),
                    k.len(),
                    1,
                    reply_mode,
                    &mut out,
                    std::ptr::null_mut(),
                )
            } else {
                pmc_decr(
                    c,
                    k.as_ptr(),
                    k.len(),
                    1,
                    reply_mode,
                    &mut out,
                    std::ptr::null_mut(),
                )
            };
            ok(st, "incr/decr");
        }
        9 => {
            let mut s: *mut c_char = std::ptr::null_mut();
            let st = pmc_version(c, &mut s, std::ptr::null_mut());
            ok(st, "version");
            if st == PMC_OK {
                assert!(!s.is_null());
                let _ = CStr::from_ptr(s).to_bytes().len();
            }
            pmc_string_free(s);
        }
        10 => ok(
            pmc_set(
                c,
                k.as_ptr(),
                k.len(),
                value.as_ptr(),
                value.len(),
                0,
                0,
                reply_mode,
                std::ptr::null_mut(),
            ),
            "set",
        ),
        11 => ok(
            pmc_cas(
                c,
                k.as_ptr(),
                k.len(),
                value.as_ptr(),
                value.len(),
                7,
                0,
                0,
                reply_mode,
                std::ptr::null_mut(),
            ),
            "cas",
        ),
        12 => ok(
            pmc_delete(c, k.as_ptr(), k.len(), reply_mode, std::ptr::null_mut()),
            "delete",
        ),
        13 => ok(
            pmc_touch(c, k.as_ptr(), k.len(), 5, reply_mode, std::ptr::null_mut()),
            "touch",
        ),
        14 => {
            let end: &[u8] = if bits & 0x40 != 0 {
                b"END\r\n"
            } else {
                b"\r\n"
            };
            let st = pmc_raw_command(
                c,
                b"get k".as_ptr(),
                5,
                end.as_ptr(),
                end.len(),
                &mut v,
                std::ptr::null_mut(),
            );
            ok(st, "raw_command");
        }
        15 => {
            let mut s: *mut c_char = std::ptr::null_mut();
            let st = pmc_get_json(c, k.as_ptr(), k.len(), &mut s, std::ptr::null_mut());
            ok(st, "get_json");
            if st == PMC_OK {
                assert!(!s.is_null());
                let json = CStr::from_ptr(s).to_str().expect("JSON is UTF-8");
                assert_json(json, "get_json");
            }
            pmc_string_free(s);
        }
        16 => ok(
            pmc_get_text(c, k.as_ptr(), k.len(), &mut v, std::ptr::null_mut()),
            "get_text",
        ),
        17 => {
            let mut n = 0i64;
            ok(
                pmc_get_int64(c, k.as_ptr(), k.len(), &mut n, std::ptr::null_mut()),
                "get_int64",
            );
        }
        18 => {
            let json = c"{\"a\":[1,2.5,null,{\"$bytes\":\"00ff\"}],\"s\":{\"$set\":[1]}}";
            ok(
                pmc_set_json(
                    c,
                    k.as_ptr(),
                    k.len(),
                    json.as_ptr(),
                    0,
                    reply_mode,
                    std::ptr::null_mut(),
                ),
                "set_json",
            );
        }
        19 => ok(
            pmc_set_text(
                c,
                k.as_ptr(),
                k.len(),
                value.as_ptr().cast(),
                value.len(),
                0,
                reply_mode,
                std::ptr::null_mut(),
            ),
            "set_text",
        ),
        20 => ok(
            pmc_set_int64(
                c,
                k.as_ptr(),
                k.len(),
                -42,
                0,
                reply_mode,
                std::ptr::null_mut(),
            ),
            "set_int64",
        ),
        21 => {
            let f: [unsafe extern "C" fn(
                *const pmc_client,
                *const u8,
                usize,
                *const u8,
                usize,
                u32,
                i64,
                i32,
                *mut *mut pmc_error,
            ) -> pmc_status; 4] = [pmc_add, pmc_replace, pmc_append, pmc_prepend];
            let st = f[usize::from(bits >> 6)](
                c,
                k.as_ptr(),
                k.len(),
                value.as_ptr(),
                value.len(),
                3,
                0,
                reply_mode,
                std::ptr::null_mut(),
            );
            ok(st, "add/replace/append/prepend");
        }
        22 => {
            let mut deleted = 0usize;
            let st = pmc_delete_many(
                c,
                key_ptrs.as_ptr(),
                key_lens.as_ptr(),
                3,
                reply_mode,
                &mut deleted,
                std::ptr::null_mut(),
            );
            ok(st, "delete_many");
            assert!(deleted <= 3);
        }
        23 => {
            let vals: [*const u8; 3] = [value.as_ptr(); 3];
            let lens = [value.len(); 3];
            let mut failed = [usize::MAX; 3];
            let mut n_failed = 0usize;
            let st = pmc_set_many(
                c,
                key_ptrs.as_ptr(),
                key_lens.as_ptr(),
                vals.as_ptr(),
                lens.as_ptr(),
                3,
                0,
                0,
                reply_mode,
                failed.as_mut_ptr(),
                &mut n_failed,
                std::ptr::null_mut(),
            );
            ok(st, "set_many");
            if st == PMC_OK {
                assert!(n_failed <= 3);
                assert!(failed[..n_failed].iter().all(|&i| i < 3));
            }
        }
        24 => ok(
            pmc_flush_all(c, 0, reply_mode, std::ptr::null_mut()),
            "flush_all",
        ),
        _ => ok(
            pmc_cache_memlimit(c, 64, std::ptr::null_mut()),
            "cache_memlimit",
        ),
    }
    check_value(&v, max.max(4096), "value");
    pmc_value_free(&mut v);
    // The error message of whatever happened must be readable.
    let msg = pmc_last_error_message();
    if !msg.is_null() {
        let _ = CStr::from_ptr(msg).to_bytes().len();
    }
}

unsafe fn results(r: *mut pmc_results, max: usize) {
    let n = pmc_results_len(r);
    assert!(n <= 3, "{n} results for 3 keys");
    let mut count = 0usize;
    let items = pmc_results_items(r, &mut count);
    assert_eq!(count, n);
    for i in 0..n {
        let it = &*items.add(i);
        assert!(it.index < 3);
        assert_eq!(
            std::slice::from_raw_parts(it.key, it.key_len),
            KEYS[it.index]
        );
        assert!(it.value_len <= max, "{} > max {max}", it.value_len);
        let mut one = std::mem::zeroed::<pmc_item>();
        assert_eq!(pmc_results_at(r, i, &mut one, std::ptr::null_mut()), PMC_OK);
    }
}

unsafe fn stats(s: *mut pmc_stats_list) {
    let n = pmc_stats_len(s);
    for i in 0..n {
        let mut server: *const c_char = std::ptr::null();
        let mut name: *const c_char = std::ptr::null();
        let mut val: *const c_char = std::ptr::null();
        ok(
            pmc_stats_at(s, i, &mut server, &mut name, &mut val, std::ptr::null_mut()),
            "stats_at",
        );
    }
    let _ = pmc_stats_find(s, c"pid".as_ptr());
}

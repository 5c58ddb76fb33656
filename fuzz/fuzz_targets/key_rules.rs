//! The key rules (pymemcache's rules for bytes keys): a key, with the
//! prefix prepended, is accepted exactly when it is at most 250 bytes, holds
//! no ASCII whitespace (space, \t, \n, \v, \f, \r) and no NUL, and is not
//! empty (an empty key is legal only with a prefix). Text keys must also be
//! ASCII unless unicode keys are allowed. Checked on `KeyRules` and through
//! the C surface (a mock client: set, then get reads the value back).
//!
//! Input: `[bits, prefix length, prefix..., key...]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pymemcache::ffi::client::*;
use pymemcache::ffi::options::*;
use pymemcache::ffi::status::*;
use pymemcache::ffi::value::*;
use pymemcache::key::{KeyRules, MAX_KEY_LEN};

fn legal_bytes(b: &[u8]) -> bool {
    !b.iter()
        .any(|&c| matches!(c, 0 | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let allow_unicode = data[0] & 1 != 0;
    let rest = &data[2..];
    let plen = usize::from(data[1]).min(rest.len());
    let (prefix, key) = rest.split_at(plen);

    let prefix_ok = prefix.len() <= MAX_KEY_LEN && legal_bytes(prefix);
    let rules = match KeyRules::new(prefix, allow_unicode) {
        Ok(r) => {
            assert!(prefix_ok, "prefix {prefix:?} accepted");
            r
        }
        Err(_) => {
            assert!(!prefix_ok, "prefix {prefix:?} refused");
            return;
        }
    };

    let mut full = prefix.to_vec();
    full.extend_from_slice(key);
    let expect = full.len() <= MAX_KEY_LEN && legal_bytes(&full) && !full.is_empty();

    let mut out = b"get ".to_vec();
    let got = rules.write_key(key, &mut out).is_ok();
    assert_eq!(got, expect, "prefix {prefix:?} key {key:?}");
    if got {
        // What goes on the wire is the prefix and the key, nothing else.
        assert_eq!(&out[4..], &full[..]);
        assert!(legal_bytes(&out[4..]) && out.len() - 4 <= MAX_KEY_LEN);
    }
    assert_eq!(rules.check(key).is_ok(), expect);
    assert_eq!(
        rules.check_all(&[b"ok".as_slice(), key]).is_ok(),
        expect && prefix.len() + 2 <= MAX_KEY_LEN
    );
    if let Ok(text) = std::str::from_utf8(key) {
        let want = expect && (allow_unicode || text.is_ascii());
        assert_eq!(rules.check_text(text).is_ok(), want, "text key {text:?}");
    }

    // The same rules through the C surface.
    unsafe {
        let o = pmc_options_new();
        pmc_options_set_mock(o, true, std::ptr::null_mut());
        pmc_options_set_allow_unicode_keys(o, allow_unicode, std::ptr::null_mut());
        assert_eq!(
            pmc_options_set_key_prefix(o, prefix.as_ptr(), prefix.len(), std::ptr::null_mut()),
            PMC_OK
        );
        let mut c: *mut pmc_client = std::ptr::null_mut();
        assert_eq!(pmc_client_new(o, &mut c, std::ptr::null_mut()), PMC_OK);
        pmc_options_free(o);
        let st = pmc_set(
            c,
            key.as_ptr(),
            key.len(),
            b"v".as_ptr(),
            1,
            0,
            0,
            PMC_REPLY_WAIT,
            std::ptr::null_mut(),
        );
        assert_eq!(st == PMC_OK, expect, "pmc_set: status {st}");
        if !expect {
            assert_eq!(st, PMC_ILLEGAL_INPUT);
        }
        let mut v = std::mem::zeroed::<pmc_value>();
        let st = pmc_get(c, key.as_ptr(), key.len(), &mut v, std::ptr::null_mut());
        if expect {
            assert_eq!(st, PMC_OK);
            assert_eq!(std::slice::from_raw_parts(v.data, v.len), b"v");
        } else {
            assert_eq!(st, PMC_ILLEGAL_INPUT);
        }
        pmc_value_free(&mut v);
        pmc_client_free(c);
    }
});

//! The pickle decoder behind pmc_get_json, on arbitrary bytes, and the
//! JSON -> pickle encoder behind pmc_set_json on the same bytes read as
//! text. Either may refuse its input; neither may panic, recurse or
//! allocate without bound. What the decoder accepts comes out as JSON, and
//! what the encoder writes the decoder reads back.

#![no_main]

mod common;

use common::{assert_json, let_sort_panics_unwind};
use libfuzzer_sys::fuzz_target;
use pymemcache::serde::pickle;
use pymemcache::Error;

fuzz_target!(|data: &[u8]| {
    let_sort_panics_unwind();
    match pickle::to_json(data) {
        Ok(json) => assert_json(&json, "to_json"),
        Err(Error::Corrupt(_) | Error::UnsupportedPickle(_)) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = pickle::from_json(text) {
            match pickle::to_json(&p) {
                Ok(json) => assert_json(&json, "to_json of from_json"),
                Err(e) => panic!("the encoder's pickle of {text:.200} does not decode: {e}"),
            }
        }
    }
});

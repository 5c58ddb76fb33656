//! The pickle decoder behind pmc_get_json, on arbitrary bytes, and the
//! JSON -> pickle encoder behind pmc_set_json on the same bytes read as
//! text. Either may refuse its input; neither may panic, recurse or
//! allocate without bound. What the decoder accepts comes out as JSON, and
//! what the encoder writes the decoder reads back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pymemcache::serde::pickle;
use pymemcache::Error;

fuzz_target!(|data: &[u8]| {
    match pickle::to_json(data) {
        Ok(json) => assert_json(&json),
        Err(Error::Corrupt(_) | Error::UnsupportedPickle(_)) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = pickle::from_json(text) {
            match pickle::to_json(&p) {
                Ok(json) => assert_json(&json),
                Err(e) => panic!("the encoder's pickle of {text:.200} does not decode: {e}"),
            }
        }
    }
});

fn assert_json(text: &str) {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let parsed = serde::de::Deserialize::deserialize(&mut de).and_then(|v: serde_json::Value| {
        de.end()?;
        Ok(v)
    });
    if let Err(e) = parsed {
        panic!("to_json gave text that is not JSON ({e}): {text:.200}");
    }
}

//! Helpers shared by the fuzz targets.

use std::sync::Once;

/// serde_pickle orders set members and dict keys by a comparison that is
/// not a total order, and the standard sort panics when it notices; the
/// library catches that panic (`pickle::to_json` returns an error). Let
/// such a panic unwind to it instead of aborting, as libFuzzer's hook does
/// with every panic; any other panic still aborts, and a sort panic that
/// nothing catches aborts in libfuzzer-sys.
pub fn let_sort_panics_unwind() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_sort = info
                .location()
                .is_some_and(|l| l.file().contains("/slice/sort/"));
            if !in_sort {
                fuzzer_hook(info);
            }
        }));
    });
}

/// Panic unless `text` is one JSON value (nesting deeper than serde_json's
/// default limit of 128 is allowed: the decoder goes to 200).
pub fn assert_json(text: &str, what: &str) {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let parsed = serde::de::Deserialize::deserialize(&mut de).and_then(|v: serde_json::Value| {
        de.end()?;
        Ok(v)
    });
    if let Err(e) = parsed {
        panic!("{what} gave text that is not JSON ({e}): {text:.200}");
    }
}

//! The committed include/pymemcache.h must be exactly what build.rs
//! generates from the sources, and export only `pmc_`/`PMC_` names.
//! (build.rs writes the header only to OUT_DIR; `scripts/gen-header.sh`
//! copies it into include/, so a stale committed header fails here.)

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/pymemcache.h"));

#[test]
fn committed_header_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/pymemcache.h");
    let committed = std::fs::read_to_string(path).expect("include/pymemcache.h is committed");
    assert!(
        committed == GENERATED,
        "include/pymemcache.h differs from what build.rs generates: run \
         `scripts/gen-header.sh` and commit include/pymemcache.h"
    );
}

#[test]
fn header_exports_only_prefixed_names() {
    for line in GENERATED.lines() {
        let line = line.trim_start();
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if line.starts_with("typedef") && line.contains("(*") {
            line.split("(*").nth(1).and_then(|s| s.split(')').next())
        } else if line.starts_with("typedef struct") && line.ends_with('{') {
            line.split_whitespace().nth(2)
        } else if line.starts_with("typedef ") || (line.starts_with("} ") && !line.contains("//")) {
            line.trim_end_matches(';').split_whitespace().last()
        } else if line.contains('(') && !line.starts_with('*') && !line.starts_with("/*") {
            line.split('(')
                .next()
                .and_then(|s| s.split_whitespace().last())
                .map(|s| s.trim_start_matches('*'))
        } else {
            None
        };
        if let Some(n) = name {
            if n == "PYMEMCACHE_H" || n.is_empty() {
                continue;
            }
            assert!(
                n.starts_with("pmc_") || n.starts_with("PMC_"),
                "exported name without the pmc_ prefix: {n} in {line:?}"
            );
        }
    }
}

#[test]
fn header_version_matches_cargo() {
    let want = format!(
        "#define PMC_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(GENERATED.contains(&want));
    let lib = unsafe { std::ffi::CStr::from_ptr(pymemcache::ffi::version::pmc_library_version()) };
    assert_eq!(lib.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

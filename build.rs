//! Generates the C header with cbindgen into OUT_DIR (never into the source
//! tree: `scripts/gen-header.sh` copies it to include/pymemcache.h, and CI
//! checks that the committed header is current) and gives the shared library
//! its soname.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets it");
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").expect("cargo sets it");
    let patch = std::env::var("CARGO_PKG_VERSION_PATCH").expect("cargo sets it");

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpymemcache.so.{major}");

    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(format!(
        "\n/* The library version this header belongs to; pmc_library_version() gives the\n   version of the library actually loaded. */\n\
         #define PMC_VERSION_MAJOR {major}\n#define PMC_VERSION_MINOR {minor}\n#define PMC_VERSION_PATCH {patch}\n\
         #define PMC_VERSION_STRING \"{major}.{minor}.{patch}\""
    ));
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    bindings.write_to_file(out_dir.join("pymemcache.h"));
}

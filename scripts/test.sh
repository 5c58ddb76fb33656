#!/usr/bin/env bash
# Run every test from a fresh checkout: installs missing system packages,
# checks formatting, lints, runs the Rust tests (each starts its own real
# memcached), then the C suite under ctest, plain, under valgrind and under
# AddressSanitizer, the bindings' suites, and each fuzz target for a short
# while (PMC_FUZZ_SECONDS each, default 30; PMC_SKIP_FUZZ=1 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test
echo "== release build (the C suite and the bindings link it)"
cargo build --release
echo "== header is current (regenerated from the sources, compared with include/pymemcache.h)"
scripts/gen-header.sh --check
echo "== fuzz crate is formatted"
(cd fuzz && cargo fmt --all -- --check)
echo "== install into a temporary prefix (install_consumers checks it; the bindings' packages build against it)"
prefix=$(mktemp -d "${TMPDIR:-/tmp}/pymemcache-prefix.XXXXXX")
scripts/install.sh --prefix "$prefix"
echo "== C suite (ctest, then under valgrind, then under AddressSanitizer)"
PMC_INSTALLED_PREFIX=$prefix PMC_SKIP_CARGO_BUILD=1 examples-c/run-tests.sh
echo "== Go, Ruby and Node bindings"
PMC_PREFIX=$prefix bindings/run-tests.sh
if [ "${PMC_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz targets (${PMC_FUZZ_SECONDS:-30} s each)"
  scripts/fuzz.sh "${PMC_FUZZ_SECONDS:-30}"
fi

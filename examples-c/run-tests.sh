#!/usr/bin/env bash
# run-tests.sh: build the library and the C examples, and run the C test
# suite three times - plainly, then every program under valgrind, then
# every program and the library built with AddressSanitizer (LeakSanitizer
# on: a leak fails the test like a memory error).
#
#   examples-c/run-tests.sh
#
# Environment:
#   PMC_SKIP_CARGO_BUILD=1   do not run `cargo build --release` first
#   PMC_BUILD_DIR            plain build tree   (default examples-c/build)
#   PMC_VALGRIND_BUILD_DIR   valgrind build tree (default examples-c/build-valgrind)
#   PMC_ASAN_BUILD_DIR       ASan build tree (default examples-c/build-asan)
#   PMC_ASAN_LIB_DIR         a libpymemcache.so built with -Zsanitizer=address
#                            to use (default: built here, into target/asan)
#   PMC_SKIP_VALGRIND=1      no valgrind pass
#   PMC_SKIP_ASAN=1          no ASan pass
#   PMC_JOBS                 parallel build and test jobs (default 2)
#   MEMCACHED                the memcached binary (default: from PATH)
#
# Needs cargo, cmake >= 3.16, a C99 and a C++17 compiler (gcc's, with
# libasan), memcached, valgrind and pkg-config; the install_consumers test
# runs scripts/install.sh, which builds cargo-c if it is missing. The ASan
# pass needs only the stable toolchain: RUSTC_BOOTSTRAP=1 allows its one
# unstable flag. No memcached
# needs to be running: the tests start their own.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${PMC_BUILD_DIR:-$here/build}
vbuild=${PMC_VALGRIND_BUILD_DIR:-$here/build-valgrind}
abuild=${PMC_ASAN_BUILD_DIR:-$here/build-asan}
jobs=${PMC_JOBS:-2}

step() { printf '\n==== %s\n' "$*"; }

if [ "${PMC_SKIP_CARGO_BUILD:-0}" != 1 ]; then
  step "cargo build --release"
  (cd "$root" && cargo build --release)
fi

cmake_args=(-DPMC_ROOT="$root")
if [ -n "${MEMCACHED:-}" ]; then cmake_args+=(-DMEMCACHED_EXECUTABLE="$MEMCACHED"); fi

step "configure and build ($build)"
cmake -S "$here" -B "$build" "${cmake_args[@]}" -DPMC_VALGRIND=OFF -DPMC_ASAN=OFF
cmake --build "$build" -j "$jobs"

# A failing pass does not stop the others; the script fails if any
# did.
failed=()

step "ctest"
(cd "$build" && ctest --output-on-failure -j "$jobs") || failed+=("ctest")

if [ "${PMC_SKIP_VALGRIND:-0}" != 1 ]; then
  step "configure and build with PMC_VALGRIND=ON ($vbuild)"
  cmake -S "$here" -B "$vbuild" "${cmake_args[@]}" -DPMC_VALGRIND=ON -DPMC_ASAN=OFF
  cmake --build "$vbuild" -j "$jobs"

  step "ctest under valgrind"
  (cd "$vbuild" && ctest --output-on-failure -j "$jobs") || failed+=("ctest under valgrind")
fi

if [ "${PMC_SKIP_ASAN:-0}" != 1 ]; then
  # The library instrumented too, not only the programs: the --target
  # keeps build scripts and proc-macros (run at build time, without the
  # runtime) uninstrumented.
  alib=${PMC_ASAN_LIB_DIR:-}
  if [ -z "$alib" ]; then
    triple=$(rustc -vV | sed -n 's/^host: //p')
    step "cargo build --release with -Zsanitizer=address (target/asan)"
    (cd "$root" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" \
      cargo build --release --target "$triple" --target-dir target/asan)
    alib="$root/target/asan/$triple/release"
  fi
  step "configure and build with PMC_ASAN=ON ($abuild)"
  cmake -S "$here" -B "$abuild" "${cmake_args[@]}" -DPMC_VALGRIND=OFF -DPMC_ASAN=ON \
    -DPMC_LIB_DIR="$alib"
  cmake --build "$abuild" -j "$jobs"

  step "ctest under AddressSanitizer"
  (cd "$abuild" && ctest --output-on-failure -j "$jobs") || failed+=("ctest under ASan")
fi

if [ ${#failed[@]} -gt 0 ]; then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "all passed"

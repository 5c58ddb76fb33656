#!/usr/bin/env bash
# run-tests.sh: build the library and the C examples, and run the C test
# suite twice - plainly, then every program under valgrind.
#
#   examples-c/run-tests.sh
#
# Environment:
#   PMC_SKIP_CARGO_BUILD=1   do not run `cargo build --release` first
#   PMC_BUILD_DIR            plain build tree   (default examples-c/build)
#   PMC_VALGRIND_BUILD_DIR   valgrind build tree (default examples-c/build-valgrind)
#   PMC_SKIP_VALGRIND=1      only the plain pass
#   PMC_JOBS                 parallel build and test jobs (default 2)
#   MEMCACHED                the memcached binary (default: from PATH)
#
# Needs cargo, cmake >= 3.16, a C99 and a C++17 compiler, memcached,
# valgrind and pkg-config; the install_consumers test runs
# scripts/install.sh, which builds cargo-c if it is missing. No memcached
# needs to be running: the tests start their own.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${PMC_BUILD_DIR:-$here/build}
vbuild=${PMC_VALGRIND_BUILD_DIR:-$here/build-valgrind}
jobs=${PMC_JOBS:-2}

step() { printf '\n==== %s\n' "$*"; }

if [ "${PMC_SKIP_CARGO_BUILD:-0}" != 1 ]; then
  step "cargo build --release"
  (cd "$root" && cargo build --release)
fi

cmake_args=(-DPMC_ROOT="$root")
if [ -n "${MEMCACHED:-}" ]; then cmake_args+=(-DMEMCACHED_EXECUTABLE="$MEMCACHED"); fi

step "configure and build ($build)"
cmake -S "$here" -B "$build" "${cmake_args[@]}" -DPMC_VALGRIND=OFF
cmake --build "$build" -j "$jobs"

# A failing pass does not stop the other one; the script fails if either
# did.
failed=()

step "ctest"
(cd "$build" && ctest --output-on-failure -j "$jobs") || failed+=("ctest")

if [ "${PMC_SKIP_VALGRIND:-0}" != 1 ]; then
  step "configure and build with PMC_VALGRIND=ON ($vbuild)"
  cmake -S "$here" -B "$vbuild" "${cmake_args[@]}" -DPMC_VALGRIND=ON
  cmake --build "$vbuild" -j "$jobs"

  step "ctest under valgrind"
  (cd "$vbuild" && ctest --output-on-failure -j "$jobs") || failed+=("ctest under valgrind")
fi

if [ ${#failed[@]} -gt 0 ]; then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "all passed"

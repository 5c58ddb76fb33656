#!/usr/bin/env bash
# The benchmarks, on a fresh Debian machine: installs what is missing
# (libmemcached-dev for the comparison, valgrind for --instructions), then
#  - examples-c/bench/run-bench.sh: this library's C ABI vs libmemcached vs
#    a raw-socket floor, W1-W7 (results.md + results.svg beside it);
#  - cargo bench --bench allocs: heap allocations per operation;
#  - cargo bench --bench clients: pooled vs per-thread clients, hash client
#    over 3 servers vs 1, with pymemcache itself beside it.
# Arguments go to run-bench.sh (--quick for a ~20 s run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if ! pkg-config --exists libmemcached 2>/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libmemcached-dev >/dev/null
fi
examples-c/bench/run-bench.sh "$@"
cargo bench --bench allocs
# Pinned to one CPU like run-bench.sh: on small VMs a wake-up on an idle CPU
# costs tens of microseconds and makes unpinned runs bimodal.
if [ "$(nproc)" -gt 1 ] && command -v taskset >/dev/null; then
  taskset -c 1 cargo bench --bench clients
else
  cargo bench --bench clients
fi

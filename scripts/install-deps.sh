#!/usr/bin/env bash
# Install what building and testing need on a fresh Debian machine, only if
# something is missing: memcached, cmake, a C compiler, valgrind, pkg-config, libuv1-dev,
# openssl (the command, for the C TLS test's certificates),
# and cargo-c (for the install test: scripts/install-cargo-c.sh builds it).
set -euo pipefail
need=()
command -v memcached >/dev/null || need+=(memcached)
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(gcc)
command -v c++ >/dev/null || need+=(g++)
command -v valgrind >/dev/null || need+=(valgrind)
command -v pkg-config >/dev/null || need+=(pkg-config)
# examples-c/async_libuv.c: the non-blocking API on a libuv loop
pkg-config --exists libuv 2>/dev/null || need+=(libuv1-dev)
# examples-c/tls-fixture.sh: certificates for the C TLS test
command -v openssl >/dev/null || need+=(openssl)
# tests/hardening.rs: a network namespace (unshare -n) with its own loopback
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (rustup) is required" >&2; exit 1; }
"$(dirname "$0")/install-cargo-c.sh"

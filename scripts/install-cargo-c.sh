#!/usr/bin/env bash
# install-cargo-c.sh: make sure `cargo cinstall` (cargo-c 0.10 or newer) is
# there, building it from crates.io if not (into cargo's bin directory,
# ~/.cargo/bin). scripts/install.sh and scripts/install-deps.sh run it.
#
# Why not Debian's cargo-c package: bookworm's is 0.9.14, whose built-in
# cargo cannot read this Cargo.lock (version 4), fetches the crates.io index
# over git, and cannot parse the edition-2024 crates among the dependencies.
#
# Building cargo-c compiles cargo itself. Only cargo-cinstall is built, and
# unoptimized without debug info: measured on this project's 2-core machine,
# 4.5 minutes (5 CPU-minutes), where the default optimized build takes 17
# CPU-minutes (21 to 26 minutes on the machine shared with other builds),
# with or without the other three cargo-c commands. Unoptimized, cinstall
# spends 0.6 s instead of 0.3 s before handing over to rustc, which is where
# an install's time goes. It is done once per machine.
set -euo pipefail

version=0.10.24   # the newest cargo-c whose rust-version (1.95) the toolchain meets

have=$(cargo cinstall --version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
if [ -n "$have" ]; then
  IFS=. read -r major minor _ <<<"$have"
  if [ "$major" -gt 0 ] || [ "$minor" -ge 10 ]; then
    exit 0
  fi
  echo "cargo-c $have is too old (0.10 or newer is needed): installing $version" >&2
fi

# cargo-c links OpenSSL (through cargo's HTTP stack) and finds it with pkg-config.
need=()
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "building cargo-c $version (cargo cinstall only; a few minutes, once)"
CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --debug cargo-c --version "=$version" --bin cargo-cinstall

#!/usr/bin/env bash
# gen-header.sh [--check]
#
# The one step that writes the C header into the source tree. build.rs
# generates it (cbindgen, pinned in Cargo.toml) into cargo's OUT_DIR on every
# build; this script builds the library (`cargo build --release --lib`, a
# no-op when it is current) and copies that header to include/pymemcache.h.
#
#   scripts/gen-header.sh            write include/pymemcache.h
#   scripts/gen-header.sh --check    only compare; fail if the committed
#                                    header differs (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=write
case ${1:-} in
"") ;;
--check) mode=check ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# The build script's OUT_DIR, from cargo's own report of it.
messages=$(cargo build --release --lib --message-format=json-render-diagnostics)
out_dir=$(grep '"reason":"build-script-executed"' <<<"$messages" |
  grep -o '"out_dir":"[^"]*/build/pymemcache-[0-9a-f]*/out"' |
  sed 's/^"out_dir":"//; s/"$//' | tail -n 1 || true)
generated="$out_dir/pymemcache.h"
[ -n "$out_dir" ] && [ -f "$generated" ] ||
  { echo "gen-header.sh: cargo reported no OUT_DIR with pymemcache.h" >&2; exit 1; }

if [ "$mode" = check ]; then
  if ! diff -u include/pymemcache.h "$generated"; then
    echo "include/pymemcache.h is not what the sources generate:" \
      "run scripts/gen-header.sh and commit include/pymemcache.h" >&2
    exit 1
  fi
  echo "include/pymemcache.h is current"
elif cmp -s "$generated" include/pymemcache.h; then
  echo "include/pymemcache.h is already current"
else
  cp "$generated" include/pymemcache.h
  echo "wrote include/pymemcache.h"
fi

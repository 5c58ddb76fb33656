#!/usr/bin/env bash
# api-coverage.sh HEADER DIR
#
# Fails unless every function declared in HEADER (include/pymemcache.h) is
# called in at least one DIR/*.c program. Declarations are the lines outside
# comments and preprocessor directives that contain "pmc_name(".
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 HEADER DIR" >&2; exit 2; }
header=$1 dir=$2

# Drop /* ... */ comments (doc comments span lines), // comments and
# preprocessor lines, then collect the names followed by "(".
functions=$(sed -e ':a' -e '/\/\*/{' -e '/\*\//!{N;ba' -e '}' -e 's|/\*.*\*/||' -e '}' "$header" |
  sed -e 's|//.*||' -e '/^[[:space:]]*#/d' |
  grep -oE '\bpmc_[a-z0-9_]+\(' | tr -d '(' | sort -u)

count=$(wc -w <<<"$functions")
# A header with fewer functions than this means the extraction broke; a
# test that passes because it found nothing to check would prove nothing.
if [ "$count" -lt 40 ]; then
  echo "only $count functions found in $header: extraction is broken" >&2
  exit 1
fi

missing=0
for f in $functions; do
  # A call or a use as a value: the name followed by "(" in some program.
  if ! grep -lqE "\\b$f[[:space:]]*\\(" "$dir"/*.c; then
    echo "not called by any $dir/*.c program: $f" >&2
    missing=$((missing + 1))
  fi
done
if [ "$missing" -gt 0 ]; then
  echo "$missing of $count header functions are not covered" >&2
  exit 1
fi
echo "all $count functions of $(basename "$header") are called by the examples"

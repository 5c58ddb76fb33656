#!/usr/bin/env bash
# header-namespace.sh HEADER LIBRARY
#
# Everything the library puts into a C program's namespace carries the
# library's prefix (DESIGN.md: "Prefix pmc_ on every symbol, type and
# constant"): the header's macros (PMC_*, besides its include guard), its
# type and struct names and functions (pmc_*), and the dynamic symbols the
# shared library exports (pmc_*). An unprefixed name can collide with the
# program's own.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 HEADER LIBRARY" >&2; exit 2; }
header=$1 lib=$2
bad=0

# The header without comments.
code=$(sed -e ':a' -e '/\/\*/{' -e '/\*\//!{N;ba' -e '}' -e 's|/\*.*\*/||' -e '}' "$header" |
  sed -e 's|//.*||')

# Macros.
while read -r name; do
  case $name in
    PMC_* | PYMEMCACHE_H) ;;
    *) echo "header macro without the PMC_ prefix: $name" >&2; bad=$((bad + 1)) ;;
  esac
done < <(grep -oE '^[[:space:]]*#[[:space:]]*define[[:space:]]+[A-Za-z_][A-Za-z0-9_]*' <<<"$code" |
  awk '{print $NF}' | sed 's/^define//')

# Type names (typedef ... NAME;), struct tags, and declared functions.
while read -r name; do
  case $name in
    pmc_*) ;;
    *) echo "header type or function without the pmc_ prefix: $name" >&2; bad=$((bad + 1)) ;;
  esac
done < <(
  {
    grep -E '^typedef' <<<"$code" | sed -E 's/\{[^}]*\}//g' |
      grep -oE '^typedef[^;]*[[:space:]*]([A-Za-z_][A-Za-z0-9_]*);' |
      sed -E 's/.*[[:space:]*]([A-Za-z_][A-Za-z0-9_]*);$/\1/'
    grep -oE '^}[[:space:]]*[A-Za-z_][A-Za-z0-9_]*;' <<<"$code" | tr -d '};[:space:]'
    grep -oE '\bstruct[[:space:]]+[A-Za-z_][A-Za-z0-9_]*' <<<"$code" | awk '{print $2}'
    # A declaration line: a return type, then NAME( at the start of a line.
    grep -E '^[A-Za-z_].*[[:space:]*][A-Za-z_][A-Za-z0-9_]*\(' <<<"$code" | grep -v '^typedef' |
      sed -E 's/^[^(]*[[:space:]*]([A-Za-z_][A-Za-z0-9_]*)\(.*/\1/'
  } | sort -u
)

# Exported symbols of the shared library.
if command -v nm >/dev/null; then
  while read -r sym; do
    case $sym in
      pmc_*) ;;
      *) echo "exported symbol without the pmc_ prefix: $sym" >&2; bad=$((bad + 1)) ;;
    esac
  done < <(nm -D --defined-only "$lib" | awk 'NF == 3 {print $3}')
fi

if [ "$bad" -gt 0 ]; then
  echo "$bad name(s) outside the library's namespace" >&2
  exit 1
fi
echo "every name in $(basename "$header") and every symbol of $(basename "$lib") is prefixed"

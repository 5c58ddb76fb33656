#!/usr/bin/env bash
# api-coverage.sh HEADER DIR [PATTERN]
#
# Fails unless every function declared in HEADER (include/pymemcache.h) is
# called in at least one DIR/PATTERN file (default PATTERN: *.c, the C
# programs; the C++ ones do not count). With include/ and pymemcache.hpp it
# checks that the C++ wrapper uses every function. Declarations are the lines
# outside comments and preprocessor directives that contain "pmc_name(";
# uses are, outside comments, "pmc_name(" (a call) or "pmc_name," /
# "pmc_name)" (the function passed as a value, as the wrapper does).
# PMC_API_EXEMPT: names (space-separated) a caller is allowed not to use,
# e.g. pmc_last_error_message for the C++ wrapper, which reads each call's
# pmc_error instead.
set -euo pipefail
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: $0 HEADER DIR [PATTERN]" >&2; exit 2; }
header=$1 dir=$2 pattern=${3:-*.c}

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

# shellcheck disable=SC2206 # the pattern is meant to glob
files=("$dir"/$pattern)
[ -e "${files[0]}" ] || { echo "no $dir/$pattern files" >&2; exit 1; }
code=$(sed -e ':a' -e '/\/\*/{' -e '/\*\//!{N;ba' -e '}' -e 's|/\*.*\*/||' -e '}' "${files[@]}" |
  sed -e 's|//.*||')

missing=0
for f in $functions; do
  case " ${PMC_API_EXEMPT:-} " in *" $f "*) continue ;; esac
  # A call, or a use as a value, in some file.
  if ! grep -qE "\\b$f[[:space:]]*[(,)]" <<<"$code"; then
    echo "not called by any $dir/$pattern file: $f" >&2
    missing=$((missing + 1))
  fi
done
if [ "$missing" -gt 0 ]; then
  echo "$missing of $count header functions are not covered" >&2
  exit 1
fi
echo "all $count functions of $(basename "$header") are called by $dir/$pattern"

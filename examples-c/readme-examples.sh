#!/usr/bin/env bash
# readme-examples.sh README DIR
#
# The examples README.md shows under "## C" and "## C++" are the programs
# the suite compiles and runs: the first fenced block after each heading
# must equal DIR/readme_example.c and DIR/readme_example.cpp.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 README DIR" >&2; exit 2; }
readme=$1 dir=$2

# The first ``` block after the line "## HEADING", without the fences.
block() {
  awk -v heading="## $1" '
    $0 == heading { found = 1; next }
    found && !inside && /^```/ { inside = 1; next }
    inside && /^```/ { exit }
    inside { print }
  ' "$readme"
}

bad=0
for pair in "C:readme_example.c" "C++:readme_example.cpp"; do
  heading=${pair%%:*} file=$dir/${pair#*:}
  shown=$(block "$heading")
  if [ -z "$shown" ]; then
    echo "no code block under \"## $heading\" in $readme" >&2
    bad=1
  elif ! diff -u --label "README.md (## $heading)" --label "$file" <(printf '%s\n' "$shown") "$file"; then
    echo "the README's $heading example differs from $file" >&2
    bad=1
  fi
done
[ "$bad" -eq 0 ] && echo "the README's C and C++ examples are readme_example.c and readme_example.cpp"
exit "$bad"

#!/usr/bin/env bash
# readme-build-test.sh ROOT STATE_DIR WORK
#
# The readme_build_lines ctest case: runs, in ROOT and as written, the
# commands of the README.md block that follows the line
# `<!-- readme_build_lines ... -->` (build against target/release without
# installing), with app.c standing for examples-c/readme_example.c and the
# program written to WORK/app; then runs that program against the memcached
# fixture (STATE_DIR/server), which must print the README's greeting.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 ROOT STATE_DIR WORK" >&2; exit 2; }
root=$1 state=$2 work=$3
server=$(cat "$state/server")
rm -rf -- "$work"
mkdir -p "$work"
unset LD_LIBRARY_PATH LIBRARY_PATH CPATH C_INCLUDE_PATH

# The first fenced block after the marker line.
mapfile -t lines < <(awk '
  /^<!-- readme_build_lines/ { marked = 1; next }
  marked && /^```/ { if (inside) exit; inside = 1; next }
  inside { print }' "$root/README.md")
[ "${#lines[@]}" -gt 0 ] || { echo "README.md has no block after <!-- readme_build_lines -->" >&2; exit 1; }

compiled=
for line in "${lines[@]}"; do
  cmd=$(sed 's/[[:space:]]\{1,\}#.*$//' <<<"$line")   # the README's comments
  [ -n "$cmd" ] || continue
  case $cmd in
  cc\ *)
    [[ $cmd == *" app.c "* ]] || { echo "the cc line names no app.c: $cmd" >&2; exit 1; }
    cmd="${cmd/ app.c / \"\$root/examples-c/readme_example.c\" } -o \"\$work/app\""
    compiled=1
    ;;
  esac
  echo "+ $cmd"
  (cd "$root" && eval "$cmd")
done
[ -n "$compiled" ] || { echo "the README block has no cc line" >&2; exit 1; }

echo "+ app $server"
out=$("$work/app" "$server")
echo "$out"
grep -q '^greeting = hello from C' <<<"$out" || { echo "unexpected output" >&2; exit 1; }
echo "readme_build_lines: ok"

#!/usr/bin/env bash
# The demo: builds the library and the C examples, starts a local memcached
# from the system package (unless you name a server), and runs the examples
# against it.
#
#   scripts/demo.sh                 # local memcached on a free port
#   scripts/demo.sh HOST:PORT|PATH  # your server: only the README example and
#                                   # the pmc tool run (under demo: keys); the
#                                   # example programs, which flush, do not
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== building the library (cargo build --release)"
cargo build --release --quiet
ln -sf libpymemcache.so target/release/libpymemcache.so.0
echo "== building the C examples (examples-c/build)"
cmake -S examples-c -B examples-c/build -DPMC_VALGRIND=OFF >/dev/null
cmake --build examples-c/build -j 2 >/dev/null
bin=examples-c/build

server=${1:-}
own=""
if [ -z "$server" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  user=()
  [ "$(id -u)" -eq 0 ] && user=(-u root)
  memcached "${user[@]}" -l 127.0.0.1 -p "$port" -U 0 &
  own=$!
  trap 'kill $own 2>/dev/null || true' EXIT
  server="127.0.0.1:$port"
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  echo "== started memcached $(memcached -V | cut -d' ' -f2) on $server (pid $own)"
fi

echo
echo "== examples-c/readme_example.c"
"$bin/readme_example" "$server"

echo
echo "== the pmc command-line tool"
pmc() { echo "\$ pmc --servers $server $*"; "$bin/pmc" --servers "$server" "$@"; }
pmc set demo:greeting "hello from pmc" --flags 16
pmc get demo:greeting
pmc set demo:counter 41
pmc incr demo:counter 1
pmc version
pmc stats | grep -E '^(pid|version|curr_connections|cmd_get|cmd_set) ' || true
pmc get demo:missing || echo "(exit $? = miss)"
pmc delete demo:greeting

if [ -n "$own" ]; then
  for prog in basic multi_get cas_retry counters binary_values threads pooled hash_client fallback_retry serde; do
    [ -x "$bin/$prog" ] || continue
    echo
    echo "== examples-c/$prog.c"
    PMC_TEST_SERVER="$server" "$bin/$prog"
  done
fi
echo
echo "demo finished"

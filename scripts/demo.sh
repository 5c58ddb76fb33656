#!/usr/bin/env bash
# The demo: builds the library and the C examples, starts a local memcached
# from the system package (unless you name a server), and runs the examples
# against it.
#
#   scripts/demo.sh                 # local memcached on a free port
#   scripts/demo.sh HOST:PORT|PATH  # your server: only the README example and
#                                   # the pmc tool (target/release/pmc) run
#                                   # (under demo: keys); the example
#                                   # programs, which flush, do not
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
state=""
if [ -z "$server" ]; then
  # The same fixture the C suite uses: memcached on a free 127.0.0.1 port
  # and on a UNIX socket, addresses written to files in a state directory.
  state=$(mktemp -d)
  trap 'examples-c/memcached-fixture.sh stop "$state" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT
  examples-c/memcached-fixture.sh start "$state" "$bin/fixture_probe" >/dev/null
  server=$(cat "$state/server")
  echo "== started memcached $(memcached -V | cut -d' ' -f2) on $server and on $(cat "$state/socket")"
fi

echo
echo "== examples-c/readme_example.c"
"$bin/readme_example" "$server"
echo
echo "== examples-c/readme_example.cpp"
"$bin/readme_example_cxx" "$server"

echo
echo "== the pmc command-line tool (target/release/pmc, built by cargo build --release)"
pmc() { echo "\$ pmc --servers $server $*"; target/release/pmc --servers "$server" "$@"; }
pmc set demo:greeting "hello from pmc" --flags 16
pmc get demo:greeting
pmc set demo:counter 41
pmc incr demo:counter 1
echo "binary-safe" | pmc set demo:stdin -
pmc get demo:greeting demo:counter demo:stdin
pmc version
pmc stats | grep -E '^(\$ pmc|Server|.(pid|version|curr_connections|cmd_get|cmd_set):)' || true
pmc get demo:missing || echo "(exit $? = miss)"
pmc delete demo:greeting demo:counter demo:stdin

if [ -n "$state" ]; then
  for prog in basic multi_get cas_retry counters binary_values unix_socket pooled hash_client fallback_retry serde; do
    echo
    echo "== examples-c/$prog.c"
    MEMCACHED=memcached "$bin/$prog" "$state"
  done
  echo
  echo "== examples-c/cxx_client.cpp (include/pymemcache.hpp)"
  MEMCACHED=memcached "$bin/cxx_client" "$state"
fi
echo
echo "demo finished"

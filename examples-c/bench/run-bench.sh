#!/usr/bin/env bash
# run-bench.sh: libpymemcache's C ABI vs libmemcached vs a raw-socket floor.
#
#   examples-c/bench/run-bench.sh            # full run, about 2 minutes
#   examples-c/bench/run-bench.sh --quick    # about 20 seconds
#   examples-c/bench/run-bench.sh --tls [--quick]
#       W1 and W3 through pymemcache-rs over TLS vs plaintext (pmc_tls_bench,
#       tls_bench.c) against two memcached started alike, one with -Z and
#       certificates made by tls-fixture.sh; and the cost of a handshake per
#       new connection. Prints a table, writes tls-results.md beside it.
#   examples-c/bench/run-bench.sh --tls --instructions
#       instead of timing W1 and W3 over TLS: the client's user-space
#       instructions per op over plaintext and over TLS (callgrind,
#       counting only inside the workload's function); prints a table,
#       writes no file
#   examples-c/bench/run-bench.sh --instructions [W3,W7]
#       instead of timing: user-space instructions per op of each contender
#       (valgrind --tool=callgrind, counting only inside the workload's
#       function; default all workloads); prints a table, writes no file
#
# Builds the library (cargo build --release) and pmc_bench (bench.c), starts
# four memcached servers of its own on free 127.0.0.1 ports (`-t 2 -m 256`;
# one for W1-W6, three for W7), runs the benchmark, prints the Markdown
# table and keeps it in examples-c/bench/results.md, with the bar chart in
# examples-c/bench/results.svg. Other arguments go to pmc_bench (see the
# top of bench.c). The servers are stopped on exit, however it ends.
#
# Pinning: the bench and its servers all run on ONE CPU (taskset), by
# default the last one. On this kind of VM (haltpoll idle, Firecracker) a
# wakeup on the other, idle CPU costs 30-90 us and happens or not at the
# scheduler's whim, so unpinned round trips take either ~8 us or ~50 us
# for whole measurements at a time and the ratios are noise. On one CPU a
# round trip never waits for an idle CPU to wake: the time per op is the
# CPU work of client + kernel + server, which is what a client can change.
#
# Environment:
#   PMC_BENCH_CPU            CPU to pin to (default: the last online one);
#                            "none" = no pinning
#   PMC_SKIP_CARGO_BUILD=1   do not run `cargo build --release` first
#   PMC_BENCH_METRICS=off    pymemcache-rs clients (W9's non-blocking one too)
#                            with per-server metrics off
#                            (pmc_options_set_metrics), to measure their cost
#   PMC_BENCH_BUILD_DIR      build tree (default examples-c/bench/build)
#   PMC_BENCH_KEEP_PROFILES  a directory: --tls --instructions copies its
#                            callgrind profiles (cg.W3.tls ...) there
#   MEMCACHED                the memcached binary (default: from PATH)
#
# Needs cargo, cmake >= 3.16, a C99 compiler, pkg-config, memcached and
# libmemcached-dev (pkg-config module libmemcached).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
examples=$(cd "$here/.." && pwd)
root=$(cd "$examples/.." && pwd)
build=${PMC_BENCH_BUILD_DIR:-$here/build}
memcached=${MEMCACHED:-memcached}

step() { printf '==== %s\n' "$*" >&2; }

mode=bench
if [ "${1:-}" = --instructions ]; then
  mode=instructions
  shift
  workloads=${1:-W1,W2,W3,W4,W5,W6,W7}
  [ $# -gt 0 ] && shift
  command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }
fi

tls_instructions=0
if [ "${1:-}" = --tls ]; then
  mode=tls
  shift
  if [ "${1:-}" = --instructions ]; then
    tls_instructions=1
    shift
    command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }
  fi
fi

command -v "$memcached" >/dev/null || { echo "memcached not found" >&2; exit 1; }
if [ "$mode" != tls ] && ! pkg-config --exists libmemcached 2>/dev/null; then
  echo "libmemcached not found by pkg-config: apt-get install -y libmemcached-dev" >&2
  exit 1
fi

if [ "${PMC_SKIP_CARGO_BUILD:-0}" != 1 ]; then
  step "cargo build --release"
  (cd "$root" && cargo build --release) >&2
fi

step "configure and build pmc_bench ($build)"
cmake_args=(-DPMC_ROOT="$root" -DCMAKE_BUILD_TYPE=Release)
if [ -n "${MEMCACHED:-}" ]; then cmake_args+=(-DMEMCACHED_EXECUTABLE="$MEMCACHED"); fi
cmake -S "$examples" -B "$build" "${cmake_args[@]}" >&2
if [ "$mode" = tls ]; then
  cmake --build "$build" --target pmc_tls_bench fixture_probe -j 2 >&2
else
  cmake --build "$build" --target pmc_bench fixture_probe -j 2 >&2
fi
bench=$build/pmc_bench
probe=$build/fixture_probe

state=$(mktemp -d "${TMPDIR:-/tmp}/pmc-bench.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf -- "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

user=()
if [ "$(id -u)" = 0 ]; then user=(-u root); fi # memcached refuses root otherwise

cpu=${PMC_BENCH_CPU:-$(($(getconf _NPROCESSORS_ONLN) - 1))}
pin=()
note="bench and servers unpinned (PMC_BENCH_CPU=none): expect noisy round trips"
if [ "$cpu" != none ]; then
  command -v taskset >/dev/null || { echo "taskset not found (util-linux); or PMC_BENCH_CPU=none" >&2; exit 1; }
  pin=(taskset -c "$cpu")
  note="bench and all four memcached servers pinned to CPU $cpu (taskset): times are CPU work per op of client + kernel + server, no cross-CPU wakeups"
fi

# start_server NAME: a memcached on a port free right now; its address goes
# to $addr. If another process takes the port first, memcached exits and we
# try another one.
start_server() {
  local name=$1 port pid
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$("$probe" free-port)
    "${pin[@]}" "$memcached" "${user[@]}" -l 127.0.0.1 -p "$port" -U 0 -t 2 -m 256 \
      </dev/null >>"$state/$name.log" 2>&1 &
    pid=$!
    if "$probe" wait "127.0.0.1:$port" "$pid" 10000; then
      pids+=("$pid")
      addr=127.0.0.1:$port
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "could not start memcached ($name):" >&2
  cat "$state/$name.log" >&2
  exit 1
}

if [ "$mode" = tls ]; then
  step "certificates (tls-fixture.sh certs) and two memcached servers"
  "$examples/tls-fixture.sh" certs "$state/certs" >&2
  start_server plain
  plain=$addr
  plain_pid=${pids[-1]}
  # The TLS server, started as the others plus -Z, answers the readiness
  # probe on a second, plaintext listener (memcached's "notls:").
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$("$probe" free-port)
    pport=$("$probe" free-port)
    [ "$port" != "$pport" ] || continue
    "${pin[@]}" "$memcached" "${user[@]}" -U 0 -t 2 -m 256 -Z \
      -o "ssl_chain_cert=$state/certs/server.pem,ssl_key=$state/certs/server.key" \
      -l "127.0.0.1:$port" -l "notls:127.0.0.1:$pport" </dev/null >>"$state/tls.log" 2>&1 &
    pid=$!
    if "$probe" wait "127.0.0.1:$pport" "$pid" 10000; then
      pids+=("$pid")
      tls=127.0.0.1:$port
      tls_pid=$pid
      break
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "${tls:-}" ] || { echo "could not start the TLS memcached:" >&2; cat "$state/tls.log" >&2; exit 1; }
  echo "plaintext $plain, TLS $tls" >&2
  if [ "$tls_instructions" = 1 ]; then
    step "client instructions per op (callgrind), plaintext and TLS"
    echo "| Workload | plaintext | TLS | TLS / plaintext |"
    echo "|---|--:|--:|--:|"
    for w in W1 W3; do
      fn=$(tr 'A-Z' 'a-z' <<<"$w")
      declare -A ir=()
      for side in plain tls; do
        out=$("${pin[@]}" valgrind --tool=callgrind --callgrind-out-file="$state/cg.$w.$side" \
          --toggle-collect="$fn" "$build/pmc_tls_bench" --instructions "$w" "$side" 500 \
          "$plain" "$tls" "$state/certs/ca.pem" 2>&1) || { echo "$out" >&2; exit 1; }
        ops=$(sed -nE 's/.*: ([0-9]+) ops run.*/\1/p' <<<"$out")
        n=$(sed -nE 's/.*Collected : ([0-9]+).*/\1/p' <<<"$out")
        ir[$side]=$(awk -v ir="$n" -v ops="$ops" 'BEGIN { printf "%.0f", ir / ops }')
        if [ -n "${PMC_BENCH_KEEP_PROFILES:-}" ]; then cp "$state/cg.$w.$side" "$PMC_BENCH_KEEP_PROFILES/"; fi
      done
      echo "| $w | ${ir[plain]} | ${ir[tls]} | $(awk -v a="${ir[tls]}" -v b="${ir[plain]}" 'BEGIN { printf "%.2fx", a / b }') |"
      unset ir
    done
    exit 0
  fi
  {
    echo "# pymemcache-rs over TLS vs plaintext"
    echo
    echo "${note/all four memcached servers/both memcached servers}. memcached $("$memcached" --version | awk '{print $2}'), -t 2 -m 256; TLS: rustls (ring), TLS 1.3 (AES-128-GCM offered first), ECDSA P-256 certificates. Commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown); load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs."
    echo
    PMC_TLS_BENCH_PIDS="$plain_pid $tls_pid" \
      "${pin[@]}" "$build/pmc_tls_bench" "$@" "$plain" "$tls" "$state/certs/ca.pem"
  } >"$state/tls-results.md"
  cp "$state/tls-results.md" "$here/tls-results.md"
  cat "$here/tls-results.md"
  echo "==== wrote $here/tls-results.md" >&2
  exit 0
fi

step "start memcached servers"
start_server main
main=$addr
hash=()
for i in 1 2 3; do
  start_server "hash$i"
  hash+=("$addr")
done
echo "W1-W6 on $main, W7 on ${hash[*]}" >&2

if [ "$mode" = instructions ]; then
  step "instructions per op (callgrind) for $workloads"
  echo "| Workload | floor (raw socket) | libmemcached | pymemcache-rs |"
  echo "|---|--:|--:|--:|"
  for w in ${workloads//,/ }; do
    case $w in W4) row="| W4 (per key) |" ;; W6) row="| W6 (per op, 4 threads) |" ;; *) row="| $w |" ;; esac
    for c in floor libmemcached pymemcache-rs; do
      case $c in floor) short=floor ;; libmemcached) short=lmc ;; *) short=pmc ;; esac
      fn=$(tr 'A-Z' 'a-z' <<<"$w")_$short
      [ "$w" = W6 ] && fn=w6_thread # one function for every contender
      out=$("${pin[@]}" valgrind --tool=callgrind --callgrind-out-file="$state/cg.$w.$short" \
        --toggle-collect="$fn" "$bench" --only "$w" --contender "$c" --rounds 1 --ops 200 \
        "$@" "$main" "${hash[@]}" 2>&1 >/dev/null) || { echo "$out" >&2; exit 1; }
      # "W4 libmemcached: 302 units run (x100 keys)": ops = 302 * 100
      ops=$(sed -nE 's/.*: ([0-9]+) units run \(x([0-9]+) .*/\1 \2/p' <<<"$out" | awk '{print $1 * $2}')
      ir=$(sed -nE 's/.*Collected : ([0-9]+).*/\1/p' <<<"$out")
      row+=" $(awk -v ir="$ir" -v ops="$ops" 'BEGIN { printf "%.0f", ir / ops }') |"
    done
    echo "$row"
  done
  exit 0
fi

# Large replies (W5) are paced by the server's TCP congestion control;
# with bbr a connection can settle into a slow mode for a whole run (seen
# here: 60 vs 200 us per 512 KiB get, for any contender), so it is named.
cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)
cc_note="TCP congestion control: $cc (large replies are paced by it; with bbr a connection may stay in a slow mode for a whole run)"

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  commit="$commit + uncommitted changes in src/"
fi

step "run pmc_bench $*"
"${pin[@]}" "$bench" --note "$note" --note "$cc_note" --commit "commit $commit" "$@" --svg "$state/results.svg" "$main" "${hash[@]}" >"$state/results.md"

cp "$state/results.md" "$here/results.md"
cp "$state/results.svg" "$here/results.svg"
cat "$here/results.md"
echo "==== wrote $here/results.md and $here/results.svg" >&2

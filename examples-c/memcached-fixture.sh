#!/usr/bin/env bash
# memcached-fixture.sh start STATE_DIR PROBE
# memcached-fixture.sh stop STATE_DIR
#
# The ctest fixture (FIXTURES_SETUP / FIXTURES_CLEANUP) behind the C tests.
# `start` launches two memcached processes and waits until each answers:
#   - one on a free TCP port on 127.0.0.1   -> address in STATE_DIR/server
#   - one on a UNIX socket                   -> path in STATE_DIR/socket
# and writes memcached's version to STATE_DIR/version. The test programs
# read those files (their argv[1] is STATE_DIR). `stop` kills both and
# removes what `start` made. PROBE is the fixture_probe helper (it finds a
# free port and checks that the server answering is the one started here).
# $MEMCACHED names the memcached binary (default: memcached from PATH).
set -euo pipefail

usage() { echo "usage: $0 start STATE_DIR PROBE | stop STATE_DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1
state=$2
memcached=${MEMCACHED:-memcached}

stop_all() {
  local pidfile pid pids=()
  for pidfile in "$state"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$pidfile"
  done
  # Wait (up to 5 s) for them to go, then insist.
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ -f "$state/sockdir" ]; then
    rm -rf -- "$(cat "$state/sockdir")"
    rm -f "$state/sockdir"
  fi
  rm -f "$state/server" "$state/socket" "$state/version"
}

# start_one NAME ADDRESS ARGS... : run memcached in the background and wait
# until ADDRESS answers with this process's pid. Returns 1 if it exited
# (for example because the port was taken meanwhile).
start_one() {
  local name=$1 addr=$2 pid
  shift 2
  local user=()
  if [ "$(id -u)" = 0 ]; then user=(-u root); fi  # memcached refuses root otherwise
  "$memcached" "${user[@]}" "$@" </dev/null >>"$state/$name.log" 2>&1 &
  pid=$!
  echo "$pid" >"$state/$name.pid"
  if "$probe" wait "$addr" "$pid" 10000; then
    return 0
  fi
  if kill -0 "$pid" 2>/dev/null; then
    echo "memcached ($name) is running but does not answer on $addr" >&2
    kill "$pid" 2>/dev/null || true
  fi
  rm -f "$state/$name.pid"
  return 1
}

case $action in
start)
  [ $# -eq 3 ] || usage
  probe=$3
  mkdir -p "$state"
  stop_all  # leftovers of an interrupted run
  common=(-m 64 -I 1m -c 256 -t 2)

  # TCP: a port that is free now; if another process takes it before
  # memcached binds it, memcached exits and we try another one.
  ok=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$("$probe" free-port)
    if start_one tcp "127.0.0.1:$port" -l 127.0.0.1 -p "$port" -U 0 "${common[@]}"; then
      ok=1
      break
    fi
  done
  [ -n "$ok" ] || { echo "could not start memcached on TCP; see $state/tcp.log" >&2; exit 1; }

  # UNIX socket: in a short private directory (socket paths are limited to
  # 108 bytes, build trees can be deep).
  sockdir=$(mktemp -d "${TMPDIR:-/tmp}/pmc-fixture.XXXXXX")
  echo "$sockdir" >"$state/sockdir"
  sock="$sockdir/memcached.sock"
  start_one unix "$sock" -s "$sock" -a 0700 "${common[@]}" ||
    { echo "could not start memcached on $sock; see $state/unix.log" >&2; stop_all; exit 1; }

  echo "127.0.0.1:$port" >"$state/server"
  echo "$sock" >"$state/socket"
  # "memcached 1.6.18" -> "1.6.18"
  "$memcached" --version | awk '{print $2}' >"$state/version"
  echo "memcached on 127.0.0.1:$port (pid $(cat "$state/tcp.pid")) and $sock (pid $(cat "$state/unix.pid")), version $(cat "$state/version")"
  ;;
stop)
  stop_all
  ;;
*)
  usage
  ;;
esac

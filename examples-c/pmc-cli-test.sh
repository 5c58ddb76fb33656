#!/usr/bin/env bash
# pmc-cli-test.sh CASE PMC PROBE STATE_DIR [WRAPPER...]
#
# One ctest case for the pmc command-line tool. PMC is the tool, PROBE the
# fixture_probe helper, STATE_DIR the memcached fixture's directory, and
# WRAPPER (optional) a command every pmc invocation runs under, e.g.
# valgrind with --error-exitcode=99 (so a memory error can never pass for
# an expected exit status).
set -uo pipefail

[ $# -ge 4 ] || { echo "usage: $0 CASE PMC PROBE STATE_DIR [WRAPPER...]" >&2; exit 2; }
case_name=$1 pmc_bin=$2 probe=$3 state=$4
shift 4
wrapper=("$@")

server=$(cat "$state/server")
socket=$(cat "$state/socket")
version=$(cat "$state/version")
ns="cli.$$.$case_name"   # keys of this run only
work=$(mktemp -d "${TMPDIR:-/tmp}/pmc-cli.XXXXXX")
private_pid=
cleanup() {
  if [ -n "$private_pid" ]; then kill "$private_pid" 2>/dev/null; wait "$private_pid" 2>/dev/null; fi
  rm -rf -- "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# run ARGS...: run pmc; sets $status, $out, $err.
run() {
  "${wrapper[@]}" "$pmc_bin" "$@" >"$work/out" 2>"$work/err"
  status=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
}

# expect STATUS STDOUT ARGS...: exact exit status and stdout.
expect() {
  local want_status=$1 want_out=$2
  shift 2
  run "$@"
  if [ "$status" != "$want_status" ] || [ "$out" != "$want_out" ]; then
    fail "pmc $* -> status $status, stdout '$out' (expected $want_status, '$want_out'); stderr: $err"
  fi
}

# expect_err STATUS REGEX ARGS...: exit status, empty stdout, stderr matching.
expect_err() {
  local want_status=$1 want_err=$2
  shift 2
  run "$@"
  if [ "$status" != "$want_status" ] || [ -n "$out" ] || ! grep -Eq -- "$want_err" <<<"$err"; then
    fail "pmc $* -> status $status, stdout '$out', stderr '$err' (expected $want_status and stderr matching /$want_err/)"
  fi
}

S=(--servers "$server")

case $case_name in
usage)
  run --help
  [ "$status" = 0 ] && grep -q '^usage: pmc --servers' <<<"$out" || fail "--help: status $status, '$out'"
  expect_err 1 'usage: pmc'                       # nothing at all
  expect_err 1 '--servers is required' get k
  expect_err 1 'no command given' "${S[@]}"
  expect_err 1 'unknown command' "${S[@]}" frobnicate
  expect_err 1 'unknown option: --bogus' --bogus "${S[@]}" version
  ;;
set_get)
  expect 0 '' "${S[@]}" set "$ns.k" "hello world"
  expect 0 'hello world' "${S[@]}" get "$ns.k"
  expect 0 '' "${S[@]}" --timeout-ms 2000 set "$ns.k" "v2" --flags 42 --expire 3600
  expect 0 'v2' "${S[@]}" --timeout-ms 2000 get "$ns.k"
  expect 0 '' "${S[@]}" set "$ns.empty" ""
  expect 0 '' "${S[@]}" get "$ns.empty"
  # The flags really reached the server.
  exec 3<>"/dev/tcp/${server%:*}/${server##*:}" &&
    printf 'get %s\r\n' "$ns.k" >&3 && IFS= read -r line <&3 && exec 3>&-
  [ "${line%$'\r'}" = "VALUE $ns.k 42 2" ] || fail "stored item header is '$line'"
  ;;
get_miss)
  expect_err 2 '^pmc: PMC_MISS: ' "${S[@]}" get "$ns.never-set"
  ;;
incr_decr)
  expect 0 '' "${S[@]}" set "$ns.n" 41
  expect 0 42 "${S[@]}" incr "$ns.n" 1
  expect 0 40 "${S[@]}" decr "$ns.n" 2
  expect 0 0 "${S[@]}" decr "$ns.n" 1000
  expect 0 18446744073709551615 "${S[@]}" incr "$ns.n" 18446744073709551615
  expect_err 2 '^pmc: PMC_NOT_FOUND: ' "${S[@]}" incr "$ns.missing" 1
  expect 0 '' "${S[@]}" set "$ns.word" abc
  expect_err 1 '^pmc: PMC_CLIENT_ERROR: .*non-numeric' "${S[@]}" incr "$ns.word" 1
  expect_err 1 'bad number: -1' "${S[@]}" incr "$ns.n" -1
  expect_err 1 'bad number: 1x' "${S[@]}" decr "$ns.n" 1x
  ;;
delete_touch)
  expect 0 '' "${S[@]}" set "$ns.d" v
  expect 0 '' "${S[@]}" touch "$ns.d" 3600
  expect 0 '' "${S[@]}" delete "$ns.d"
  expect_err 2 '^pmc: PMC_NOT_FOUND: ' "${S[@]}" delete "$ns.d"
  expect_err 2 '^pmc: PMC_NOT_FOUND: ' "${S[@]}" touch "$ns.d" 10
  expect_err 2 '^pmc: PMC_MISS: ' "${S[@]}" get "$ns.d"
  expect_err 1 '^pmc: PMC_ILLEGAL_INPUT: ' "${S[@]}" delete "bad key"
  ;;
stats)
  run "${S[@]}" stats
  [ "$status" = 0 ] || fail "stats: status $status: $err"
  grep -Eq '^pid [0-9]+$' <<<"$out" || fail "stats: no pid line in '$out'"
  grep -qx "version $version" <<<"$out" || fail "stats: no 'version $version' line"
  run "${S[@]}" stats settings
  [ "$status" = 0 ] || fail "stats settings: status $status: $err"
  grep -qx 'item_size_max 1048576' <<<"$out" || fail "stats settings: no item_size_max line"
  grep -qx "tcpport ${server##*:}" <<<"$out" || fail "stats settings: wrong tcpport"
  expect_err 1 'unknown command or wrong number' "${S[@]}" stats a b
  ;;
version)
  expect 0 "$version" "${S[@]}" version
  ;;
unix_socket)
  expect 0 '' --servers "$socket" set "$ns.u" "via socket"
  expect 0 'via socket' --servers "$socket" get "$ns.u"
  expect 0 "$version" --servers "$socket" version
  ;;
bad_server)
  port=$("$probe" free-port)   # nothing listens there
  expect_err 1 "^pmc: PMC_IO_ERROR: .*127\\.0\\.0\\.1:$port" --servers "127.0.0.1:$port" get k
  expect_err 1 '^pmc: PMC_CONFIG_ERROR: .*not-an-address' --servers not-an-address get k
  expect_err 1 '^pmc: PMC_IO_ERROR: .*/nonexistent/pmc.sock' --servers /nonexistent/pmc.sock version
  ;;
bad_args)
  expect_err 1 'set needs KEY and VALUE' "${S[@]}" set onlykey
  expect_err 1 'bad --flags value: 4294967296' "${S[@]}" set k v --flags 4294967296
  expect_err 1 'bad --expire value: soon' "${S[@]}" set k v --expire soon
  expect_err 1 'unexpected argument to set: extra' "${S[@]}" set k v extra
  expect_err 1 'bad --timeout-ms value: x' "${S[@]}" --timeout-ms x version
  expect_err 1 'bad expiry: later' "${S[@]}" touch k later
  expect_err 1 '^pmc: PMC_ILLEGAL_INPUT: ' "${S[@]}" get "has space"
  ;;
flush)
  # flush_all empties a whole server: use one of our own.
  memcached=${MEMCACHED:-memcached}
  sock="$work/flush.sock"
  user=(); [ "$(id -u)" = 0 ] && user=(-u root)
  "$memcached" "${user[@]}" -s "$sock" -a 0700 -m 16 </dev/null >/dev/null 2>&1 &
  private_pid=$!
  "$probe" wait "$sock" "$private_pid" 10000 || { fail "private memcached did not start"; exit 1; }
  expect 0 '' --servers "$sock" set a 1
  expect 0 '' --servers "$sock" set b 2
  expect 0 '' --servers "$sock" flush
  expect_err 2 'PMC_MISS' --servers "$sock" get a
  expect_err 2 'PMC_MISS' --servers "$sock" get b
  expect 0 '' --servers "$sock" set c 3
  expect 0 '' --servers "$sock" flush 3600
  expect 0 3 --servers "$sock" get c      # a delayed flush leaves it for now
  expect_err 1 'bad delay: soon' --servers "$sock" flush soon
  ;;
*)
  echo "unknown case $case_name" >&2
  exit 2
  ;;
esac

if [ "$failures" -gt 0 ]; then
  echo "cli $case_name: $failures failure(s)" >&2
  exit 1
fi
echo "cli $case_name: ok"

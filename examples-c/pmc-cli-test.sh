#!/usr/bin/env bash
# pmc-cli-test.sh CASE PMC PROBE STATE_DIR [WRAPPER...]
#
# One ctest case for the pmc command-line tool (target/release/pmc, the Rust
# binary of the root package). PMC is the tool, PROBE the fixture_probe
# helper, STATE_DIR the memcached fixture's directory, and WRAPPER
# (optional) a command every pmc invocation runs under (e.g. valgrind with
# --error-exitcode=99, so a memory error never passes for an expected
# exit status).
#
# Cases that need servers of their own (several servers, flush, keys, a
# server that stops answering) start private memcached processes the way the
# fixture does, and stop them on exit.
#
# pmc's exit statuses: 0 ok, 1 miss/not stored/not found/exists, 2 usage,
# 3 network, 4 server error, 5 local I/O.
set -uo pipefail

[ $# -ge 4 ] || { echo "usage: $0 CASE PMC PROBE STATE_DIR [WRAPPER...]" >&2; exit 2; }
case_name=$1 pmc_bin=$2 probe=$3 state=$4
shift 4
wrapper=("$@")

server=$(cat "$state/server")
socket=$(cat "$state/socket")
version=$(cat "$state/version")
memcached=${MEMCACHED:-memcached}
ns="cli.$$.$case_name"   # keys of this run only
work=$(mktemp -d "${TMPDIR:-/tmp}/pmc-cli.XXXXXX")
private_pids=()
cleanup() {
  local pid
  for pid in "${private_pids[@]}"; do
    kill -CONT "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf -- "$work"
}
trap cleanup EXIT
# The fixture's servers only, whatever the caller's environment says.
unset MEMCACHED_SERVERS

failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# run ARGS...: run pmc; sets $status, $out, $err (stdout also in $work/out).
run() {
  "${wrapper[@]}" "$pmc_bin" "$@" >"$work/out" 2>"$work/err"
  status=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
  checks=$((checks + 1))
}

# expect STATUS STDOUT ARGS...: exact exit status and stdout (as $(...)
# reads it, so without trailing newlines; see expect_bytes for bytes).
expect() {
  local want_status=$1 want_out=$2
  shift 2
  run "$@"
  if [ "$status" != "$want_status" ] || [ "$out" != "$want_out" ]; then
    fail "pmc $* -> status $status, stdout '$out' (expected $want_status, '$want_out'); stderr: $err"
  fi
}

# expect_bytes STATUS FILE ARGS...: exit status, and stdout byte for byte
# equal to FILE.
expect_bytes() {
  local want_status=$1 want_file=$2
  shift 2
  run "$@"
  if [ "$status" != "$want_status" ] || ! cmp -s "$work/out" "$want_file"; then
    fail "pmc $* -> status $status (expected $want_status), stdout $(wc -c <"$work/out") bytes, $(cmp "$work/out" "$want_file" 2>&1); stderr: $err"
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

# contains TEXT REGEX WHAT: fail unless a line of TEXT matches REGEX.
contains() {
  grep -Eq -- "$2" <<<"$1" || fail "$3: no line matching /$2/ in: $1"
}

# start_private NAME: a memcached of this case's own on a free 127.0.0.1
# port (NAME=tcp*) or on a socket in $work (otherwise); its address in
# $private_addr. Extra memcached arguments may follow NAME.
start_private() {
  local name=$1 addr pid try
  shift
  local user=()
  [ "$(id -u)" = 0 ] && user=(-u root)   # memcached refuses root otherwise
  for try in 1 2 3 4 5; do
    if [[ $name == tcp* ]]; then
      local port
      port=$("$probe" free-port)
      addr="127.0.0.1:$port"
      "$memcached" "${user[@]}" -l 127.0.0.1 -p "$port" -U 0 -m 16 "$@" </dev/null >/dev/null 2>&1 &
    else
      addr="$work/$name.sock"
      "$memcached" "${user[@]}" -s "$addr" -a 0700 -m 16 "$@" </dev/null >/dev/null 2>&1 &
    fi
    pid=$!
    private_pids+=("$pid")
    if "$probe" wait "$addr" "$pid" 10000; then
      private_addr=$addr
      private_pid=$pid
      return 0
    fi
    kill "$pid" 2>/dev/null
  done
  echo "could not start a private memcached ($name)" >&2
  exit 1
}

# curr_items ADDRESS: the item count one server reports.
curr_items() {
  "$pmc_bin" -s "$1" stats --flat | awk '$2 == "curr_items" { print $3 }'
}

S=(--servers "$server")

case $case_name in
usage)
  run
  [ "$status" = 2 ] && grep -q '^Usage: pmc' <<<"$err" || fail "no arguments: status $status, stderr '$err'"
  run --help
  [ "$status" = 0 ] || fail "--help: status $status"
  for section in 'EXIT STATUS' SERVERS OUTPUT ENVIRONMENT EXAMPLES MEMCACHED_SERVERS; do
    contains "$out" "^ *$section" "--help"
  done
  contains "$out" '^ *3  network' "--help exit statuses"
  run -h
  [ "$status" = 0 ] && grep -q 'Commands:' <<<"$out" || fail "-h: status $status"
  for cmd in get gets gat gats set add replace append prepend cas delete incr decr touch \
             exist locate stats version flush-all ping keys man; do
    run "$cmd" --help
    [ "$status" = 0 ] && grep -q "^Usage: pmc" <<<"$out" || fail "$cmd --help: status $status, '$out'"
  done
  run get --help
  contains "$out" '--raw' "get --help"
  contains "$out" '^Global options:' "get --help"
  run help set
  [ "$status" = 0 ] && grep -q -- '--file' <<<"$out" || fail "help set: status $status"
  expect_err 2 "unrecognized subcommand 'frobnicate'" "${S[@]}" frobnicate
  expect_err 2 "unexpected argument '--bogus'" --bogus "${S[@]}" version
  expect_err 2 'no servers: give --servers' get k
  expect_err 2 "required arguments were not provided" "${S[@]}" get
  ;;
version_flag)
  want=$(sed -n 's/^version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml" | head -1)
  [ -n "$want" ] || fail "no version in Cargo.toml"
  run --version
  [ "$status" = 0 ] || fail "--version: status $status"
  [ "$(sed -n 1p <<<"$out")" = "pmc $want" ] || fail "--version first line: '$out' (want 'pmc $want')"
  contains "$out" "^library: pymemcache-rs $want " "--version"
  expect 0 "pmc $want" -V
  ;;
set_get)
  expect 0 '' "${S[@]}" set "$ns.k" "hello world"
  expect 0 'hello world' "${S[@]}" get "$ns.k"
  printf 'hello world\n' >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get "$ns.k"     # one key: the value and a newline
  expect 0 '' "${S[@]}" --timeout 2 --connect-timeout 2 set "$ns.k" "v2" --flags 42 --expire 3600
  expect 0 'v2' "${S[@]}" get "$ns.k"
  expect 0 "VALUE $ns.k 42 2"$'\n'"v2" "${S[@]}" get --headers "$ns.k"
  # global options after the command
  expect 0 'v2' get "$ns.k" "${S[@]}"
  expect 0 '' "${S[@]}" set "$ns.empty" ""
  printf '\n' >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get "$ns.empty"
  : >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get --raw "$ns.empty"
  # values that look like options
  expect 0 '' "${S[@]}" set "$ns.neg" -5
  expect 0 '-5' "${S[@]}" get "$ns.neg"
  expect 0 '' "${S[@]}" set "$ns.neg" -- --x
  expect 0 '--x' "${S[@]}" get "$ns.neg"
  # The flags really reached the server.
  exec 3<>"/dev/tcp/${server%:*}/${server##*:}" &&
    printf 'get %s\r\n' "$ns.k" >&3 && IFS= read -r line <&3 && exec 3>&-
  [ "${line%$'\r'}" = "VALUE $ns.k 42 2" ] || fail "stored item header is '$line'"
  # noreply: nothing to wait for, the value is there all the same
  expect 0 '' "${S[@]}" set --noreply "$ns.nr" quiet
  expect 0 'quiet' "${S[@]}" get "$ns.nr"
  # key prefix: stored under PREFIX+KEY
  expect 0 '' "${S[@]}" --key-prefix "$ns.p:" set k prefixed
  expect 0 'prefixed' "${S[@]}" get "$ns.p:k"
  expect 0 'prefixed' "${S[@]}" --key-prefix "$ns.p:" get k
  # keys are bytes, as pymemcache's bytes keys: UTF-8 and control bytes are
  # stored; whitespace is refused before anything is sent
  expect 0 '' "${S[@]}" set "$ns.café" v
  expect 0 'v' "${S[@]}" get "$ns.café"
  expect 0 '' "${S[@]}" set "$ns.ctl"$'\x01' c
  expect 0 'c' "${S[@]}" get "$ns.ctl"$'\x01'
  expect_err 2 'illegal input' "${S[@]}" set "$ns.tab"$'\t'"key" v
  ;;
get_many)
  expect 0 '' "${S[@]}" set "$ns.a" alpha --flags 1
  expect 0 '' "${S[@]}" set "$ns.b" "two"$'\n'"lines"
  printf 'VALUE %s 0 9\ntwo\nlines\nVALUE %s 1 5\nalpha\n' "$ns.b" "$ns.a" >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get "$ns.b" "$ns.a"      # in the order asked
  printf 'VALUE %s 1 5\nalpha\nVALUE %s 1 5\nalpha\n' "$ns.a" "$ns.a" >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get "$ns.a" "$ns.a"
  # a miss among hits: hits printed, the miss named on stderr, status 1
  printf 'VALUE %s 1 5\nalpha\n' "$ns.a" >"$work/want"
  expect_bytes 1 "$work/want" "${S[@]}" get "$ns.missing" "$ns.a"
  contains "$err" "^pmc: get $ns.missing: miss$" "get miss"
  expect_bytes 1 "$work/want" "${S[@]}" -q get "$ns.missing" "$ns.a"
  [ -z "$err" ] || fail "-q get: stderr '$err'"
  expect_err 1 "^pmc: get $ns.missing: miss$" "${S[@]}" get "$ns.missing"
  expect_err 1 '' "${S[@]}" get "$ns.missing" "$ns.missing2"
  expect_err 2 'get --raw takes one key' "${S[@]}" get --raw "$ns.a" "$ns.b"
  # gets: headers with the CAS unique, always
  run "${S[@]}" gets "$ns.a" "$ns.b"
  [ "$status" = 0 ] || fail "gets: status $status: $err"
  grep -Eq "^VALUE $ns\\.a 1 5 [0-9]+\$" <<<"$out" || fail "gets: header of a in '$out'"
  grep -Eq "^VALUE $ns\\.b 0 9 [0-9]+\$" <<<"$out" || fail "gets: header of b in '$out'"
  # exist
  expect 0 '' "${S[@]}" exist "$ns.a" "$ns.b"
  expect_err 1 "^pmc: exist $ns.missing: not found$" "${S[@]}" exist "$ns.a" "$ns.missing"
  ;;
stdin_file)
  printf 'line one\nline two\n' | "$pmc_bin" "${S[@]}" set "$ns.in" - || fail "set from stdin: status $?"
  printf 'line one\nline two\n' >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get --raw "$ns.in"
  printf -- '-' | "$pmc_bin" "${S[@]}" set "$ns.dash" - || fail "set - from stdin: status $?"
  expect 0 '-' "${S[@]}" get "$ns.dash"
  : | "$pmc_bin" "${S[@]}" set "$ns.none" - || fail "set empty stdin: status $?"
  expect 0 '' "${S[@]}" exist "$ns.none"
  printf 'from a file\0with a NUL' >"$work/value"
  expect 0 '' "${S[@]}" set "$ns.f" --file "$work/value" --flags 7
  expect_bytes 0 "$work/value" "${S[@]}" get --raw "$ns.f"
  expect 0 '' "${S[@]}" append "$ns.f" --file "$work/value"
  cat "$work/value" "$work/value" >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get --raw "$ns.f"
  expect_err 5 "^pmc: set $ns.g: reading $work/nonexistent: No such file" \
    "${S[@]}" set "$ns.g" --file "$work/nonexistent"
  expect_err 2 "cannot be used with '--file" "${S[@]}" set "$ns.g" v --file "$work/value"
  expect_err 2 'required arguments were not provided' "${S[@]}" set "$ns.g"
  expect_err 1 'miss' "${S[@]}" get "$ns.g"      # none of those stored anything
  ;;
binary)
  head -c 4096 /dev/urandom >"$work/random"
  "$pmc_bin" "${S[@]}" set "$ns.r" - <"$work/random" || fail "set - <random: status $?"
  "$pmc_bin" "${S[@]}" get --raw "$ns.r" | cmp - "$work/random" || fail "get --raw of 4096 random bytes differs"
  expect_bytes 0 "$work/random" "${S[@]}" get --raw "$ns.r"
  # every byte value, \r\n and "END" inside, then 900 KiB
  { for i in $(seq 0 255); do printf "\\x$(printf %02x "$i")"; done; printf '\r\nEND\r\n'; } >"$work/bytes"
  [ "$(wc -c <"$work/bytes")" = 263 ] || fail "test data: $(wc -c <"$work/bytes") bytes"
  expect 0 '' "${S[@]}" set "$ns.bytes" --file "$work/bytes"
  expect_bytes 0 "$work/bytes" "${S[@]}" get --raw "$ns.bytes"
  head -c 921600 /dev/urandom >"$work/big"
  "$pmc_bin" "${S[@]}" set "$ns.big" - <"$work/big" || fail "set 900 KiB: status $?"
  expect_bytes 0 "$work/big" "${S[@]}" get --raw "$ns.big"
  # framed output of several binary values: the lengths frame them
  { printf 'VALUE %s 0 263\n' "$ns.bytes"; cat "$work/bytes"; printf '\nVALUE %s 0 4096\n' "$ns.r"
    cat "$work/random"; printf '\n'; } >"$work/want"
  expect_bytes 0 "$work/want" "${S[@]}" get "$ns.bytes" "$ns.r"
  # over the server's item size limit (-I 1m): the server refuses, status 4
  head -c 1100000 /dev/zero >"$work/huge"
  expect_err 4 "^pmc: set $ns.huge: server error: .*\\(server $server\\)" \
    "${S[@]}" set "$ns.huge" --file "$work/huge"
  ;;
store_modes)
  expect 0 '' "${S[@]}" add "$ns.k" first
  expect_err 1 "^pmc: add $ns.k: not stored$" "${S[@]}" add "$ns.k" second
  expect 0 'first' "${S[@]}" get "$ns.k"
  expect 0 '' "${S[@]}" replace "$ns.k" third
  expect_err 1 "^pmc: replace $ns.none: not stored$" "${S[@]}" replace "$ns.none" x
  expect 0 '' "${S[@]}" append "$ns.k" ">"
  expect 0 '' "${S[@]}" prepend "$ns.k" "<"
  expect 0 '<third>' "${S[@]}" get "$ns.k"
  expect_err 1 'not stored' "${S[@]}" append "$ns.none" x
  expect_err 1 'not stored' "${S[@]}" prepend "$ns.none" x
  # cas: the unique gets printed; a stale one; a missing key
  run "${S[@]}" gets "$ns.k"
  cas=$(sed -n 1p <<<"$out" | awk '{ print $5 }')
  [[ $cas =~ ^[0-9]+$ ]] || fail "gets printed no CAS: '$out'"
  expect 0 '' "${S[@]}" cas "$ns.k" "$cas" swapped --flags 3
  expect 0 "VALUE $ns.k 3 7"$'\n'"swapped" "${S[@]}" get -H "$ns.k"
  expect_err 1 "^pmc: cas $ns.k: exists" "${S[@]}" cas "$ns.k" "$cas" again
  expect 0 'swapped' "${S[@]}" get "$ns.k"
  expect_err 1 "^pmc: cas $ns.none: not found$" "${S[@]}" cas "$ns.none" 1 x
  expect_err 2 "invalid value 'x' for '<CAS>'" "${S[@]}" cas "$ns.k" x v
  ;;
incr_decr)
  expect 0 '' "${S[@]}" set "$ns.n" 41
  expect 0 42 "${S[@]}" incr "$ns.n"
  expect 0 44 "${S[@]}" incr "$ns.n" 2
  expect 0 40 "${S[@]}" decr "$ns.n" 4
  expect 0 0 "${S[@]}" decr "$ns.n" 1000
  expect 0 18446744073709551615 "${S[@]}" incr "$ns.n" 18446744073709551615
  # Stored counters stay below 2^63 (memcached's strchr quirk, see counters.c).
  expect 0 '' "${S[@]}" set "$ns.n" 1
  expect 0 '' "${S[@]}" incr --noreply "$ns.n" 18446744073709551615 # wraps to 0, prints nothing
  expect 0 0 "${S[@]}" incr "$ns.n" 0
  expect_err 1 "^pmc: incr $ns.missing: not found$" "${S[@]}" incr "$ns.missing" 1
  expect_err 1 "^pmc: decr $ns.missing: not found$" "${S[@]}" decr "$ns.missing"
  expect 0 '' "${S[@]}" set "$ns.word" abc
  expect_err 4 "^pmc: incr $ns.word: client error: .*non-numeric.*\\(server $server\\)" \
    "${S[@]}" incr "$ns.word" 1
  expect_err 2 "'-1'" "${S[@]}" incr "$ns.n" -1
  expect_err 2 "invalid value '1x'" "${S[@]}" decr "$ns.n" 1x
  ;;
meta)
  expect 0 'HD' "${S[@]}" meta ms "$ns.m" F5 T100 --value hello
  run "${S[@]}" meta mg "$ns.m" v f t
  [ "$status" = 0 ] || fail "meta mg: status $status"
  grep -Eq '^VA f5 t(9[0-9]|100)$' <<<"$(head -n1 <<<"$out")" || fail "meta mg line: '$out'"
  [ "$(tail -n1 <<<"$out")" = hello ] || fail "meta mg value: '$out'"
  expect 1 'EN' "${S[@]}" meta mg "$ns.none" v
  run "${S[@]}" meta mg "$ns.viv" v N30
  [ "$status" = 0 ] && grep -q 'W' <<<"$(head -n1 <<<"$out")" || fail "meta N30: $status '$out'"
  expect 0 'HD' "${S[@]}" meta md "$ns.m" I T30
  run "${S[@]}" meta mg "$ns.m" v
  grep -Eq '^VA .*X' <<<"$out" && grep -Eq '^VA .*W' <<<"$out" || fail "meta stale: '$out'"
  expect 1 'NF' "${S[@]}" meta md "$ns.none"
  expect 1 'NS' "${S[@]}" meta ms "$ns.none" MR --value x
  expect 0 'VA
40' "${S[@]}" meta ma "$ns.ctr" N0 J40 v
  expect_err 2 "set by the batch" "${S[@]}" meta mg "$ns.m" v O1
  expect_err 2 "invalid value 'mx'" "${S[@]}" meta mx "$ns.m"
  ;;
delete_touch)
  for k in a b c; do expect 0 '' "${S[@]}" set "$ns.$k" "v$k"; done
  expect 0 '' "${S[@]}" touch --expire 3600 "$ns.a" "$ns.b"
  expect_err 1 "^pmc: touch $ns.none: not found$" "${S[@]}" touch -e 10 "$ns.a" "$ns.none"
  run "${S[@]}" gat --expire 3600 "$ns.c"
  [ "$status" = 0 ] && [ "$out" = vc ] || fail "gat: status $status, '$out'"
  run "${S[@]}" gats -e 3600 "$ns.c"
  grep -Eq "^VALUE $ns\\.c 0 2 [0-9]+\$" <<<"$out" || fail "gats: '$out'"
  # an illegal key: nothing at all is sent, so a is still there
  expect_err 2 "^pmc: delete bad key: illegal input" "${S[@]}" delete "$ns.a" "bad key"
  expect 0 '' "${S[@]}" exist "$ns.a"
  # several keys, one of them missing: the others are deleted, status 1
  expect_err 1 "^pmc: delete $ns.none: not found$" "${S[@]}" delete "$ns.a" "$ns.none" "$ns.b"
  expect_err 1 'not found' "${S[@]}" exist "$ns.a"
  expect_err 1 'not found' "${S[@]}" exist "$ns.b"
  expect 0 '' "${S[@]}" rm "$ns.c"
  expect_err 1 "^pmc: delete $ns.c: not found$" "${S[@]}" delete "$ns.c"
  expect_err 1 "^pmc: touch $ns.c: not found$" "${S[@]}" touch -e 10 "$ns.c"
  expect_err 1 "^pmc: get $ns.c: miss$" "${S[@]}" get "$ns.c"
  for k in d e; do expect 0 '' "${S[@]}" set "$ns.$k" v; done
  expect 0 '' "${S[@]}" delete --noreply "$ns.d" "$ns.e"
  expect_err 1 '' "${S[@]}" get "$ns.d" "$ns.e"
  ;;
stats)
  run "${S[@]}" stats
  [ "$status" = 0 ] || fail "stats: status $status: $err"
  [ "$(sed -n 1p <<<"$out")" = "Server: $server" ] || fail "stats: first line '$(sed -n 1p <<<"$out")'"
  contains "$out" $'^\tpid: [0-9]+$' "stats"
  contains "$out" $'^\tversion: '"$version\$" "stats"
  run "${S[@]}" stats settings
  [ "$status" = 0 ] || fail "stats settings: status $status: $err"
  contains "$out" $'^\titem_size_max: 1048576$' "stats settings"
  contains "$out" $'^\ttcpport: '"${server##*:}\$" "stats settings"
  run "${S[@]}" stats --flat
  contains "$out" "^$server pid [0-9]+\$" "stats --flat"
  [ "$(grep -vc "^$server " <<<"$out")" = 0 ] || fail "stats --flat: lines without the server"
  run "${S[@]}" stats items
  [ "$status" = 0 ] || fail "stats items: status $status: $err"
  contains "$out" $'^\titems:[0-9]+:number: [0-9]+$' "stats items"
  # both fixture servers, grouped
  run -s "$server" -s "$socket" stats
  [ "$(grep -c '^Server: ' <<<"$out")" = 2 ] || fail "stats of 2 servers: headers: $(grep '^Server' <<<"$out")"
  contains "$out" "^Server: $socket\$" "stats of 2 servers"
  expect_err 4 "^pmc: stats: .*\\(server $server\\)" "${S[@]}" stats nonsense
  ;;
version)
  expect 0 "$server $version" "${S[@]}" version
  expect 0 "$server $version"$'\n'"$socket $version" --servers "$server,$socket" version
  run "${S[@]}" ping
  [ "$status" = 0 ] && grep -Eq "^$server ok [0-9.]+ ms\$" <<<"$out" || fail "ping: $status '$out' $err"
  expect 0 '' -q "${S[@]}" ping
  ;;
unix_socket)
  expect 0 '' --servers "$socket" set "$ns.u" "via socket"
  expect 0 'via socket' --servers "$socket" get "$ns.u"
  expect 0 "$socket $version" --servers "$socket" version
  expect_err 1 miss --servers "$server" get "$ns.u"   # and not on the TCP server
  ;;
env_servers)
  export MEMCACHED_SERVERS="$server"
  expect 0 '' set "$ns.e" "from env"
  expect 0 'from env' get "$ns.e"
  expect 0 "$server $version" version
  MEMCACHED_SERVERS=" $server , $socket " expect 0 "$server $version"$'\n'"$socket $version" version
  # --servers wins over the variable
  MEMCACHED_SERVERS="$server" expect 0 "$socket $version" --servers "$socket" version
  MEMCACHED_SERVERS="not:a:port:list" expect 0 "$socket $version" -s "$socket" version
  # a bad variable is a usage error that names it
  MEMCACHED_SERVERS="host:notaport" expect_err 2 '^pmc: MEMCACHED_SERVERS: server "host:notaport": bad port' version
  MEMCACHED_SERVERS="" expect_err 2 'no servers' version
  # default port and weights, as libmemcached reads them
  MEMCACHED_SERVERS="127.0.0.1" expect 0 "k 127.0.0.1:11211" locate k
  MEMCACHED_SERVERS="$server:5" expect 0 "$server $version" version
  contains "$err" "^pmc: warning: server $server:5: the weight is ignored" "weight"
  ;;
bad_server)
  port=$("$probe" free-port)   # nothing listens there
  expect_err 3 "^pmc: get k: I/O error: .*refused.*127\\.0\\.0\\.1:$port" --servers "127.0.0.1:$port" get k
  expect_err 3 "^pmc: set k: I/O error: .*127\\.0\\.0\\.1:$port" --servers "127.0.0.1:$port" set k v
  expect_err 3 "^pmc: version: .*127\\.0\\.0\\.1:$port" --servers "127.0.0.1:$port" version
  expect_err 3 "^pmc: ping: .*127\\.0\\.0\\.1:$port" --servers "127.0.0.1:$port" ping
  expect_err 3 '/nonexistent/pmc.sock' --servers /nonexistent/pmc.sock version
  expect_err 3 'nohost\.invalid' --servers nohost.invalid:11211 get k
  expect_err 2 "^pmc: server \"not an address\": contains whitespace" --servers "not an address" get k
  expect_err 2 'bad port' --servers localhost:99999 get k
  expect_err 2 "^pmc: server $server is listed twice" --servers "$server" --servers "$server" get k
  expect_err 2 'invalid value' --timeout soon -s "$server" version
  # one of two servers down: the other's answers are printed, status 3
  run --servers "$server,127.0.0.1:$port" version
  [ "$status" = 3 ] && [ "$out" = "$server $version" ] || fail "version with one server down: $status '$out'"
  contains "$err" "^pmc: version: .*127\\.0\\.0\\.1:$port" "version with one server down"
  run --servers "$server,127.0.0.1:$port" ping
  [ "$status" = 3 ] && grep -q "^$server ok" <<<"$out" || fail "ping with one server down: $status '$out'"
  ;;
timeout)
  # A server that accepts connections but never answers (stopped with
  # SIGSTOP; the kernel still completes the handshake).
  start_private tcp_stopped
  kill -STOP "$private_pid"
  start=$(date +%s%N)
  expect_err 3 "^pmc: get k: timeout: .*$private_addr" -s "$private_addr" --timeout 0.5 get k
  ms=$((($(date +%s%N) - start) / 1000000))
  [ "$ms" -lt 4000 ] || fail "--timeout 0.5 took $ms ms"
  expect_err 3 "timeout" -s "$private_addr" --timeout 0.3 stats
  kill -CONT "$private_pid"
  expect 0 '' -s "$private_addr" --timeout 0.5 set k v
  ;;
deadline)
  # The stopped server again: --timeout 5 would wait 5 s for the reply,
  # --deadline 0.3 ends the whole call first, and says so.
  start_private tcp_stopped
  kill -STOP "$private_pid"
  start=$(date +%s%N)
  expect_err 3 "^pmc: get k: timeout: .*deadline.*$private_addr" -s "$private_addr" --timeout 5 --deadline 0.3 get k
  ms=$((($(date +%s%N) - start) / 1000000))
  [ "$ms" -ge 250 ] && [ "$ms" -lt 2000 ] || fail "--timeout 5 --deadline 0.3 took $ms ms"
  expect_err 3 "deadline" -s "$private_addr" --timeout 5 --deadline 0.3 stats
  # 0 is no deadline: --timeout ends the call, and the message says timeout only
  expect_err 3 "timeout" -s "$private_addr" --timeout 0.3 --deadline 0 get k
  grep -q deadline <<<"$err" && fail "--deadline 0 still set a deadline: $err"
  expect_err 2 'invalid value' --deadline soon -s "$private_addr" version
  expect_err 2 'invalid value' --deadline=-1 -s "$private_addr" version
  kill -CONT "$private_pid"
  expect 0 '' -s "$private_addr" --timeout 5 --deadline 2 set k v
  expect 0 'v' -s "$private_addr" --deadline 2 get k
  # --help says what it bounds
  run --help
  contains "$out" "--deadline <SECONDS>" "--help"
  contains "$out" "connecting, writing the request and reading the whole reply" "--help"
  ;;
multi_server)
  # Three servers of our own (two TCP, one socket), so that item counts are
  # only ours.
  start_private tcp1; s1=$private_addr
  start_private tcp2; s2=$private_addr
  start_private sock3; s3=$private_addr
  all="$s1,$s2,$s3"
  keys=()
  for i in $(seq 1 30); do keys+=("$ns.k$i"); done
  # the same list, given three ways: one list, repeated flags, the variable
  run -s "$all" locate "${keys[@]}"; placed=$out
  [ "$status" = 0 ] && [ "$(wc -l <<<"$placed")" = 30 ] || fail "locate: $status '$placed'"
  expect 0 "$placed" -s "$s1" -s "$s2,$s3" locate "${keys[@]}"
  expect 0 "$placed" locate "${keys[@]}" --servers "$s1" --servers "$s2" -s "$s3"
  MEMCACHED_SERVERS="$s1, $s2, $s3" expect 0 "$placed" locate "${keys[@]}"
  # python-bytes placement: the same keys, other servers for many of them
  run -s "$all" --hash-key-form python-bytes locate "${keys[@]}"
  [ "$status" = 0 ] && [ "$(wc -l <<<"$out")" = 30 ] || fail "locate bytes: $status '$out'"
  moved=$(diff <(echo "$placed") <(echo "$out") | grep -c '^>' || true)
  [ "$moved" -ge 5 ] || fail "python-bytes placement moved only $moved of 30 keys"
  expect 0 "$placed" -s "$all" --hash-key-form text locate "${keys[@]}"
  expect_err 2 "not a key form" -s "$all" --hash-key-form bytes locate "${keys[0]}"
  # every server gets some of the keys
  for s in "$s1" "$s2" "$s3"; do
    n=$(grep -c " $s\$" <<<"$placed")
    [ "$n" -gt 0 ] || fail "no key of 30 placed on $s: $placed"
  done
  for k in "${keys[@]}"; do
    "$pmc_bin" -s "$all" set "$k" "value of $k" || fail "set $k: status $?"
  done
  # each server holds exactly the keys placed on it
  total=0
  for s in "$s1" "$s2" "$s3"; do
    want=$(grep -c " $s\$" <<<"$placed")
    got=$(curr_items "$s")
    [ "$got" = "$want" ] || fail "$s holds $got items, $want keys were placed on it"
    total=$((total + got))
  done
  [ "$total" = 30 ] || fail "the servers hold $total items, not 30"
  while read -r k s; do
    expect 0 "value of $k" -s "$s" get "$k"          # asking that server alone
    for other in "$s1" "$s2" "$s3"; do
      [ "$other" = "$s" ] || expect_err 1 miss -s "$other" get "$k"
    done
  done <<<"$(sed -n 1,6p <<<"$placed")"
  # several keys across the servers, in the order asked
  run -s "$all" get "${keys[@]}"
  [ "$status" = 0 ] || fail "get of 30 keys over 3 servers: $status $err"
  [ "$(grep -c '^VALUE ' <<<"$out")" = 30 ] || fail "get of 30 keys: $(grep -c '^VALUE ' <<<"$out") headers"
  [ "$(grep '^VALUE ' <<<"$out" | awk '{print $2}')" = "$(printf '%s\n' "${keys[@]}")" ] ||
    fail "get of 30 keys: not in the order asked"
  # per-server commands answer per server
  run -s "$all" version
  [ "$(wc -l <<<"$out")" = 3 ] && grep -q "^$s3 $version\$" <<<"$out" || fail "version of 3: '$out'"
  run -s "$all" stats --flat
  [ "$(grep -c ' curr_items ' <<<"$out")" = 3 ] || fail "stats --flat of 3: $(grep curr_items <<<"$out")"
  # delete across the servers
  expect 0 '' -s "$all" delete "${keys[@]:0:10}"
  expect_err 1 "^pmc: delete ${keys[0]}: not found" -s "$all" delete "${keys[0]}"
  # one server down: the keys of the others are still served, status 3
  kill "$private_pid"; wait "$private_pid" 2>/dev/null   # s3, the socket
  run -s "$all" get "${keys[@]:10}"
  [ "$status" = 3 ] || fail "get with $s3 down: status $status"
  contains "$err" "^pmc: get .*$s3" "get with $s3 down"
  want=$(sed -n '11,30p' <<<"$placed" | grep -vc " $s3\$")
  [ "$(grep -c '^VALUE ' <<<"$out")" = "$want" ] || fail "get with $s3 down: $(grep -c '^VALUE ' <<<"$out") hits, want $want"
  # placement does not change when a server is down
  expect 0 "$placed" -s "$all" locate "${keys[@]}"
  # a server that failed is tried once per run: its other keys are skipped
  mapfile -t on3 < <("$pmc_bin" -s "$all" locate $(seq -f "$ns.x%g" 1 200) | awk -v s="$s3" '$2 == s { print $1 }')
  [ "${#on3[@]}" -ge 2 ] || fail "no 2 of 200 keys placed on $s3"
  run -s "$all" delete "${on3[0]}" "${on3[1]}"
  [ "$status" = 3 ] || fail "delete with $s3 down: status $status"
  contains "$err" "^pmc: delete ${on3[0]}: I/O error: .*$s3" "delete with $s3 down"
  contains "$err" "^pmc: delete ${on3[1]}: not tried: server $s3 failed earlier in this run\$" "delete with $s3 down"
  ;;
flush)
  # flush_all empties a whole server: use one of our own.
  start_private flush
  sock=$private_addr
  expect 0 '' --servers "$sock" set a 1
  expect 0 '' --servers "$sock" set b 2
  expect 0 '' --servers "$sock" flush-all
  expect_err 1 'miss' --servers "$sock" get a
  expect_err 1 'miss' --servers "$sock" get b
  expect 0 '' --servers "$sock" set c 3
  expect 0 '' --servers "$sock" flush --delay 3600
  expect 0 3 --servers "$sock" get c      # a delayed flush leaves it for now
  expect 0 '' --servers "$sock" flush_all --noreply
  expect_err 1 'miss' --servers "$sock" get c
  expect_err 2 "invalid value 'soon'" --servers "$sock" flush-all --delay soon
  ;;
keys)
  start_private keys
  sock=$private_addr
  for k in one two "$ns.three"; do expect 0 '' -s "$sock" set "$k" v; done
  expect 0 '' -s "$sock" set "ключ" v
  run -s "$sock" keys
  [ "$status" = 0 ] || fail "keys: status $status: $err"
  [ "$(sort <<<"$out")" = "$(printf '%s\n' "$ns.three" one two ключ | sort)" ] || fail "keys: '$out'"
  expect 0 "three" -s "$sock" --key-prefix "$ns." keys
  run -s "$sock" dump --long
  contains "$out" "^$sock one exp=-1 .*size=" "keys --long"
  ;;
tls)
  # The TLS fixture's servers (tls-fixture.sh: PMC_TLS_STATE names its
  # directory): -Z, mutual TLS, and -Y (user pmc, password s3cret).
  t=${PMC_TLS_STATE:?PMC_TLS_STATE names the TLS fixture state directory}
  unset MEMCACHED_PASSWORD
  certs="$t/certs" tls=$(cat "$t/tls_server") mtls=$(cat "$t/mtls_server") auth=$(cat "$t/auth_server")
  expect 0 '' -s "$tls" --tls-ca-file "$certs/ca.pem" set "$ns.t" "over TLS"
  expect 0 'over TLS' -s "$tls" --tls-ca-file "$certs/ca.pem" get "$ns.t"
  expect 0 'over TLS' -s "$tls" --tls-ca-dir "$certs" --tls-server-name localhost --tls-min-version 1.3 get "$ns.t"
  expect 0 'over TLS' -s "$tls" --tls-insecure-no-verify-testing-only get "$ns.t"
  run -s "$tls" --tls-ca-file "$certs/ca.pem" stats --flat
  [ "$status" = 0 ] || fail "stats over TLS: status $status, $err"
  contains "$out" "^$tls pid [0-9]+" "stats over TLS"
  # what failed, in the message; exit 3 (network) for the handshake
  expect_err 3 'unknown CA|UnknownIssuer' -s "$tls" --tls get "$ns.t"
  expect_err 3 'unknown CA|UnknownIssuer' -s "$tls" --tls-ca-file "$certs/other-ca.pem" get "$ns.t"
  expect_err 3 'name mismatch|NotValidForName' -s "$tls" --tls-ca-file "$certs/ca.pem" --tls-server-name cache.example.com get "$ns.t"
  expect_err 3 'TLS' -s "$tls" get "$ns.t"
  # mutual TLS: without a client certificate refused, with one served
  expect_err 3 'certificate' -s "$mtls" --tls-ca-file "$certs/ca.pem" get "$ns.t"
  expect 0 '' -s "$mtls" --tls-ca-file "$certs/ca.pem" --tls-cert "$certs/client.pem" --tls-key "$certs/client.key" set "$ns.m" v
  expect 0 'v' -s "$mtls" --tls-ca-file "$certs/ca.pem" --tls-cert "$certs/client.pem" --tls-key "$certs/client.key" get "$ns.m"
  # local files and usage
  expect_err 5 'missing.pem' -s "$tls" --tls-ca-file "$certs/missing.pem" get "$ns.t"
  expect_err 2 'tls-key' -s "$tls" --tls-cert "$certs/client.pem" get "$ns.t"
  expect_err 2 'not a TLS version' -s "$tls" --tls-min-version 1.1 get "$ns.t"
  # ASCII authentication: the password from a file or $MEMCACHED_PASSWORD
  printf 's3cret\n' >"$work/password"
  expect 0 '' -s "$auth" --username pmc --password-file "$work/password" set "$ns.a" v
  MEMCACHED_PASSWORD=s3cret expect 0 'v' -s "$auth" --username pmc get "$ns.a"
  MEMCACHED_PASSWORD=nope expect_err 3 'auth' -s "$auth" --username pmc get "$ns.a"
  expect_err 3 'auth' -s "$auth" get "$ns.a"
  expect_err 2 'MEMCACHED_PASSWORD' -s "$auth" --username pmc get "$ns.a"
  expect_err 5 'password-file' -s "$auth" --username pmc --password-file "$work/none" get "$ns.a"
  run --help
  contains "$out" "--tls-ca-file <PATH>" "--help"
  contains "$out" "--username <USER>" "--help"
  ;;
metrics)
  # --metrics: the Prometheus text on stderr after the command; stdout as
  # without it.
  start_private metrics
  m=$private_addr
  expect 0 '' -s "$m" set "$ns.m" v
  expect 0 'v' -s "$m" --metrics get "$ns.m"
  contains "$err" "^pymemcache_requests_total\\{server=\"$m\"\\} 1\$" "--metrics requests"
  contains "$err" "^pymemcache_hits_total\\{server=\"$m\"\\} 1\$" "--metrics hits"
  contains "$err" "^pymemcache_connections_opened_total\\{server=\"$m\"\\} 1\$" "--metrics connections"
  contains "$err" "^pymemcache_request_duration_seconds_count\\{server=\"$m\"\\} 1\$" "--metrics histogram"
  run -s "$m" --metrics get "$ns.missing"
  contains "$err" "^pymemcache_misses_total\\{server=\"$m\"\\} 1\$" "--metrics misses"
  run -s "$m" --metrics stats
  contains "$err" "^pymemcache_requests_total\\{server=\"$m\"\\} 1\$" "--metrics stats"
  run -s "$m" get "$ns.m"
  [ -z "$err" ] || fail "no --metrics: stderr '$err'"
  ;;
man)
  run man
  [ "$status" = 0 ] || fail "man: status $status"
  contains "$out" '^\.TH pmc 1' "man"
  contains "$out" '^\.SH "EXIT STATUS"' "man"
  contains "$out" '^\.SH SUBCOMMANDS' "man"
  run man get
  [ "$status" = 0 ] || fail "man get: status $status"
  contains "$out" '^\.TH pmc-get 1' "man get"
  contains "$out" 'raw' "man get"
  expect_err 2 'no command "frob"' man frob
  ;;
*)
  echo "unknown case $case_name" >&2
  exit 2
  ;;
esac

if [ "$failures" -gt 0 ]; then
  echo "cli $case_name: $failures of $checks check(s) failed" >&2
  exit 1
fi
echo "cli $case_name: ok ($checks pmc runs)"

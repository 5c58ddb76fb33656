#!/usr/bin/env bash
# tls-fixture.sh start STATE_DIR PROBE
# tls-fixture.sh stop STATE_DIR
# tls-fixture.sh certs DIR          (only the certificates, into DIR)
#
# The ctest fixture (FIXTURES_SETUP / FIXTURES_CLEANUP) of the TLS and
# authentication tests. `start` makes certificates with the openssl command
# (a CA, a server certificate for 127.0.0.1 and localhost, a client
# certificate, and a CA of its own for nobody) into STATE_DIR/certs, then
# launches three memcached processes and waits until each answers:
#   - TLS (-Z)                                 -> STATE_DIR/tls_server
#   - mutual TLS (client certificates required) -> STATE_DIR/mtls_server
#   - ASCII authentication (-Y, user "pmc" password "s3cret", plaintext)
#                                               -> STATE_DIR/auth_server
# The TLS servers also listen in plaintext on a second port (memcached's
# "notls:" listener), which only the readiness probe uses. `stop` kills
# them and removes what `start` made. PROBE is the fixture_probe helper.
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
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$state/certs"
  rm -f "$state/tls_server" "$state/mtls_server" "$state/auth_server" "$state/authfile"
}

# make_certs DIR: the CA, server, client and foreign CA, as PEM files.
make_certs() {
  local d=$1
  mkdir -p "$d"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 3650 \
    -subj "/CN=pymemcache-rs test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -x509 "${ec[@]}" -keyout "$d/other-ca.key" -out "$d/other-ca.pem" -days 3650 \
    -subj "/CN=some other CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  # leaf NAME EXTENSIONS...
  leaf() {
    local name=$1 ext=$2
    openssl req "${ec[@]}" -keyout "$d/$name.key" -out "$d/$name.csr" \
      -subj "/CN=$name" 2>/dev/null
    printf '%b' "$ext" >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -CAcreateserial -out "$d/$name.pem" -days 3650 -extfile "$d/$name.ext" 2>/dev/null
    rm -f "$d/$name.csr" "$d/$name.ext"
  }
  leaf server 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n'
  leaf client 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n'
}

# start_one NAME PROBE_ADDRESS ARGS...: run memcached in the background
# and wait until PROBE_ADDRESS answers with this process's pid.
start_one() {
  local name=$1 addr=$2 pid
  shift 2
  local user=()
  if [ "$(id -u)" = 0 ]; then user=(-u root); fi
  "$memcached" "${user[@]}" "$@" </dev/null >>"$state/$name.log" 2>&1 &
  pid=$!
  echo "$pid" >"$state/$name.pid"
  if "$probe" wait "$addr" "$pid" 10000; then
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  rm -f "$state/$name.pid"
  return 1
}

# start_tls NAME SSL_OPTIONS: a TLS server on a free port, probed through
# a plaintext listener on a second one; its address goes to STATE_DIR/NAME.
start_tls() {
  local name=$1 ssl=$2 port probe_port
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$("$probe" free-port)
    probe_port=$("$probe" free-port)
    [ "$port" != "$probe_port" ] || continue
    if start_one "$name" "127.0.0.1:$probe_port" -Z -o "$ssl" \
      -l "127.0.0.1:$port" -l "notls:127.0.0.1:$probe_port" "${common[@]}"; then
      echo "127.0.0.1:$port" >"$state/$name"
      return 0
    fi
  done
  echo "could not start memcached ($name); see $state/$name.log" >&2
  return 1
}

case $action in
certs)
  make_certs "$state"
  ;;
start)
  [ $# -eq 3 ] || usage
  probe=$3
  mkdir -p "$state"
  stop_all
  common=(-m 64 -c 256 -t 2 -U 0)
  c="$state/certs"
  make_certs "$c"
  start_tls tls_server "ssl_chain_cert=$c/server.pem,ssl_key=$c/server.key" || { stop_all; exit 1; }
  start_tls mtls_server "ssl_chain_cert=$c/server.pem,ssl_key=$c/server.key,ssl_ca_cert=$c/ca.pem,ssl_verify_mode=2" ||
    { stop_all; exit 1; }
  printf 'pmc:s3cret\n' >"$state/authfile"
  ok=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$("$probe" free-port)
    if PMC_PROBE_LOGIN="pmc s3cret" start_one auth_server "127.0.0.1:$port" \
      -Y "$state/authfile" -l 127.0.0.1 -p "$port" "${common[@]}"; then
      echo "127.0.0.1:$port" >"$state/auth_server"
      ok=1
      break
    fi
  done
  [ -n "$ok" ] || { echo "could not start memcached -Y; see $state/auth_server.log" >&2; stop_all; exit 1; }
  echo "TLS memcached on $(cat "$state/tls_server"), mutual TLS on $(cat "$state/mtls_server"), -Y on $(cat "$state/auth_server")"
  ;;
stop)
  stop_all
  ;;
*)
  usage
  ;;
esac

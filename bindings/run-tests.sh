#!/usr/bin/env bash
# Runs the Go, Ruby and Node binding suites against memcached servers that the
# suites start themselves on free loopback ports.
#
#   bindings/run-tests.sh            # all three suites
#   bindings/run-tests.sh go node    # some of them
#
# Installs what is missing (Debian packages: golang-go gcc ruby ruby-ffi
# ruby-minitest rake pkg-config nodejs npm memcached; npm packages from the
# lock file), runs each suite against the C library installed into a prefix
# (PMC_PREFIX, else scripts/install.sh into a temporary one), and exits
# non-zero if any suite fails.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
work=${PMC_BINDINGS_WORK:-/tmp/pymemcache-bindings}
mkdir -p "$work"

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(go ruby node)

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
apt_updated=0
apt_install() {
  echo ">> apt-get install $*"
  if [ $apt_updated -eq 0 ]; then
    "${sudo_cmd[@]}" apt-get update -qq || return 1
    apt_updated=1
  fi
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$work/apt.log" 2>&1 \
    || { tail -20 "$work/apt.log"; return 1; }
}

want() { local s; for s in "${suites[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# --- toolchains and memcached ---------------------------------------------
missing=()
command -v memcached >/dev/null || [ -x /usr/bin/memcached ] || missing+=(memcached)
if want go; then
  command -v go >/dev/null || missing+=(golang-go)
  command -v gcc >/dev/null || missing+=(gcc libc6-dev)
fi
if want ruby; then
  command -v ruby >/dev/null || missing+=(ruby)
  ruby -e 'require "ffi"' >/dev/null 2>&1 || missing+=(ruby-ffi)
  ruby -e 'require "minitest"' >/dev/null 2>&1 || missing+=(ruby-minitest)
  command -v rake >/dev/null || missing+=(rake)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
fi
if want node; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if want node; then
  command -v cc >/dev/null || missing+=(gcc libc6-dev)  # compiles the event-loop addon
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}" || { echo "FAILED: could not install ${missing[*]}"; exit 1; }
fi
# Node's headers (node_api.h, uv.h) for the event-loop addon: nodesource's
# nodejs ships them; Debian's nodejs has them in libnode-dev.
if want node; then
  node_inc="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node"
  if [ ! -f "$node_inc/node_api.h" ] && [ ! -f /usr/include/node/node_api.h ]; then
    apt_install libnode-dev || { echo "FAILED: could not install libnode-dev (Node's headers)"; exit 1; }
  fi
fi

declare -A result
failed=0

# Go: the module is packed as an on-disk Go module proxy (pack-module.sh)
# and used by its path and version only, against the C library installed in
# a prefix: PMC_PREFIX, else main's library installed into a temporary
# prefix with scripts/install.sh. PYMEMCACHE_LIB (a libpymemcache.so) builds
# with -tags pymemcache_custom against that file instead of pkg-config.
run_go() {
  echo "== Go (cgo) =="
  local log="$work/go.log" gw="$work/go"
  (
    set -e
    prefix=${PMC_PREFIX:-}
    if [ -z "$prefix" ]; then
      prefix="$gw/prefix"
      echo ">> scripts/install.sh --prefix $prefix"
      "$root/scripts/install.sh" --prefix "$prefix" >"$gw-install.log" 2>&1 ||
        { tail -20 "$gw-install.log"; exit 1; }
    fi
    [ -f "$prefix/include/pymemcache.h" ] || { echo "no $prefix/include/pymemcache.h"; exit 1; }
    version=$(sed -n 's/^#define PMC_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/pymemcache.h")
    mod=$(sed -n 's/^module //p' "$here/go/pymemcache/go.mod")
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export GOPROXY="file://$gw/proxy" GOSUMDB=off GOTOOLCHAIN=local GOFLAGS="-modcacherw"
    # The module cache's directory is named by the module's content. The go
    # command indexes a module-cache package (its file list) in GOCACHE by
    # directory alone, trusting a version never to change; this module is
    # repacked as the same v$version with other files, and GOCACHE outlives
    # a run (CI's work dir), so a fixed directory kept the file list of the
    # first run: test files added since were not compiled (CI ran 45 tests
    # of 54, reproduced with a stale cache; GODEBUG=goindex=0 or a fresh
    # GOCACHE gives all).
    modkey=$(cd "$here/go/pymemcache" && cat go.mod ./*.go | sha256sum | cut -c1-16)
    export GOPATH="$gw/gopath" GOMODCACHE="$gw/modcache-$modkey" GOCACHE="${GOCACHE:-$work/go-cache}"
    export PMC_HEADER="$prefix/include/pymemcache.h"
    export PMC_CONFORMANCE_CASES="$root/tests/conformance/cases.txt"
    if [ -n "${PYMEMCACHE_LIB:-}" ]; then
      export GOFLAGS="$GOFLAGS -tags=pymemcache_custom"
      export CGO_CFLAGS="-I$prefix/include" CGO_LDFLAGS="$PYMEMCACHE_LIB"
      export LD_LIBRARY_PATH="$(dirname "$PYMEMCACHE_LIB"):$LD_LIBRARY_PATH"
      echo ">> library: PYMEMCACHE_LIB=$PYMEMCACHE_LIB"
    else
      echo ">> library: pkg-config pymemcache in $prefix ($(pkg-config --modversion pymemcache))"
    fi
    rm -rf "$gw/proxy" "$gw"/modcache* "$gw/consumer"
    "$here/go/pack-module.sh" "$version" "$gw/proxy"
    mkdir -p "$gw/consumer"
    sed "s/@VERSION@/v$version/" "$here/go/consumer/go.mod.in" >"$gw/consumer/go.mod"
    cp "$here/go/consumer/main.go" "$gw/consumer/"
    cd "$gw/consumer"
    go mod download -x "$mod" 2>&1 | grep -E 'file://|unzip' | head -3 || true
    go mod tidy
    echo ">> the tiny program, outside the checkout"
    go build -o consumer .
    ./consumer
    echo ">> go vet $mod"
    go vet "$mod"
    echo ">> go test -race $mod (from $(go list -f '{{.Dir}}' "$mod"))"
    go test -race -count=1 -v "$mod"
  ) >"$log" 2>&1
  local rc=$?
  grep -E '^(>> |consumer: |go: [0-9]+ of|conformance: |--- FAIL|    )' "$log" | head -60
  # Counted anywhere in a line, not only at its start: the test servers'
  # memcached inherits the test binary's stderr, and a line of its left
  # unterminated would put `--- PASS` after it, uncounted. Subtests are
  # indented (a space before `---`), so are not counted.
  local count='(^|[^ ])--- %s: Test' n pass fail skip
  # shellcheck disable=SC2059
  for n in PASS FAIL SKIP; do
    printf -v "${n,,}" '%s' "$(grep -oE "$(printf "$count" "$n")" "$log" | wc -l)"
  done
  # Every top-level test of the source must have run: a test file left
  # out of the build (as a stale module index did) fails the suite.
  local want
  want=$(cat "$here"/go/pymemcache/*_test.go | grep -cE '^func Test[A-Za-z0-9_]*\(t \*testing\.T\)')
  echo "go: $pass passed, $fail failed, $skip skipped, of $want tests in the source"
  grep -E '^(PASS|FAIL|ok |panic:)' "$log"
  [ $rc -ne 0 ] && tail -30 "$log"
  if [ $rc -eq 0 ] && [ $((pass + fail + skip)) -ne "$want" ]; then
    echo "FAILED: $((pass + fail + skip)) Go tests ran, the source has $want"
    return 1
  fi
  return $rc
}

# Ruby: the gem built with `gem build`, installed with `gem install` into a
# temporary GEM_HOME (ffi from Debian's ruby-ffi), and the test files run
# outside the checkout against that installed gem, which finds the C library
# installed into PMC_PREFIX through pkg-config, as a user's install does.
run_ruby() {
  echo "== Ruby (ffi): gem build, installed into a temporary GEM_HOME =="
  local log="$work/ruby.log"
  pmc_prefix || return 1
  (
    # Every step checked by must: set -e does not act inside a function's subshell here.
    must() { "$@" || { echo "FAILED: $*"; exit 1; }; }
    unset PYMEMCACHE_LIB
    export PKG_CONFIG_PATH="$PMC_PREFIX/lib/pkgconfig"
    build=$(mktemp -d "$work/ruby-gem.XXXXXX") && proj=$(mktemp -d "$work/ruby-project.XXXXXX") || exit 1
    version=$(cd "$here/ruby" && ruby -e 'require "./lib/pymemcache/version"; print Pymemcache::VERSION') ||
      { echo "FAILED: reading lib/pymemcache/version.rb"; exit 1; }
    gemfile="$build/pymemcache-$version.gem"
    (cd "$here/ruby" && gem build pymemcache.gemspec --output "$gemfile") || { echo "FAILED: gem build"; exit 1; }
    echo ">> gem build: $(basename "$gemfile") ($(tar -xOf "$gemfile" data.tar.gz | tar tz | tr '\n' ' '))"
    export GEM_HOME="$proj/gems"
    # ffi is Debian's ruby-ffi, which RubyGems knows; nothing is fetched.
    must gem install --local --ignore-dependencies --no-document --install-dir "$GEM_HOME" "$build"/pymemcache-*.gem
    gemdir="$GEM_HOME/gems/pymemcache-$version"
    [ -f "$gemdir/lib/pymemcache.rb" ] || { echo "FAILED: $gemdir/lib/pymemcache.rb not installed"; exit 1; }
    echo ">> gem install: $gemdir"
    must cd "$proj"
    cat >hello.rb <<'RUBY'
# Uses the installed gem only: a mock client, and where it came from.
require 'pymemcache'
c = Pymemcache::Client.mock
c.set('greeting', 'hello from the installed gem')
gem_dir = Gem.loaded_specs.fetch('pymemcache').full_gem_path
puts "hello: #{c.get('greeting')} (library #{Pymemcache.library_version} from #{Pymemcache.library_path}, " \
     "gem #{gem_dir})"
exit 1 unless gem_dir.start_with?("#{ENV.fetch('GEM_HOME')}/")
exit 1 unless Pymemcache.library_path.start_with?("#{ENV.fetch('PMC_PREFIX')}/")
c.close
RUBY
    must ruby -w hello.rb
    must cp -r "$here/ruby/test" "$proj/test"
    export PMC_RUBY_GEM_DIR="$gemdir" PMC_CONFORMANCE_CASES="$root/tests/conformance/cases.txt"
    export PMC_TLS_FIXTURE="$root/examples-c/tls-fixture.sh"
    export PMC_HEADER="$PMC_PREFIX/include/pymemcache.h"
    fail=0
    for f in test/test_*.rb; do
      echo ">> ruby -w $f"
      ruby -w "$f" 2>"$f.stderr" || { echo "FAILED: ruby -w $f"; fail=1; }
      cat "$f.stderr"
      if grep -q "pymemcache-$version/lib/.*warning:" "$f.stderr"; then
        echo "FAILED: warnings from the gem's lib/ in $f"
        fail=1
      fi
    done
    [ $fail -eq 0 ] || exit 1
    rm -rf "$build" "$proj"  # kept when something failed, to look at
  ) >"$log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then cat "$log"; else
    grep -E '^(>> gem|hello: )|^# (conformance|ruby):|^[0-9]+ runs, ' "$log"
    awk '/^[0-9]+ runs, / { r += $1; a += $3 } END { printf "ruby: %d runs, %d assertions in all\n", r, a }' "$log"
  fi
  return $rc
}

# --- Node: the packed package, installed into a project outside the checkout,
# against the C library installed into a prefix ------------------------------
# PMC_PREFIX names an installed prefix (P/lib/pkgconfig/pymemcache.pc); unset,
# this checkout's library is installed into a temporary one with
# scripts/install.sh (and PMC_PREFIX exported for the suites after this one).
pmc_prefix() {
  if [ -n "${PMC_PREFIX:-}" ]; then
    [ -f "$PMC_PREFIX/lib/pkgconfig/pymemcache.pc" ] && return 0
    echo "FAILED: $PMC_PREFIX/lib/pkgconfig/pymemcache.pc not found (PMC_PREFIX)"
    return 1
  fi
  PMC_PREFIX=$(mktemp -d "$work/prefix.XXXXXX")
  echo ">> scripts/install.sh --prefix $PMC_PREFIX"
  if ! "$root/scripts/install.sh" --prefix "$PMC_PREFIX" >"$work/install.log" 2>&1; then
    tail -20 "$work/install.log"
    echo "FAILED: scripts/install.sh --prefix $PMC_PREFIX"
    return 1
  fi
  export PMC_PREFIX
}

run_node() {
  echo "== Node (koffi + event-loop addon): npm pack, installed into a temporary project =="
  local log="$work/node.log"
  pmc_prefix || return 1
  (
    # Every step checked by must: set -e does not act inside `if run_node`.
    must() { "$@" || { echo "FAILED: $*"; exit 1; }; }
    # The package finds the library through pkg-config, as a user's install does.
    unset PYMEMCACHE_LIB
    export PKG_CONFIG_PATH="$PMC_PREFIX/lib/pkgconfig"
    # The event-loop addon must build and load (no silent fall back to workers).
    export PYMEMCACHE_ASYNC=addon
    pack=$(mktemp -d "$work/node-pack.XXXXXX") && proj=$(mktemp -d "$work/node-project.XXXXXX") || exit 1
    tgz=$(cd "$here/node" && npm pack --silent --pack-destination "$pack" | tail -1) && [ -f "$pack/$tgz" ] ||
      { echo "FAILED: npm pack"; exit 1; }
    echo ">> npm pack: $tgz ($(tar tzf "$pack/$tgz" | tr '\n' ' '))"
    must cd "$proj"
    must npm init -y >/dev/null
    must npm install --no-audit --no-fund "$pack/$tgz"
    must npm install --no-audit --no-fund --no-save typescript@5 @types/node@20 >/dev/null
    cat >hello.js <<'JS'
// Uses the installed package only: a mock client, and where it came from.
const pmc = require('pymemcache');
const c = pmc.Client.mock();
c.set('greeting', 'hello from the packed package');
console.log(`hello: ${c.get('greeting')} (library ${pmc.libraryVersion()} from ${pmc.libraryPath}, ` +
  `package ${require.resolve('pymemcache')})`);
if (!require.resolve('pymemcache').startsWith(process.cwd() + '/node_modules/')) process.exit(1);
if (!pmc.libraryPath.startsWith(process.env.PMC_PREFIX + '/')) process.exit(1);
c.close();
JS
    must node hello.js
    must cp -r "$here/node/test" "$proj/test"
    must npx tsc --noEmit --strict --target es2022 --module commonjs --types node test/types-consumer.ts
    echo ">> tsc: test/types-consumer.ts compiles against index.d.ts"
    PMC_NODE_PACKAGE=pymemcache PMC_CONFORMANCE_CASES="$root/tests/conformance/cases.txt" \
      PMC_TLS_FIXTURE="$root/examples-c/tls-fixture.sh" \
      PMC_HEADER="$PMC_PREFIX/include/pymemcache.h" must node --test test/*.test.js
    rm -rf "$pack" "$proj"  # kept when something failed, to look at
  ) >"$log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then cat "$log"; else
    grep -E '^(>> |hello: )|^# (conformance|node):|^# (tests|pass|fail|cancelled|skipped|todo|duration_ms) ' "$log"
  fi
  return $rc
}

for s in "${suites[@]}"; do
  case "$s" in
    go|ruby|node) ;;
    *) echo "unknown suite: $s (go, ruby, node)"; exit 2 ;;
  esac
  # Called as a plain command, not as an `if` condition: inside a condition
  # bash ignores `set -e`, also in the suites' subshells.
  "run_$s"
  if [ $? -eq 0 ]; then result[$s]=ok; else result[$s]=FAILED; failed=1; fi
done

echo "== summary =="
for s in "${suites[@]}"; do echo "$s: ${result[$s]}"; done
exit $failed

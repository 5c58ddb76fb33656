#!/usr/bin/env bash
# install-consumers-test.sh ROOT STATE_DIR WORK CC CXX
#
# The install_consumers ctest case. Installs the library with
# scripts/install.sh (what users run) into the fresh prefix WORK/prefix,
# checks the installed files, then builds two programs that see only that
# prefix, never the source tree:
#   - examples-c/consumers/hello.c with pkg-config: pymemcache (shared) and
#     pymemcache-static (static);
#   - examples-c/consumers/hello.cpp in a CMake project (consumers/cmake)
#     with find_package(pymemcache CONFIG): pymemcache::pymemcache and
#     pymemcache::pymemcache_static;
# and runs all four against the memcached fixture (address in
# STATE_DIR/server). The install builds the library once in cargo-c's own
# target directory (target/<triple>/dist); later runs are incremental.
# With PMC_INSTALLED_PREFIX set (scripts/test.sh sets it: it has just run
# scripts/install.sh into that prefix for the bindings), that prefix is
# checked and used instead of installing a second time.
set -euo pipefail

[ $# -eq 5 ] || { echo "usage: $0 ROOT STATE_DIR WORK CC CXX" >&2; exit 2; }
root=$1 state=$2 work=$3 cc=$4 cxx=$5
server=$(cat "$state/server")
prefix=${PMC_INSTALLED_PREFIX:-$work/prefix}
consumers=$root/examples-c/consumers
rm -rf -- "$work"
mkdir -p "$work"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
step() { printf '\n==== %s\n' "$*"; }

if [ -n "${PMC_INSTALLED_PREFIX:-}" ]; then
  step "the prefix scripts/install.sh filled before this test: $prefix"
else
  step "scripts/install.sh --prefix $prefix"
  start=$(date +%s)
  "$root/scripts/install.sh" --prefix "$prefix"
  echo "install took $(($(date +%s) - start)) s"
fi

step "installed files"
lib=$prefix/lib
version=$(sed -n 's/^#define PMC_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/pymemcache.h")
major=${version%%.*}
# Every header of include/ (the C one, and the C++ one once it exists).
for h in "$root"/include/*.h "$root"/include/*.hpp; do
  [ -e "$h" ] || continue
  cmp -s "$h" "$prefix/include/${h##*/}" || fail "include/${h##*/} is not installed as $prefix/include/${h##*/}"
done
[ -f "$lib/libpymemcache.so.$version" ] && [ ! -L "$lib/libpymemcache.so.$version" ] ||
  fail "no file $lib/libpymemcache.so.$version"
[ "$(readlink "$lib/libpymemcache.so.$major")" = "libpymemcache.so.$version" ] ||
  fail "libpymemcache.so.$major is not a link to libpymemcache.so.$version"
[ "$(readlink "$lib/libpymemcache.so")" = "libpymemcache.so.$version" ] ||
  fail "libpymemcache.so is not a link to libpymemcache.so.$version"
readelf -d "$lib/libpymemcache.so.$version" | grep -q "(SONAME).*\[libpymemcache.so.$major\]" ||
  fail "the soname of libpymemcache.so.$version is not libpymemcache.so.$major"
# Release artefacts without debug info (the .so keeps its symbol table).
for f in "libpymemcache.so.$version" libpymemcache.a; do
  if readelf -S -W "$lib/$f" | grep -q '\.debug_info'; then fail "$f has debug info"; fi
done
for f in pkgconfig/pymemcache.pc pkgconfig/pymemcache-static.pc \
  cmake/pymemcache/pymemcacheConfig.cmake cmake/pymemcache/pymemcacheConfigVersion.cmake; do
  [ -f "$lib/$f" ] || fail "no $lib/$f"
done
grep -Eq '^Libs\.private: .*-l' "$lib/pkgconfig/pymemcache.pc" ||
  fail "pymemcache.pc has no Libs.private"
ls -l "$lib"
[ "$failures" -eq 0 ] || { echo "install_consumers: $failures failure(s)" >&2; exit 1; }

# Only the prefix: no compiler or pkg-config search path of the caller's.
unset CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH
export PKG_CONFIG_LIBDIR=$lib/pkgconfig
warn=(-Wall -Wextra -Wpedantic -Werror)

step "C with pkg-config: shared and static"
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
"$cc" -std=c99 "${warn[@]}" "$consumers/hello.c" -o "$work/hello_c_shared" \
  $(pkg-config --cflags --libs pymemcache) -Wl,-rpath,"$(pkg-config --variable=libdir pymemcache)"
# shellcheck disable=SC2046
"$cc" -std=c99 "${warn[@]}" "$consumers/hello.c" -o "$work/hello_c_static" \
  $(pkg-config --cflags --libs pymemcache-static)

step "C++ with find_package(pymemcache CONFIG): shared and static"
cmake -S "$consumers/cmake" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/cmake-build"

step "run the four against $server"
for app in hello_c_shared hello_c_static cmake-build/hello_cxx_shared cmake-build/hello_cxx_static; do
  bin=$work/$app
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(libpymemcache[^]]*\)\]/\1/p')
  case $app in
  *shared)
    [ "$needed" = "libpymemcache.so.$major" ] || fail "$app needs '$needed', not libpymemcache.so.$major"
    resolved=$(ldd "$bin" | sed -n 's/^[[:space:]]*libpymemcache\.so[^ ]* => \([^ ]*\).*/\1/p')
    [ "$resolved" = "$lib/libpymemcache.so.$major" ] ||
      fail "$app loads libpymemcache from '$resolved', not $lib"
    ;;
  *static) [ -z "$needed" ] || fail "$app needs $needed: it should be linked statically" ;;
  esac
  if out=$("$bin" "$server" 2>&1) && grep -q "library $version: hello from an installed libpymemcache" <<<"$out"; then
    printf '%-28s %8d bytes  %s\n' "$app" "$(stat -c %s "$bin")" "$out"
  else
    fail "$app: $out"
  fi
done

step "the installed pmc: a binary value through a pipe, and its man page"
pmc=$prefix/bin/pmc
[ -x "$pmc" ] || fail "$pmc was not installed"
[ -s "$prefix/share/man/man1/pmc.1" ] || fail "pmc.1 was not installed"
head -c 4096 /dev/urandom >"$work/random.bin"
if "$pmc" -s "$server" set "install-consumer.pmc.$version" - <"$work/random.bin" &&
  "$pmc" -s "$server" get --raw "install-consumer.pmc.$version" | cmp -s - "$work/random.bin"; then
  echo "pmc: 4096 random bytes round-tripped"
else
  fail "the installed pmc did not round-trip a binary value"
fi

if [ "$failures" -gt 0 ]; then
  echo "install_consumers: $failures failure(s)" >&2
  exit 1
fi
echo "install_consumers: ok (4 programs and pmc against the installed files)"

#!/usr/bin/env bash
# install.sh: build libpymemcache and install it as a system library.
#
#   scripts/install.sh [--prefix P] [--libdir DIR] [--destdir D]
#
#   --prefix P    where to install (default /usr/local)
#   --libdir DIR  libraries, pkg-config and CMake files (default P/lib; a
#                 relative DIR is taken under P)
#   --destdir D   stage the files under D (for packaging): D/P/...
#
# Installs, with cargo-c (`cargo cinstall`, built by install-cargo-c.sh if
# missing) and the `dist` profile (release without debug info):
#   P/include/pymemcache.h                 (and pymemcache.hpp when include/ has it)
#   P/lib/libpymemcache.so.X.Y.Z, .so.X and .so links (soname libpymemcache.so.X)
#   P/lib/libpymemcache.a                  (debug info stripped)
#   P/lib/pkgconfig/pymemcache.pc          shared; --static adds the Libs.private
#   P/lib/pkgconfig/pymemcache-static.pc   the static library, for `pkg-config --libs`
#   P/lib/cmake/pymemcache/pymemcacheConfig.cmake, pymemcacheConfigVersion.cmake
#                                          find_package(pymemcache CONFIG): targets
#                                          pymemcache::pymemcache, pymemcache::pymemcache_static
#   P/bin/pmc, P/share/man/man1/pmc.1      the command-line tool and its man page
# and runs ldconfig when it installed as root into a directory the dynamic
# loader searches.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

prefix=/usr/local
libdir=lib
destdir=
while [ $# -gt 0 ]; do
  case $1 in
  --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
  --prefix=*) prefix=${1#*=}; shift ;;
  --libdir) libdir=${2:?--libdir needs a directory}; shift 2 ;;
  --libdir=*) libdir=${1#*=}; shift ;;
  --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
  --destdir=*) destdir=${1#*=}; shift ;;
  -h | --help) usage 0 ;;
  *) echo "install.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
done
prefix=$(realpath -m "$prefix")
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
libdir=$(realpath -m "$libdir")
includedir=$prefix/include
[ -z "$destdir" ] || destdir=$(realpath -m "$destdir")
stage=$destdir   # prepended to every path written below

step() { printf '==== %s\n' "$*"; }

"$root/scripts/install-cargo-c.sh"

# ---- the library, its headers and pymemcache.pc (cargo-c) -----------------
step "cargo cinstall --profile dist --prefix $prefix --libdir $libdir${destdir:+ --destdir $destdir}"
cinstall=(cargo cinstall --profile dist --prefix "$prefix" --libdir "$libdir")
[ -z "$destdir" ] || cinstall+=(--destdir "$destdir")
(cd "$root" && "${cinstall[@]}")

# cargo-c installs an include pattern that matches nothing without a word:
# the C header must be there, the C++ one is optional.
[ -f "$stage$includedir/pymemcache.h" ] ||
  { echo "install.sh: $stage$includedir/pymemcache.h was not installed" >&2; exit 1; }
if [ -f "$stage$includedir/pymemcache.hpp" ]; then
  echo "C++ header: $includedir/pymemcache.hpp"
else
  echo "C++ header: none in include/ (pymemcache.hpp), so none installed"
fi

pc=$stage$libdir/pkgconfig/pymemcache.pc
so=$(cd "$stage$libdir" && ls libpymemcache.so.*.*.* 2>/dev/null | head -n 1 || true)
[ -f "$pc" ] && [ -n "$so" ] && [ -f "$stage$libdir/libpymemcache.a" ] ||
  { echo "install.sh: cargo cinstall did not install the libraries and pymemcache.pc in $stage$libdir" >&2; exit 1; }
version=${so#libpymemcache.so.}
soname=$(readelf -d "$stage$libdir/$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
# The system libraries rustc says the static library needs.
libs_private=$(sed -n 's/^Libs\.private: *//p' "$pc")

# The standard library inside the .a brings its debug info along (the
# dist profile has none of its own): strip it, as Debian's dh_strip does.
if command -v strip >/dev/null; then
  strip --strip-debug "$stage$libdir/libpymemcache.a"
else
  echo "strip not found: libpymemcache.a keeps the standard library's debug info"
fi

# ---- pymemcache-static.pc ---------------------------------------------------
# `pkg-config --static --libs pymemcache` still says -lpymemcache, which the
# linker resolves to the .so while both are installed; this module names the
# archive itself.
step "pymemcache-static.pc"
sed -e '/^Libs\.private:/d' \
    -e 's/^Name: .*/& (static)/' \
    -e "s|^Libs: .*|Libs: \${libdir}/libpymemcache.a $libs_private|" \
    "$pc" >"$stage$libdir/pkgconfig/pymemcache-static.pc"

# ---- CMake package (cargo-c writes none) -------------------------------------
step "CMake package: $libdir/cmake/pymemcache"
if command -v cmake >/dev/null; then
  static_libs=$(sed 's/\(^\| \)-l/\1/g; s/ \+/;/g' <<<"$libs_private")
  pointer_bits=$(rustc --print cfg | sed -n 's/^target_pointer_width="\(.*\)"$/\1/p')
  cmake -DPMC_PREFIX="$prefix" -DPMC_LIBDIR="$libdir" -DPMC_INCLUDEDIR="$includedir" \
    -DPMC_VERSION="$version" -DPMC_SONAME="$soname" -DPMC_STATIC_LIBS="$static_libs" \
    -DPMC_POINTER_BYTES=$((pointer_bits / 8)) -DPMC_DESTDIR="$destdir" \
    -P "$root/cmake/write-package-config.cmake"
else
  echo "cmake not found: the CMake package (find_package(pymemcache)) was not written" >&2
fi

# ---- the pmc command-line tool -----------------------------------------------
# Built with the same `dist` profile and target directory as the library
# above, so the dependencies are not compiled again.
step "cargo install pmc --root $prefix"
cargo install --quiet --locked --path "$root" --profile dist --bin pmc --force \
  --target "$(rustc -vV | sed -n 's/^host: //p')" --target-dir "$root/target" \
  --root "$stage$prefix" --no-track
mkdir -p "$stage$prefix/share/man/man1"
"$stage$prefix/bin/pmc" man >"$stage$prefix/share/man/man1/pmc.1"

# ---- the dynamic loader's cache ----------------------------------------------
loader_dirs=
if [ -z "$destdir" ] && [ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then
  loader_dirs=$(ldconfig -v -N 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p' || true)
fi
if grep -qxF "$libdir" <<<"$loader_dirs"; then
  step "ldconfig ($libdir is searched by the dynamic loader)"
  ldconfig
fi

step "installed"
{
  find "$stage$includedir" -maxdepth 1 -name 'pymemcache*'
  find "$stage$libdir" -maxdepth 1 -name 'libpymemcache*'
  find "$stage$libdir/pkgconfig" "$stage$libdir/cmake" -path '*pymemcache*' \( -type f -o -type l \)
  ls "$stage$prefix/bin/pmc" "$stage$prefix/share/man/man1/pmc.1"
} | sort | sed 's/^/  /'

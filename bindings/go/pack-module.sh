#!/usr/bin/env bash
# Packs the Go module in bindings/go/pymemcache as a Go module proxy on disk
# (the layout `go get` downloads from: @v/list, .info, .mod, .zip), so that
# a program outside the checkout depends on the module by its path and
# version only:
#
#   bindings/go/pack-module.sh VERSION PROXY_DIR
#   GOPROXY=file://PROXY_DIR GOSUMDB=off go get github.com/pymemcache-rs/pymemcache-rs/bindings/go/pymemcache@vVERSION
set -euo pipefail
version=${1:?usage: pack-module.sh VERSION PROXY_DIR}
proxy=${2:?usage: pack-module.sh VERSION PROXY_DIR}
version=v${version#v}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/pymemcache" && pwd)
mod=$(sed -n 's/^module //p' "$src/go.mod")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/$mod@$version"
cp "$src"/go.mod "$src"/*.go "$stage/$mod@$version/"
mkdir -p "$proxy/$mod/@v"
rm -f "$proxy/$mod/@v/$version.zip"
(cd "$stage" && zip -qrX "$proxy/$mod/@v/$version.zip" "$mod@$version")
cp "$src/go.mod" "$proxy/$mod/@v/$version.mod"
printf '{"Version":"%s","Time":"%s"}\n' "$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$proxy/$mod/@v/$version.info"
echo "$version" >"$proxy/$mod/@v/list"
echo "$mod@$version -> $proxy"

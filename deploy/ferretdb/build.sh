#!/usr/bin/env bash
# Build the local FerretDB image (MongoDB wire protocol, SQLite backend) from the Go module
# proxy, because no container registry is reachable here (no `mongo` image).
#
#   deploy/ferretdb/build.sh [patched|stock]        build that variant if the engine lacks it
#   deploy/ferretdb/build.sh image [patched|stock]  print that variant's image name
#
# patched (the default, the stack's MongoDB stand-in): FerretDB with the patch set in
# deploy/ferretdb/patches/ applied (see its README). Its tag carries a hash of the patch set,
# so a changed patch set is a new image that every machine builds once. stock: the module
# as published, kept for the differential test that compares the two.
#
# The FerretDB version is defined once, below (newest 1.24 patch on the proxy; 1.x is the
# last line with the embedded SQLite backend; the proxy here refuses version listing, so
# check a candidate with `go list -m -json github.com/FerretDB/FerretDB@v1.24.N`).
# Env: BADGES_ENGINE (podman|docker, default podman), BADGES_STATE_DIR (default
# <repo>/.state). Go's own
# GOMODCACHE/GOCACHE/GOPROXY apply (defaults: the user's Go caches, shared with other builds).
# With podman, CONTAINERS_CONF must point at the project's conf: eval "$(deploy/engine.sh env)".
#
# Why not a bare `go install github.com/FerretDB/FerretDB/cmd/ferretdb@VERSION`: (1) FerretDB
# reads its version from build/version/version.txt, embedded at build time and absent from
# the module zip, and a binary built without it panics at start-up ("Invalid
# build/version/version.txt file content"); (2) `go install pkg@version` also reads the
# module's version list (deprecation check), which a filtering proxy may refuse (403 here),
# while `go mod download MODULE@VERSION` only reads that version. So the module source is
# taken from the module cache (`go mod download`, same proxy, same checksums), copied into
# the state folder, given version.txt/commit.txt, and built there with `go build` (its
# go.sum pins every dependency). The binary lands in the state folder only, and the build
# folder is removed afterwards.
#
# Wait for readiness on the log line "Listening on TCP" (FerretDB logs to stderr).
set -euo pipefail

FERRETDB_VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB

ferret_dir=$(cd "$(dirname "$0")" && pwd)
here=$(cd "$ferret_dir/../.." && pwd)
state=${BADGES_STATE_DIR:-$here/.state}
ENGINE=${BADGES_ENGINE:-podman}
# shellcheck source=../lib.sh
. "$ferret_dir/../lib.sh"
patches=("$ferret_dir"/patches/*.patch)

image_name() {
  case "$1" in
    stock) echo "localhost/badges-ferretdb:${FERRETDB_VERSION#v}" ;;
    patched)
      local id
      id=$(cat "${patches[@]}" | sha256sum | cut -c1-8)
      echo "localhost/badges-ferretdb:${FERRETDB_VERSION#v}-p$id" ;;
    *) echo "usage: $0 [image] [patched|stock]" >&2; exit 2 ;;
  esac
}

if [ "${1:-}" = image ]; then
  image_name "${2:-patched}"
  exit 0
fi
VARIANT=${1:-patched}
IMAGE=$(image_name "$VARIANT")

if "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "ferretdb: $IMAGE already present" >&2
  exit 0
fi

start=$(date +%s)

GO=$(command -v go || true)
GO=${GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || { echo "ferretdb: no Go toolchain (go, /usr/local/go/bin/go)" >&2; exit 1; }
# The module asks for go 1.24 (toolchain go1.24.3); a newer local Go builds it and
# GOTOOLCHAIN=local stops Go from trying to download another toolchain.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

echo "ferretdb: downloading $MODULE@$FERRETDB_VERSION from ${GOPROXY:-$("$GO" env GOPROXY)}" >&2
mkdir -p "$state"
meta=$(cd "$state" && "$GO" mod download -json "$MODULE@$FERRETDB_VERSION")
src=$(printf '%s\n' "$meta" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)
commit=$(printf '%s\n' "$meta" | sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]\{40\}\)".*/\1/p' | head -n1)
[ -n "$src" ] && [ -d "$src" ] || { echo "ferretdb: go mod download gave no Dir:" >&2; echo "$meta" >&2; exit 1; }

install_missing ferretdb patch
work=$state/ferretdb-build/$FERRETDB_VERSION-$VARIANT
rm -rf "$work"
mkdir -p "$work/ctx/state" "$work/ctx/tmp"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"; rmdir "$state/ferretdb-build" 2>/dev/null || true' EXIT
cp -R "$src" "$work/src"
chmod -R u+w "$work/src"   # module cache files are read-only
printf '%s\n' "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
[ -z "$commit" ] || printf '%s\n' "$commit" >"$work/src/build/version/commit.txt"
printf 'local\n' >"$work/src/build/version/package.txt"
if [ "$VARIANT" = patched ]; then
  for patch in "${patches[@]}"; do
    echo "ferretdb: applying $(basename "$patch")" >&2
    patch --quiet --forward --batch -p1 -d "$work/src" <"$patch"
  done
fi
dl_done=$(date +%s)

echo "ferretdb: go build (static, CGO_ENABLED=0)" >&2
(cd "$work/src" && "$GO" build -trimpath -ldflags='-s -w' -o "$work/ctx/ferretdb" ./cmd/ferretdb)
"$work/ctx/ferretdb" --version >&2
go_done=$(date +%s)

cp "$ferret_dir/Containerfile" "$work/ctx/"
echo "ferretdb: building $IMAGE" >&2
"$ENGINE" build -t "$IMAGE" -f "$work/ctx/Containerfile" \
  --build-arg "FERRETDB_VERSION=${FERRETDB_VERSION#v}" "$work/ctx" >&2
end=$(date +%s)

echo "ferretdb: built $IMAGE in $((end - start))s (download $((dl_done - start))s," \
     "go build $((go_done - dl_done))s, image $((end - go_done))s)" >&2

#!/usr/bin/env bash
# Print the rendered production manifests (deploy/k8s, or the kustomization folder given).
#
#   deploy/k8s/render.sh [DIR]      kustomize build DIR (default: this folder)
#   deploy/k8s/render.sh path       print the kustomize binary's path (building it if needed)
#
# kustomize is built once from the Go module proxy into <state>/bin (no download site or
# container registry is reachable here); later calls reuse it. Its module cache lives under
# <state>/go too, writable (-modcacherw) so that `make clean` can remove it.
# Env: BADGES_STATE_DIR (default <repo>/.state); Go's GOPROXY and GOCACHE apply.
set -euo pipefail

# Newest kustomize/v5 release that builds with this machine's Go (1.26; it asks for 1.24).
KUSTOMIZE_VERSION=v5.8.0

k8s_dir=$(cd "$(dirname "$0")" && pwd)
here=$(cd "$k8s_dir/../.." && pwd)
state=${BADGES_STATE_DIR:-$here/.state}
bin=$state/bin/kustomize-$KUSTOMIZE_VERSION

if [ ! -x "$bin" ]; then
  GO=$(command -v go || true)
  GO=${GO:-/usr/local/go/bin/go}
  [ -x "$GO" ] || { echo "render: no Go toolchain (go, /usr/local/go/bin/go)" >&2; exit 1; }
  echo "render: building kustomize $KUSTOMIZE_VERSION from the Go module proxy" >&2
  mkdir -p "$state/bin" "$state/go"
  tmpbin=$(mktemp -d "$state/bin/.build.XXXXXX")
  trap 'rm -rf "$tmpbin"' EXIT
  # GOTOOLCHAIN=local: never fetch another Go; GOBIN: the binary lands in the state folder.
  GOTOOLCHAIN=local GOPATH="$state/go" GOFLAGS=-modcacherw GOBIN="$tmpbin" CGO_ENABLED=0 \
    "$GO" install -trimpath -ldflags='-s -w' "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  mv "$tmpbin/kustomize" "$bin"
fi

if [ "${1:-}" = path ]; then
  echo "$bin"
  exit 0
fi
exec "$bin" build "${1:-$k8s_dir}"

#!/usr/bin/env bash
# Build the worker image from wheels built on the host, and name it for the tests and compose.
#
#   deploy/worker/build.sh         build the image if missing; print `export BADGES_WORKER_IMAGE=...`
#   deploy/worker/build.sh image   print the image name only
#
# Tag: <version from pyproject>-s<hash>, the hash over everything that goes into the image
# (the pyproject.toml files with their exact pins, requirements/runtime.lock, service/,
# schemas/, this folder), so a changed source is a new tag that gets built, and an unchanged
# one reuses the image without building a wheel.
# The same image is also tagged localhost/badges-worker:<version> (the latest build).
# Base: with Docker the official python:3.11-slim, with podman the project's Debian bookworm
# + python3 (3.11) built by deploy/debian-base.sh; BADGES_PYTHON_BASE_IMAGE overrides either.
# The name is always derived, never taken from BADGES_WORKER_IMAGE: an exported name from an
# earlier build would otherwise hide every later source change.
# Env: BADGES_ENGINE (podman|docker, default podman), BADGES_STATE_DIR,
# BADGES_WHEEL_PYTHON. With podman: eval "$(deploy/engine.sh env)" first.
set -euo pipefail

worker_dir=$(cd "$(dirname "$0")" && pwd)
here=$(cd "$worker_dir/../.." && pwd)
state=${BADGES_STATE_DIR:-$here/.state}
ENGINE=${BADGES_ENGINE:-podman}
# pip for the wheel build: the project's virtualenv (make install), or BADGES_WHEEL_PYTHON.
PYTHON=${BADGES_WHEEL_PYTHON:-$here/.venv/bin/python}

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/pyproject.toml" | head -n1)
[ -n "$version" ] || { echo "worker-image: no version in pyproject.toml" >&2; exit 1; }
# Not inputs: setuptools' leftovers of a local `pip install` (build/, *.egg-info), whose
# stale build/lib would be packed in place of the source (and change the hash).
inputs() {
  (cd "$here" && find pyproject.toml requirements/runtime.lock service schemas deploy/worker \
     -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -name '*.md' \
     ! -path '*/build/*' ! -path '*.egg-info/*' | LC_ALL=C sort)
}
source_hash=$(cd "$here" && inputs | xargs sha256sum | sha256sum | cut -c1-10)
IMAGE=localhost/badges-worker:$version-s$source_hash
if [ "${1:-}" = image ]; then
  echo "$IMAGE"
  exit 0
fi

if "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "worker-image: $IMAGE already present" >&2
  echo "export BADGES_WORKER_IMAGE=$IMAGE"
  exit 0
fi

start=$(date +%s)
if [ "$ENGINE" = docker ]; then
  base=${BADGES_PYTHON_BASE_IMAGE:-python:3.11-slim}
  format=()
else
  base=${BADGES_PYTHON_BASE_IMAGE:-localhost/badges-python311:bookworm}
  [ -n "${BADGES_PYTHON_BASE_IMAGE:-}" ] || "$here/deploy/debian-base.sh" "$base" python3
  format=(--format docker)  # podman drops HEALTHCHECK from OCI-format images
fi
base_done=$(date +%s)

# The source is copied out first so the wheel build leaves no build/ or egg-info in the tree.
ctx=$state/worker-build/$version-s$source_hash
rm -rf "$ctx"
mkdir -p "$ctx/src" "$ctx/wheels"
trap 'rm -rf "$ctx"' EXIT
# The folders' README.md files are docs only (not hashed, not copied), so docs edits don't
# rebuild; the root README.md is the package's long description: copied, not hashed.
(cd "$here" && { inputs | grep -v '^deploy/'; echo README.md; } | xargs cp --parents -t "$ctx/src")
echo "worker-image: building wheels" >&2
# Third-party wheels (pip's own included) only as the lock names them, each checked against its
# hash; then the three local projects (the contracts and the SDK are distributions of their
# own, which the service depends on) without dependencies, so none is looked up on an index,
# built by the wheel python's setuptools (locked in requirements/dev.lock).
pip_wheel=("$PYTHON" -m pip wheel -q --disable-pip-version-check --wheel-dir "$ctx/wheels")
"${pip_wheel[@]}" --require-hashes --only-binary :all: -r "$ctx/src/requirements/runtime.lock" >&2
"${pip_wheel[@]}" --no-deps --no-build-isolation \
  "$ctx/src/schemas" "$ctx/src/service/client" "$ctx/src" >&2
cp "$worker_dir/Containerfile" "$ctx/"
wheels_done=$(date +%s)

echo "worker-image: building $IMAGE from $base" >&2
"$ENGINE" build "${format[@]}" -t "$IMAGE" -t "localhost/badges-worker:$version" \
  --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" \
  -f "$ctx/Containerfile" "$ctx" >&2
end=$(date +%s)
echo "worker-image: built $IMAGE in $((end - start))s (base $((base_done - start))s," \
     "wheels $((wheels_done - base_done))s, image $((end - wheels_done))s)" >&2
echo "export BADGES_WORKER_IMAGE=$IMAGE"

#!/usr/bin/env bash
# What the tests, `make run` and `make demo` need, as `export` lines for `eval`:
#
#   eval "$(deploy/stack.sh env)"
#
# - BADGES_TEST_KAFKA_BOOTSTRAP and BADGES_TEST_MONGO_URL both set: use those servers,
#   start nothing.
# - a Docker engine with a registry (laptop, hosted CI): the official images apache/kafka
#   and mongo, unless BADGES_KAFKA_IMAGE / BADGES_MONGO_IMAGE say otherwise, or
#   BADGES_BUILD_IMAGES=1 asks for the local builds.
# - otherwise podman, and images built locally from package registries (deploy/images.sh).
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)

[ "${1:-}" = env ] || { echo "usage: $0 env" >&2; exit 2; }

if [ -n "${BADGES_TEST_KAFKA_BOOTSTRAP:-}" ] && [ -n "${BADGES_TEST_MONGO_URL:-}" ]; then
  echo "# using the servers in BADGES_TEST_KAFKA_BOOTSTRAP and BADGES_TEST_MONGO_URL"
  exit 0
fi
engine_env=$("$deploy/engine.sh" env)
echo "$engine_env"
eval "$engine_env"
if [ "$BADGES_ENGINE" = docker ] && [ "${BADGES_BUILD_IMAGES:-0}" != 1 ]; then
  echo "export BADGES_KAFKA_IMAGE=${BADGES_KAFKA_IMAGE:-apache/kafka:4.1.1}"
  echo "export BADGES_MONGO_IMAGE=${BADGES_MONGO_IMAGE:-mongo:8.0}"
else
  "$deploy/images.sh"
fi

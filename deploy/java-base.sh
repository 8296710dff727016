#!/usr/bin/env bash
# Build the local Java 17 base image (Debian bookworm + openjdk-17-jre-headless) from the
# Debian mirror with debootstrap (deploy/debian-base.sh), because no container registry is
# reachable here.
#
#   deploy/java-base.sh        build ${BADGES_JAVA_BASE_IMAGE} if the engine lacks it
#
# Env: BADGES_ENGINE (podman|docker, default podman), BADGES_JAVA_BASE_IMAGE
# (default localhost/badges-java17:bookworm), BADGES_STATE_DIR (default <repo>/.state).
# With podman, CONTAINERS_CONF must point at the project's conf: eval "$(deploy/engine.sh env)".
set -euo pipefail

deploy=$(cd "$(dirname "$0")" && pwd)
exec "$deploy/debian-base.sh" "${BADGES_JAVA_BASE_IMAGE:-localhost/badges-java17:bookworm}" \
  openjdk-17-jre-headless

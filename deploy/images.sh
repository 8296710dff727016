#!/usr/bin/env bash
# Build the local infrastructure images if missing and print `export` lines naming them.
# Needs the engine environment: eval "$(deploy/engine.sh env)" first.
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)

kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$deploy/kafka/pom.xml" | head -n1)
ferretdb_version=$(sed -n 's/^FERRETDB_VERSION=v//p' "$deploy/ferretdb/build.sh")
export BADGES_KAFKA_IMAGE=${BADGES_KAFKA_IMAGE:-localhost/badges-kafka:$kafka_version}
export BADGES_MONGO_IMAGE=${BADGES_MONGO_IMAGE:-localhost/badges-ferretdb:$ferretdb_version}

"$deploy/kafka/build.sh" >&2
"$deploy/ferretdb/build.sh" >&2
echo "export BADGES_KAFKA_IMAGE=$BADGES_KAFKA_IMAGE"
echo "export BADGES_MONGO_IMAGE=$BADGES_MONGO_IMAGE"

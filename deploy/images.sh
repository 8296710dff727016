#!/usr/bin/env bash
# Build the local infrastructure images if missing and print `export` lines naming them.
# Needs the engine environment: eval "$(deploy/engine.sh env)" first.
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)

export BADGES_KAFKA_IMAGE=${BADGES_KAFKA_IMAGE:-$("$deploy/kafka/build.sh" image)}
# The stack's MongoDB stand-in is the patched FerretDB; the stock build is only for the
# differential test (tests/integration/test_ferretdb_patches.py).
BADGES_MONGO_IMAGE=${BADGES_MONGO_IMAGE:-$("$deploy/ferretdb/build.sh" image patched)}
BADGES_FERRETDB_STOCK_IMAGE=${BADGES_FERRETDB_STOCK_IMAGE:-$("$deploy/ferretdb/build.sh" image stock)}

"$deploy/kafka/build.sh" >&2
"$deploy/ferretdb/build.sh" patched >&2
"$deploy/ferretdb/build.sh" stock >&2
echo "export BADGES_KAFKA_IMAGE=$BADGES_KAFKA_IMAGE"
echo "export BADGES_MONGO_IMAGE=$BADGES_MONGO_IMAGE"
echo "export BADGES_FERRETDB_STOCK_IMAGE=$BADGES_FERRETDB_STOCK_IMAGE"

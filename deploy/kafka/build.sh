#!/usr/bin/env bash
# Build the local Apache Kafka broker image from Maven Central (no registry image reachable).
#
#   deploy/kafka/build.sh        build ${BADGES_KAFKA_IMAGE} if the engine lacks it
#   deploy/kafka/build.sh image  print the default image name
#
# The Kafka version is defined once: <kafka.version> in deploy/kafka/pom.xml. The default tag
# is <kafka.version>-e<hash of Containerfile and entrypoint.sh>, so a changed entrypoint is a
# new image that every machine builds once (an old image would lack what the fixtures use).
# Env: BADGES_ENGINE (podman|docker, default podman), BADGES_KAFKA_IMAGE (default: that
# name), BADGES_JAVA_BASE_IMAGE, BADGES_STATE_DIR.
# With podman, CONTAINERS_CONF must point at the project's conf: eval "$(deploy/engine.sh env)".
# Jars go to a build context under the state folder, never into the repository tree.
set -euo pipefail

kafka_dir=$(cd "$(dirname "$0")" && pwd)
here=$(cd "$kafka_dir/../.." && pwd)
state=${BADGES_STATE_DIR:-$here/.state}
ENGINE=${BADGES_ENGINE:-podman}
# shellcheck source=deploy/lib.sh
source "$here/deploy/lib.sh"
export BADGES_JAVA_BASE_IMAGE=${BADGES_JAVA_BASE_IMAGE:-localhost/badges-java17:bookworm}

version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$kafka_dir/pom.xml" | head -n1)
[ -n "$version" ] || { echo "kafka: no <kafka.version> in $kafka_dir/pom.xml" >&2; exit 1; }
image_id=$(cat "$kafka_dir/Containerfile" "$kafka_dir/entrypoint.sh" | sha256sum | cut -c1-8)
if [ "${1:-}" = image ]; then
  echo "localhost/badges-kafka:$version-e$image_id"
  exit 0
fi
IMAGE=${BADGES_KAFKA_IMAGE:-localhost/badges-kafka:$version-e$image_id}

if "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "kafka: $IMAGE already present" >&2
  exit 0
fi

start=$(date +%s)
"$kafka_dir/../java-base.sh"
base_done=$(date +%s)

install_missing kafka maven=mvn

ctx=$state/kafka-build/$version
rm -rf "$ctx"
mkdir -p "$ctx/libs"
echo "kafka: resolving Kafka $version runtime jars from Maven Central" >&2
# -f pom: the pom's folder gets no target/ (packaging pom, only copy-dependencies runs).
mvn -q -B -f "$kafka_dir/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$ctx/libs" >&2
cp "$kafka_dir/Containerfile" "$kafka_dir/entrypoint.sh" "$ctx/"
chmod 0755 "$ctx/entrypoint.sh"
mvn_done=$(date +%s)

echo "kafka: building $IMAGE" >&2
"$ENGINE" build -t "$IMAGE" -f "$ctx/Containerfile" \
  --build-arg "JAVA_BASE_IMAGE=$BADGES_JAVA_BASE_IMAGE" \
  --build-arg "KAFKA_VERSION=$version" "$ctx" >&2
rm -rf "$ctx"
end=$(date +%s)

echo "kafka: built $IMAGE in $((end - start))s (base $((base_done - start))s," \
     "maven $((mvn_done - base_done))s, image $((end - mvn_done))s)" >&2

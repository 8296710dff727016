#!/usr/bin/env bash
# Build a local Debian bookworm base image from the Debian mirror with debootstrap, because
# no container registry is reachable here.
#
#   deploy/debian-base.sh IMAGE PACKAGE...   build IMAGE (minbase + PACKAGEs) if the engine lacks it
#
# Env: BADGES_ENGINE (podman|docker, default podman), BADGES_STATE_DIR (default <repo>/.state).
# With podman, CONTAINERS_CONF must point at the project's conf: eval "$(deploy/engine.sh env)".
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
state=${BADGES_STATE_DIR:-$here/.state}
ENGINE=${BADGES_ENGINE:-podman}
# shellcheck source=deploy/lib.sh
source "$here/deploy/lib.sh"
[ $# -ge 2 ] || { echo "usage: $0 IMAGE PACKAGE..." >&2; exit 2; }
IMAGE=$1
shift
packages=$(IFS=,; echo "$*")

if "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "debian-base: $IMAGE already present" >&2
  exit 0
fi

start=$(date +%s)

install_missing debian-base debootstrap

# First URIs entry of the Debian sources (deb822), else the public mirror.
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$state"
work=$(mktemp -d "$state/debian-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

echo "debian-base: debootstrap bookworm + $packages from $mirror" >&2
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >&2

# Cheap slimming: package caches, apt lists, docs, man pages, non-English locales.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
       "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'en*' ! -name locale.alias \
  -exec rm -rf {} + 2>/dev/null || true

echo "debian-base: importing $IMAGE" >&2
tar -C "$rootfs" -c . | "$ENGINE" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$IMAGE" >/dev/null

echo "debian-base: built $IMAGE in $(( $(date +%s) - start ))s" >&2

#!/usr/bin/env bash
# Container engine for tests, `make run` and image builds.
#
#   deploy/engine.sh env    ensure an engine is reachable; print `export` lines for it
#   deploy/engine.sh stop   stop the containers the project labelled and the podman
#                           API service this script started
#
# A reachable Docker engine (DOCKER_HOST or the default socket) is used as it is.
# Otherwise podman (Debian's) is installed if missing and its Docker-compatible API is
# served on a socket inside the project's state folder, configured by a project-owned
# containers.conf: nothing under /etc is changed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
state=${BADGES_STATE_DIR:-$here/.state}
sock=$state/podman.sock
conf=$state/containers.conf
label=io.badges.project=badges-service
# shellcheck source=deploy/lib.sh
source "$here/deploy/lib.sh"

docker_reachable() {
  command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

write_conf() {
  mkdir -p "$state"
  # crun fails here (hybrid cgroups) and the sandbox may not raise rlimits.
  cat >"$conf" <<CONF
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONF
}

socket_alive() {
  [ -S "$sock" ] && timeout 5 curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1
}

start_podman_service() {
  socket_alive && return
  rm -f "$sock"
  CONTAINERS_CONF=$conf nohup podman system service --time=0 "unix://$sock" \
    >"$state/podman-service.log" 2>&1 &
  echo $! >"$state/podman-service.pid"
  for _ in $(seq 1 100); do socket_alive && return; sleep 0.1; done
  echo "engine: podman API did not answer on $sock within 10 s; see $state/podman-service.log" >&2
  exit 1
}

cmd_env() {
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix://$sock" ] && docker_reachable; then
    echo "export BADGES_ENGINE=docker"
    return
  fi
  if [ -z "${DOCKER_HOST:-}" ] && [ -S /var/run/docker.sock ] && docker_reachable; then
    echo "export BADGES_ENGINE=docker"
    return
  fi
  install_missing engine podman runc
  write_conf
  start_podman_service
  cat <<ENV
export BADGES_ENGINE=podman
export CONTAINERS_CONF=$conf
export DOCKER_HOST=unix://$sock
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_CONNECTION_MODE=docker_host
ENV
}

cmd_stop() {
  local engine ids
  for engine in podman docker; do
    command -v "$engine" >/dev/null 2>&1 || continue
    [ "$engine" = docker ] && ! docker_reachable && continue
    ids=$(CONTAINERS_CONF=$conf $engine ps -aq --filter "label=$label" 2>/dev/null || true)
    [ -n "$ids" ] && CONTAINERS_CONF=$conf $engine rm -f $ids >/dev/null && echo "engine: removed $(echo $ids | wc -w) container(s) ($engine)"
  done
  if [ -f "$state/podman-service.pid" ]; then
    kill "$(cat "$state/podman-service.pid")" 2>/dev/null && echo "engine: stopped podman API service"
    rm -f "$state/podman-service.pid" "$sock"
  fi
}

case "${1:-}" in
  env) cmd_env ;;
  stop) cmd_stop ;;
  label) echo "$label" ;;
  *) echo "usage: $0 env|stop|label" >&2; exit 2 ;;
esac

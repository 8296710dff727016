#!/usr/bin/env bash
# `make run`: Kafka and a MongoDB-protocol server as containers, then the worker, the
# REST gateway (127.0.0.1:8080) and the lag exporter (:9308; `make observe` scrapes all three).
#
#   deploy/run.sh          up, the worker and the gateway, down when the worker ends (Ctrl-C)
#   deploy/run.sh up       start the servers, wait until they answer, print `export` lines
#   deploy/run.sh down     remove the containers `up` starts (the named volumes stay)
#   deploy/run.sh worker   only the worker, against the BADGES_* servers
#   deploy/run.sh gateway  only the gateway, against the BADGES_* servers
#   deploy/run.sh purge    delete the named data volumes (`make clean`, after `make stop`)
#
# Needs the engine environment (`make run` does it): eval "$(deploy/stack.sh env)".
# A server configured in the environment (BADGES_KAFKA_BOOTSTRAP_SERVERS,
# BADGES_MONGO_URL) is used as it is: no container is started for it.
#
# Env: BADGES_RUN_KAFKA_PORT (9092), BADGES_RUN_MONGO_PORT (27017): host ports, on
# 127.0.0.1 only, so the CLI's defaults reach the servers from any terminal.
# BADGES_RUN_READY_SECONDS (180): bound on each readiness wait.
#
# deploy/demo.sh sources this file for its functions, after setting RUN_PREFIX (container
# names) and RUN_VOLUMES=0 (throwaway data); the dispatch at the end runs only when this
# file is executed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${BADGES_STATE_DIR:-$here/.state}
python=$here/.venv/bin/python
label=io.badges.project=badges-service   # what `deploy/engine.sh stop` removes

RUN_PREFIX=${RUN_PREFIX:-badges-run}     # containers: $RUN_PREFIX-kafka, $RUN_PREFIX-mongo
RUN_VOLUMES=${RUN_VOLUMES:-1}            # 1: data in named volumes, kept between runs
kafka_port=${BADGES_RUN_KAFKA_PORT:-9092}
mongo_port=${BADGES_RUN_MONGO_PORT:-27017}
ready_seconds=${BADGES_RUN_READY_SECONDS:-180}
kafka_volume=badges-kafka-data
mongo_volume=badges-mongo-data

started=()        # containers this process started, removed by stack_down
worker_pid=""
gateway_pid=""
exporter_pid=""

say() { echo "run: $*" >&2; }
die() { say "error: $*"; exit 1; }

engine() {
  [ -n "${BADGES_ENGINE:-}" ] || die "no container engine: use \`make run\`, or eval \"\$(deploy/stack.sh env)\" first"
  "$BADGES_ENGINE" "$@"
}

container_exists() { engine container inspect "$1" >/dev/null 2>&1; }

# Takes the $RUN_PREFIX-* names: refuses if a live run owns them. What a killed run
# (SIGKILL) left behind is removed by run_container just before it reuses the name.
claim_names() {
  local pidfile=$state/$RUN_PREFIX.pid pid cmd
  mkdir -p "$state"
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)   # empty: the run is gone
    if [ "$pid" != $$ ] && [[ $cmd == *deploy/run.sh* || $cmd == *deploy/demo.sh* ]]; then
      die "another run (pid $pid) owns the $RUN_PREFIX-* containers; stop it first (Ctrl-C there, or make stop)"
    fi
  fi
  echo $$ >"$pidfile"
}

remove_container() {
  container_exists "$1" || return 0
  # stop first: `docker rm -f` kills at once, and Kafka logs recover faster after a clean stop
  engine stop -t 30 "$1" >/dev/null 2>&1 || true
  engine rm -f -v "$1" >/dev/null 2>&1 || true
}

# Same-port mapping, advertised localhost:PORT, RF 1: as tests/infra/containers.py _kafka_env,
# plus log.dirs (our image's default already; apache/kafka's is under /tmp) for the volume.
kafka_env_args() {
  local p=$1
  printf -- '-e\n%s\n' \
    KAFKA_NODE_ID=1 \
    KAFKA_LOG_DIRS=/var/lib/kafka/data \
    KAFKA_PROCESS_ROLES=broker,controller \
    "KAFKA_LISTENERS=PLAINTEXT://0.0.0.0:$p,CONTROLLER://0.0.0.0:9093" \
    "KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:$p" \
    KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
    KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
    KAFKA_CONTROLLER_QUORUM_VOTERS=1@localhost:9093 \
    KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT \
    KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1 \
    KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1 \
    KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 \
    KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0 \
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=1 \
    KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=1
}

# Where the image keeps its data: FerretDB (our build) in /state, mongod in /data/db.
mongo_data_dir() {
  case "$BADGES_MONGO_IMAGE" in
    *ferretdb*) echo /state ;;
    *) echo /data/db ;;
  esac
}

run_container() {   # name image volume-spec inside-port outside-port [engine args...]
  local name=$1 image=$2 volume=$3 inside=$4 outside=$5
  shift 5
  local args=(run -d --name "$name" --label "$label" -p "127.0.0.1:$outside:$inside")
  [ "$RUN_VOLUMES" = 1 ] && args+=(-v "$volume")
  if container_exists "$name"; then
    say "removing stale $name"
    remove_container "$name"
  fi
  say "starting $name ($image) on 127.0.0.1:$outside"
  started+=("$name")
  engine "${args[@]}" "$@" "$image" >/dev/null \
    || die "could not start $name; is port $outside free? (BADGES_RUN_*_PORT picks another)"
}

show_logs_and_die() {   # name message; no name: an external server, no logs to show
  if [ -n "$1" ]; then
    say "last log lines of $1:"
    engine logs --tail 30 "$1" 2>&1 | sed 's/^/  | /' >&2 || true
  fi
  die "$2"
}

wait_for_kafka() {
  local name=$1 deadline=$((SECONDS + ready_seconds)) logs
  while :; do
    # captured, not piped into grep -q: an early grep exit fails the pipe under pipefail
    logs=$(engine logs "$name" 2>&1 || true)
    [[ $logs == *"Kafka Server started"* ]] && break
    [ "$(engine inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] \
      || show_logs_and_die "$name" "Kafka exited before it was ready"
    [ $SECONDS -lt $deadline ] || show_logs_and_die "$name" "Kafka not ready within ${ready_seconds}s"
    sleep 1
  done
  say "Kafka ready at $BADGES_KAFKA_BOOTSTRAP_SERVERS"
}

# Prints the server version once a ping succeeds; exits 1 at the deadline.
mongo_ping() {   # url seconds
  "$python" - "$1" "$2" <<'PY'
import sys, time
from pymongo import MongoClient
from pymongo.errors import PyMongoError
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
client = MongoClient(url, serverSelectionTimeoutMS=1000)
while True:
    try:
        info = client.admin.command("buildInfo")
        print(f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info
              else f"MongoDB {info['version']}")
        break
    except PyMongoError as exc:
        if time.monotonic() > deadline:
            print(f"no answer: {exc}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.5)
PY
}

# The URL as it may be printed: its credentials masked (service/secrets.py).
shown_mongo_url() {
  "$python" -c 'import sys; from service.secrets import mask_url; print(mask_url(sys.argv[1]))' \
    "$BADGES_MONGO_URL"
}

wait_for_mongo() {
  local name=$1 version
  version=$(mongo_ping "$BADGES_MONGO_URL" "$ready_seconds") \
    || show_logs_and_die "$name" "MongoDB server not answering at $(shown_mongo_url) within ${ready_seconds}s"
  say "$version ready at $(shown_mongo_url)"
}

start_kafka() {
  local name=$RUN_PREFIX-kafka
  [ "$kafka_port" != 9093 ] || die "port 9093 is the broker's controller port inside the container; pick another BADGES_RUN_KAFKA_PORT"
  : "${BADGES_KAFKA_IMAGE:?set by deploy/stack.sh env}"
  local env_args
  mapfile -t env_args < <(kafka_env_args "$kafka_port")
  run_container "$name" "$BADGES_KAFKA_IMAGE" "$kafka_volume:/var/lib/kafka/data" \
    "$kafka_port" "$kafka_port" "${env_args[@]}"
  export BADGES_KAFKA_BOOTSTRAP_SERVERS=localhost:$kafka_port
  wait_for_kafka "$name"
}

start_mongo() {
  local name=$RUN_PREFIX-mongo
  : "${BADGES_MONGO_IMAGE:?set by deploy/stack.sh env}"
  run_container "$name" "$BADGES_MONGO_IMAGE" "$mongo_volume:$(mongo_data_dir)" 27017 "$mongo_port"
  export BADGES_MONGO_URL=mongodb://localhost:$mongo_port
  wait_for_mongo "$name"
}

# Exports BADGES_KAFKA_BOOTSTRAP_SERVERS and BADGES_MONGO_URL for the worker and the CLI.
stack_up() {
  claim_names
  if [ -n "${BADGES_KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    say "Kafka: using BADGES_KAFKA_BOOTSTRAP_SERVERS=$BADGES_KAFKA_BOOTSTRAP_SERVERS"
  else
    start_kafka
  fi
  if [ -n "${BADGES_MONGO_URL:-}" ]; then
    say "MongoDB: using BADGES_MONGO_URL=$(shown_mongo_url)"
    wait_for_mongo ""
  else
    start_mongo
  fi
}

# Removes the containers (this process's, or with `all` every $RUN_PREFIX-* one); volumes stay.
stack_down() {
  local names=("${started[@]}") name
  [ "${1:-}" = all ] && names=("$RUN_PREFIX-kafka" "$RUN_PREFIX-mongo")
  for name in "${names[@]}"; do
    if container_exists "$name"; then
      remove_container "$name"
      say "removed $name"
    fi
  done
  started=()
  rm -f "$state/$RUN_PREFIX.pid"
  stop_idle_engine
}

# The podman API service (started by deploy/stack.sh) is a process `make run` leaves behind;
# stop it only when no labelled container is left, so a parallel `make test` keeps it.
stop_idle_engine() {
  [ "${BADGES_ENGINE:-}" = podman ] || return 0
  [ -z "$(engine ps -aq --filter "label=$label" 2>/dev/null)" ] || return 0
  "$here/deploy/engine.sh" stop >&2 || true
}

# shellcheck disable=SC2120  # demo.sh passes the log file
worker_start() {   # [log file]: without one the worker writes to this terminal
  if [ -n "${1:-}" ]; then
    "$python" -m service worker >"$1" 2>&1 &
  else
    "$python" -m service worker &
  fi
  worker_pid=$!
}

# A finished child stays a zombie until waited for, so kill -0 cannot tell it is gone.
process_alive() {   # pid
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $stat != Z* ]]
}

worker_alive() { process_alive "$worker_pid"; }

# SIGTERM, not SIGINT: bash starts background jobs with SIGINT ignored, and until faust
# installs its handlers only SIGTERM would stop the worker. Faust (and uvicorn) stop
# gracefully on it. Bounded by polling, not a `sleep; kill` watchdog: that would leave its
# sleep behind.
process_stop() {   # pid name
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true   # already gone: nothing to stop
  local i
  for ((i = 0; i < 150; i++)); do process_alive "$1" || break; sleep 0.2; done
  if process_alive "$1"; then
    say "$2 still running after 30s: killing it"
    kill -KILL "$1" 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
}

worker_stop() {
  process_stop "$worker_pid" worker
  worker_pid=""
}

# The REST gateway beside the worker, on BADGES_GATEWAY_HOST:PORT (127.0.0.1:8080), with
# the users file of BADGES_GATEWAY_USERS_FILE (.state/gateway-users.json).
gateway_start() {
  export BADGES_GATEWAY_USERS_FILE=${BADGES_GATEWAY_USERS_FILE:-$state/gateway-users.json}
  if [ ! -f "$BADGES_GATEWAY_USERS_FILE" ]; then
    say "no gateway users yet ($BADGES_GATEWAY_USERS_FILE): every call gets 401 until you add"
    say "one (password on stdin; the gateway reads the file again when it changes):"
    say "  BADGES_GATEWAY_USERS_FILE=$BADGES_GATEWAY_USERS_FILE .venv/bin/badges gateway-user add --name NAME --org-id ORG --user-id USER"
  fi
  "$python" -m service gateway &
  gateway_pid=$!
}

gateway_stop() {
  process_stop "$gateway_pid" gateway
  gateway_pid=""
}

# The lag exporter: the worker's consumer-group lag read from Kafka, on :9308/metrics.
exporter_start() {
  "$python" -m service lag-exporter &
  exporter_pid=$!
}

exporter_stop() {
  process_stop "$exporter_pid" lag-exporter
  exporter_pid=""
}

# Needs no engine environment: `make clean` calls it without deploy/stack.sh.
purge_volumes() {
  local engine volume
  for engine in podman docker; do
    command -v "$engine" >/dev/null 2>&1 || continue
    [ "$engine" = docker ] && ! timeout 10 docker info >/dev/null 2>&1 && continue
    for volume in "$kafka_volume" "$mongo_volume"; do
      CONTAINERS_CONF=$state/containers.conf "$engine" volume inspect "$volume" >/dev/null 2>&1 || continue
      # no -f: podman's would also delete containers using it; in use, this fails loudly
      CONTAINERS_CONF=$state/containers.conf "$engine" volume rm "$volume" >/dev/null \
        && say "deleted volume $volume ($engine)"
    done
  done
}

cleanup() {
  local status=$?
  # Nothing may cut the cleanup short: not a second Ctrl-C, not a failing command, not a
  # reader of our output that Ctrl-C killed too (`make run | tee`: SIGPIPE on every echo).
  set +e
  trap '' INT TERM HUP PIPE
  exporter_stop
  gateway_stop
  worker_stop
  stack_down
  exit "$status"
}

interrupted=0

main() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP   # while starting: stop at once, the EXIT trap cleans up
  stack_up
  say "starting the worker, the gateway and the lag exporter (Ctrl-C stops them and the containers; volumes are kept)"
  # shellcheck disable=SC2119  # no log file: the worker logs to this terminal
  worker_start
  gateway_start
  exporter_start
  # The trap only records the signal; `wait` returns at once and the worker gets SIGTERM
  # from cleanup. (Ctrl-C also reaches the worker itself: a second stop is harmless.)
  trap 'interrupted=1' INT TERM HUP
  local status=0
  wait "$worker_pid" || status=$?
  if [ "$interrupted" = 1 ]; then
    say "stopping"
    status=0
  else
    worker_pid=""
    say "worker exited with status $status"
  fi
  exit "$status"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    "") main ;;
    up)
      trap '[ $? = 0 ] || stack_down' EXIT   # a failed start leaves nothing behind
      stack_up
      trap - EXIT
      rm -f "$state/$RUN_PREFIX.pid"   # the containers outlive this command
      echo "export BADGES_KAFKA_BOOTSTRAP_SERVERS=$BADGES_KAFKA_BOOTSTRAP_SERVERS"
      echo "export BADGES_MONGO_URL=$BADGES_MONGO_URL"
      ;;
    down) stack_down all ;;
    purge) purge_volumes ;;
    worker) exec "$python" -m service worker ;;
    gateway) exec "$python" -m service gateway ;;
    -h|--help|help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) echo "usage: $0 [up|down|worker|gateway|purge]" >&2; exit 2 ;;
  esac
fi

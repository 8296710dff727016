#!/usr/bin/env bash
# `make demo`: the real flow end to end. Starts throwaway Kafka and MongoDB-protocol
# containers (deploy/run.sh's functions, other names and free ports, so a `make run` in
# another terminal is untouched), a worker in the background (log: .state/demo-worker.log),
# then drives the `badges` CLI through eight outcomes and checks each one.
# Exit 0 only if all eight are as expected; everything it started is stopped in every case.
#
# Needs the engine environment (`make demo` does it): eval "$(deploy/stack.sh env)".
# BADGES_KAFKA_BOOTSTRAP_SERVERS / BADGES_MONGO_URL set: those servers are used instead.
set -euo pipefail

RUN_PREFIX="badges-demo" # containers badges-demo-kafka / -mongo, never the run ones
RUN_VOLUMES=0            # throwaway data: the demo leaves no volume behind
# shellcheck source=deploy/run.sh
source "$(dirname "$0")/run.sh"

badges=$here/.venv/bin/badges
worker_log=$state/demo-worker.log
org=$((RANDOM * 32768 + RANDOM + 1000))   # a fresh org per run: reruns on kept data pass
actor=7
badge=6581281e8f68666070de15c5
passed=0
total=8

say() { echo "demo: $*" >&2; }

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_worker() {
  local deadline=$((SECONDS + ready_seconds))
  until grep -q ']: Ready' "$worker_log" 2>/dev/null; do
    worker_alive || { tail -n 30 "$worker_log" >&2; die "the worker exited; log: $worker_log"; }
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$worker_log" >&2; die "worker not ready within ${ready_seconds}s; log: $worker_log"; }
    sleep 0.5
  done
  say "worker ready (log: $worker_log)"
}

# Runs one CLI command, shows it and its result envelope; leaves the JSON in $out and
# the exit code in $rc for the checks.
cli() {
  printf "\n$ badges"
  printf " %q" "$@"
  echo
  rc=0
  out=$("$badges" "$@") || rc=$?
  echo "$out"
  echo "(exit $rc)"
}

# Evaluates a Python expression over the last result: r = the envelope, rc = exit code.
holds() {
  "$python" -c 'import json, sys
r, rc = json.loads(sys.argv[1]), int(sys.argv[2])
sys.exit(0 if eval(sys.argv[3]) else 1)' "$out" "$rc" "$1" 2>/dev/null
}

value() {   # python expression over r, printed
  "$python" -c 'import json, sys; r = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$out" "$1"
}

ok() { holds 'rc == 0 and r["errors"] == []'; }
error_code() { holds "rc == 1 and [e['code'] for e in r['errors']] == [$1]"; }

outcome() {   # number description check-status
  if [ "$3" = 0 ]; then
    passed=$((passed + 1))
    echo "==> ($1) as expected: $2"
  else
    echo "==> ($1) NOT as expected: $2"
  fi
}

# The claims as stored, read straight from MongoDB (not through the service).
show_claims() {
  "$python" - "$BADGES_MONGO_URL" "${BADGES_MONGO_DATABASE:-badges}" "$org" "$badge" <<'PY'
import sys
from bson import ObjectId
from pymongo import MongoClient
url, db, org, badge = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with MongoClient(url, serverSelectionTimeoutMS=10000) as client:
    query = {"orgId": org, "badgeMetaId": ObjectId(badge)}
    for doc in client[db]["badge_claims"].find(query).sort("ownerType"):
        print(f"  {doc['ownerType']} {doc['referenceId']!r}: isActive={doc['isActive']}")
PY
}

steps() {
  local s group2 gid
  say "org id $org, actor id $actor, badge $badge"

  echo; echo "--- (1) create a badge group"
  cli group create --org-id "$org" --actor-id "$actor" --name "Demo group" --rank 5
  s=0; ok && holds 'r["data"]["name"] == "Demo group" and r["data"]["rank"] == 5' || s=1
  outcome 1 "group created" "$s"
  gid=$(value 'r["data"]["id"]' 2>/dev/null || echo 000000000000000000000000)

  echo; echo "--- (2) rename it to GROUP_RANK_58, rank 1"
  cli group update --org-id "$org" --actor-id "$actor" --group-id "$gid" --name GROUP_RANK_58 --rank 1
  s=0; ok && holds "r['data']['id'] == '$gid' and r['data']['name'] == 'GROUP_RANK_58' and r['data']['rank'] == 1" || s=1
  outcome 2 "name and rank changed" "$s"

  echo; echo "--- (3) a second group may not take GROUP_RANK_58: 733"
  cli group create --org-id "$org" --actor-id "$actor" --name "Second group" --rank 2
  s=0; ok || s=1
  group2=$(value 'r["data"]["id"]' 2>/dev/null || echo 000000000000000000000000)
  cli group update --org-id "$org" --actor-id "$actor" --group-id "$group2" --name GROUP_RANK_58 --rank 2
  error_code 733 || s=1
  cli group create --org-id "$org" --actor-id "$actor" --name GROUP_RANK_58 --rank 3
  error_code 733 || s=1
  outcome 3 "duplicate name refused by rename and by create (733)" "$s"

  echo; echo "--- (4) a group without a rank: 732"
  cli group create --org-id "$org" --actor-id "$actor" --name "No rank"
  s=0; error_code 732 || s=1
  outcome 4 "missing rank refused (732)" "$s"

  echo; echo "--- (5) claim the badge for Loyalty \"123\" and for Milestones \"123\""
  cli claim --org-id "$org" --actor-id "$actor" --badge-id "$badge" --owner-type Loyalty --reference-id 123
  s=0; ok && holds 'r["warnings"] == []' || s=1
  cli claim --org-id "$org" --actor-id "$actor" --badge-id "$badge" --owner-type Milestones --reference-id 123
  ok && holds 'r["warnings"] == []' || s=1
  outcome 5 "both claims made" "$s"

  echo; echo "--- (6) unclaim it for Loyalty \"123\""
  cli unclaim --org-id "$org" --actor-id "$actor" --badge-id "$badge" --owner-type Loyalty --reference-id 123
  s=0; ok && holds 'r["data"]["isActive"] is False' || s=1
  outcome 6 "Loyalty's claim inactive" "$s"

  echo; echo "--- (7) unclaim it again: 737"
  cli unclaim --org-id "$org" --actor-id "$actor" --badge-id "$badge" --owner-type Loyalty --reference-id 123
  s=0; error_code 737 || s=1
  outcome 7 "no active claim left to unclaim (737)" "$s"

  echo; echo "--- (8) Milestones' claim is untouched: claiming again only warns (9100)"
  cli claim --org-id "$org" --actor-id "$actor" --badge-id "$badge" --owner-type Milestones --reference-id 123
  s=0; ok && holds '[w["code"] for w in r["warnings"]] == [9100]' || s=1
  echo "badge_claims in MongoDB for org $org:"
  show_claims || s=1
  outcome 8 "Milestones' claim still active" "$s"
}

demo_main() {
  trap cleanup EXIT   # run.sh's: stops the worker, removes the containers
  trap 'exit 130' INT TERM HUP
  "$badges" --help >/dev/null 2>&1 \
    || die "the badges CLI ($badges) is not installed or does not start; run \`make install\`"
  kafka_port=$(free_port)
  mongo_port=$(free_port)
  stack_up
  rm -f "$worker_log"
  worker_start "$worker_log"
  say "worker started (pid $worker_pid), waiting for Ready"
  wait_for_worker
  steps
  echo
  say "$passed/$total outcomes as expected"
  if [ "$passed" != "$total" ]; then
    say "worker log: $worker_log"
    exit 1
  fi
}

demo_main "$@"

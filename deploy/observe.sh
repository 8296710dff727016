#!/usr/bin/env bash
# `make observe`: a Prometheus (Debian's binary, deploy/prometheus.sh) scraping a running
# `make run` stack: the worker, the gateway and the lag exporter, every 5 s, with the alert
# rules of deploy/prometheus/alerts.yml loaded. Prints its URL, runs until Ctrl-C.
#
# Env: BADGES_OBSERVE_PORT (9090) where it listens (127.0.0.1 only);
# BADGES_OBSERVE_WORKER (127.0.0.1:8081), BADGES_OBSERVE_GATEWAY (127.0.0.1:8080),
# BADGES_OBSERVE_EXPORTER (127.0.0.1:9308): the targets (host:port).
# Data under .state/observe/ (kept between runs; `make clean` removes it).
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)
state=${BADGES_STATE_DIR:-$deploy/../.state}/observe
port=${BADGES_OBSERVE_PORT:-9090}
worker=${BADGES_OBSERVE_WORKER:-127.0.0.1:8081}
gateway=${BADGES_OBSERVE_GATEWAY:-127.0.0.1:8080}
exporter=${BADGES_OBSERVE_EXPORTER:-127.0.0.1:9308}

prometheus=$("$deploy/prometheus.sh" | tail -n1)
mkdir -p "$state"
cp "$deploy/prometheus/alerts.yml" "$state/alerts.yml"
# The same jobs as deploy/README.md's scrape_configs (YAML is a superset of JSON).
cat >"$state/prometheus.yml" <<CONFIG
{"global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
 "rule_files": ["alerts.yml"],
 "scrape_configs": [
   {"job_name": "badges-worker", "static_configs": [{"targets": ["$worker"]}]},
   {"job_name": "badges-gateway", "static_configs": [{"targets": ["$gateway"]}]},
   {"job_name": "badges-lag", "static_configs": [{"targets": ["$exporter"]}]}]}
CONFIG

echo "observe: Prometheus on http://127.0.0.1:$port (targets: http://127.0.0.1:$port/targets," \
     "alerts: http://127.0.0.1:$port/alerts); Ctrl-C stops it" >&2
echo "observe: the dashboard: import deploy/grafana/badges.json into a Grafana that reads" \
     "this Prometheus (deploy/README.md, Dashboard)" >&2
exec "$prometheus" --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/data" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn

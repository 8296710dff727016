#!/usr/bin/env bash
# Installs the Prometheus server binary from Debian for the metrics tests, if missing.
# Only the binary is used (the tests run it on a free port with their own config); the
# packaged service is never started. Prints the binary's path.
set -euo pipefail
deploy=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$deploy/lib.sh"

# The package's postinst would start its service where an init system runs: forbid it.
if ! command -v prometheus >/dev/null 2>&1; then
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  install_missing prometheus prometheus
fi
command -v prometheus

#!/usr/bin/env bash
# make lint: deploy/ names only what exists. Every CALLSYNC_*/TELNYX_*
# variable the compose file sets is one the services read (the table in
# common/config.c), and every binary it runs is one `make` builds. No
# Docker is needed for this; building the image is not part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
for v in $(grep -oE '^\s+(CALLSYNC|TELNYX)_[A-Z_]+:' deploy/docker-compose.yml | tr -d ' :' | sort -u); do
  grep -q "\"$v\"" common/config.c || { echo "deploy: $v is not a variable any service reads" >&2; bad=1; }
done
for b in $(grep -oE 'command: \[callsync-[a-z]+' deploy/docker-compose.yml | sed 's/.*\[//' | sort -u); do
  [ -f "services/${b#callsync-}/main.c" ] || { echo "deploy: no service builds $b" >&2; bad=1; }
done
exit $bad

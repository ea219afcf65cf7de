#!/usr/bin/env bash
# Runs a command in a new network namespace with only loopback up, so the
# browser and media tests cannot reach (or wait on) any network. Root uses
# a plain network namespace; anyone else a user namespace mapped to root.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then flags=(-n); else flags=(-r -n); fi
exec unshare "${flags[@]}" -- sh -c 'ip link set lo up && exec "$@"' netns "$@"

#!/usr/bin/env bash
# Runs test binaries one after another; every one runs even if one fails,
# and the exit status says whether all passed. A closing line counts them.
set -u
pass=0 fail=0 failed=()
for t in "$@"; do
  echo "== $t"
  if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$t"); fi
done
echo "test programs: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { printf 'failed: %s\n' "${failed[@]}"; exit 1; }

#!/usr/bin/env bash
# Runs every benchmark in bench/ (each prints pvic's figure beside the peer's or the goal).
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
for b in bench/*.sh; do
  [ "$b" = bench/run.sh ] && continue
  echo "== $(basename "$b" .sh)"
  "$b" || { echo "bench $b failed"; rc=1; }
done
exit $rc

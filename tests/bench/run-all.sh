#!/bin/sh
# Run every benchmark, one at a time (never two on 2 cores). Each prints a
# human table and, as its last line, one JSON object with every figure.
set -eu
cd "$(dirname "$0")/../.."
echo "== mailbox_bench"
flock /tmp/actord-bench.lock ./build/mailbox_bench
for b in tests/bench/*_bench.sh; do
  [ -e "$b" ] || continue
  echo "== $b"
  flock /tmp/actord-bench.lock "$b"
done

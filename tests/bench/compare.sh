#!/bin/sh
# compare.sh BEFORE_BIN AFTER_BIN - two actord binaries on the same cases in
# one run, interleaved: /plaintext and /json (plain and 16-deep pipelined),
# the storage routes of storage_bench.sh, RSS per idle connection. For a
# change that must not move any figure (a refactoring, a file move): build
# the commit before it elsewhere, e.g.
#   git worktree add --detach ../before COMMIT
#   cmake -S ../before -B ../before/build -DCMAKE_BUILD_TYPE=Release
#   cmake --build ../before/build -j2
#   flock /tmp/actord-bench.lock tests/bench/compare.sh ../before/build/actord build/actord
# (never two benchmarks at once: run it under the same lock as `make bench`).
# What it measures and prints: tests/bench/compare.py; a table of
# before / after / ratio per case, then one JSON object as the last line.
# About 12 minutes with the defaults; a smoke run of a few seconds:
#   BENCH_DURATION=1 BENCH_WARMUP=1 BENCH_ROUNDS=1 BENCH_IDLE_CONNS=200 \
#     tests/bench/compare.sh A B
# Needs wrk, redis-server and mariadbd (tests/services.sh, ports 27379 /
# 27306 as storage_bench.sh). Relative paths are taken from the directory
# the script is started in.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN" >&2; exit 2; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
BEFORE=$(abs "$1")
AFTER=$(abs "$2")
cd "$(dirname "$0")/../.."
for b in "$BEFORE" "$AFTER"; do
  [ -x "$b" ] || { echo "compare: $b is not an executable" >&2; exit 1; }
done
for tool in wrk redis-server mariadbd; do
  command -v "$tool" >/dev/null || { echo "compare: $tool is not installed" >&2; exit 1; }
done
# Idle connections: the client and each server need that many fds.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 tests/bench/compare.py "$BEFORE" "$AFTER"

#!/bin/sh
# HTTP benchmark: actord against nginx (Debian nginx-light) in the same
# run, with wrk, and the kernel's floor (build/floor_server) beside them.
# Not a test; `make bench` runs it (one benchmark at a time). What it
# measures and prints: tests/bench/http_bench.py; figures:
# docs/PERFORMANCE.md. Needs build/actord and build/floor_server (make
# build), wrk, nginx, taskset.
#   tests/bench/http_bench.sh              # full run, ~4 minutes
#   BENCH_DURATION=3 BENCH_IDLE_CONNS=2000 tests/bench/http_bench.sh   # quick look
# ACTORD_BIN: the actord binary to measure (default build/actord; a
# relative path is taken from the directory the script is started in).
# actord runs the shipped config/actord.json (addresses moved), so its
# Redis and MariaDB are started too (tests/services.sh, .run/bench,
# BENCH_REDIS_PORT / BENCH_MYSQL_PORT, default 27379 / 27306).
set -eu
case ${ACTORD_BIN:-} in
  ""|/*) ;;
  *) ACTORD_BIN=$PWD/$ACTORD_BIN ;;
esac
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
export ACTORD_BIN="${ACTORD_BIN:-$PWD/build/actord}"
for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null || { echo "http_bench: $tool is not installed" >&2; exit 1; }
done
for bin in "$ACTORD_BIN" build/floor_server; do
  [ -x "$bin" ] || { echo "http_bench: $bin is not built (make build)" >&2; exit 1; }
done
export ACTORD_RUN_DIR=$PWD/.run/bench
export ACTORD_REDIS_PORT=${BENCH_REDIS_PORT:-27379}
export ACTORD_MYSQL_PORT=${BENCH_MYSQL_PORT:-27306}
. tests/bench/bench_lib.sh
bench_ports_free http_bench "$ACTORD_REDIS_PORT" "$ACTORD_MYSQL_PORT"
trap 'tests/services.sh stop >/dev/null 2>&1' EXIT INT TERM
tests/services.sh start >/dev/null
# 10,000 idle connections: the client and each server need that many fds.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$PY" tests/bench/http_bench.py "$@"

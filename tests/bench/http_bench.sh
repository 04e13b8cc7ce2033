#!/bin/sh
# HTTP benchmark: actord against nginx (Debian nginx-light) in the same
# run, with wrk. Not a test; `make bench` runs it (one benchmark at a
# time). What it measures and prints: tests/bench/http_bench.py; figures:
# docs/PERFORMANCE.md. Needs build/actord (make build), wrk, nginx, taskset.
#   tests/bench/http_bench.sh              # full run, ~3 minutes
#   BENCH_DURATION=3 BENCH_IDLE_CONNS=2000 tests/bench/http_bench.sh   # quick look
# ACTORD_BIN: the actord binary to measure (default build/actord; a
# relative path is taken from the directory the script is started in).
set -eu
case ${ACTORD_BIN:-} in
  ""|/*) ;;
  *) ACTORD_BIN=$PWD/$ACTORD_BIN ;;
esac
cd "$(dirname "$0")/../.."
export ACTORD_BIN="${ACTORD_BIN:-$PWD/build/actord}"
for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null || { echo "http_bench: $tool is not installed" >&2; exit 1; }
done
[ -x "$ACTORD_BIN" ] || { echo "http_bench: $ACTORD_BIN is not built (make build)" >&2; exit 1; }
# 10,000 idle connections: the client and each server need that many fds.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec /usr/bin/python3 tests/bench/http_bench.py "$@"

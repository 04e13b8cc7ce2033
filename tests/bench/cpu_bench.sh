#!/bin/sh
# cpu_bench.sh - where actord's CPU goes per request, reproducibly: not a
# test, a measurement for docs/PERFORMANCE.md ("CPU per request").
#
#  1. user-space instructions per request (valgrind --tool=callgrind: the
#     VM exposes no hardware counters to perf): actord under callgrind,
#     warmed up, counters zeroed, then wrk -t1 -c16 for BENCH_DURATION s;
#     total Ir / requests wrk counted; the top functions by self cost;
#  2. system calls and context switches per request (perf stat on the
#     syscall tracepoints, actord at full speed, wrk -t1 -c128);
#  3. the same instruction count with glibc malloc, jemalloc and mimalloc
#     (LD_PRELOAD of Debian's libjemalloc2 / libmimalloc2.0, when installed)
#     on the routes that allocate per request.
#
# Routes: /plaintext, /json, and (when Redis and MariaDB run on
# ACTORD_REDIS_PORT / ACTORD_MYSQL_PORT: tests/services.sh start)
# /cached-queries?count=20 and the wallpaper list through the near cache.
# Prints a table, then one JSON line. Environment: ACTORD_BIN (default
# build/actord), BENCH_DURATION (default 3), BENCH_PORT (default 27480).
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
cd "$(dirname "$0")/../.."
BIN=${ACTORD_BIN:-$PWD/build/actord}
DURATION=${BENCH_DURATION:-3}
PORT=${BENCH_PORT:-27480}
ADMIN=$((PORT + 1))
REDIS_PORT=${ACTORD_REDIS_PORT:-16379}
MYSQL_PORT=${ACTORD_MYSQL_PORT:-13306}
TMP=$(mktemp -d)
PID=""
cleanup() {
  [ -z "$PID" ] || { kill -INT "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
command -v valgrind >/dev/null || { echo "cpu_bench: needs valgrind" >&2; exit 1; }
command -v perf >/dev/null || { echo "cpu_bench: needs perf (linux-perf)" >&2; exit 1; }

STORAGE=0
redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 &&
  mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root ping >/dev/null 2>&1 &&
  STORAGE=1
cat >"$TMP/actord.json" <<EOF
{"listen": ["127.0.0.1:$PORT"], "admin_listen": "127.0.0.1:$ADMIN",
 "log": {"level": "warn", "format": "json", "access_log": ""},
 "actors": {"mysql": {"count": 4}, "job": {"count": 0}},
 "redis": {"port": $REDIS_PORT},
 "mysql": {"port": $MYSQL_PORT, "user": "benchmarkdbuser", "password": "benchmarkdbpass",
           "database": "hello_world"}}
EOF

up() { curl -sf -o /dev/null "http://127.0.0.1:$PORT/plaintext"; }
start() { # command prefix...
  "$@" "$BIN" -c "$TMP/actord.json" 2>>"$TMP/stderr.log" &
  PID=$!
  i=0
  until up; do
    i=$((i + 1))
    [ $i -le 600 ] || { echo "cpu_bench: actord did not start" >&2; cat "$TMP/stderr.log" >&2; exit 1; }
    sleep 0.1
  done
}
stop() { kill -INT "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
requests() { awk '/requests in/ { print $1 }' "$1"; }

ROUTES="plaintext:/plaintext json:/json"
[ "$STORAGE" = 1 ] && ROUTES="$ROUTES cached:/cached-queries?count=20 wallpaper:/client/v3/wallpaper_4d/wallpaperList.json"
ALLOCS="glibc:"
for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/x86_64-linux-gnu/libmimalloc.so.2; do
  [ -f "$lib" ] && ALLOCS="$ALLOCS $(basename "$lib" | sed 's/lib\([a-z]*\).*/\1/'):$lib"
done

# 2: system calls per request at full speed (first: it also leaves every
# World row in Redis, so the callgrind runs below measure cache hits).
EVENTS=syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_ctl,context-switches,task-clock
start
: >"$TMP/sys"
for r in $ROUTES; do
  route=${r%%:*}; path=${r#*:}
  wrk -t1 -c128 -d2s "http://127.0.0.1:$PORT$path" >/dev/null
  # perf counts actord's events exactly while wrk runs.
  perf stat -x, -e "$EVENTS" -p "$PID" -o "$TMP/perf" -- \
    wrk -t1 -c128 -d"${DURATION}s" "http://127.0.0.1:$PORT$path" >"$TMP/wrk"
  rps=$(awk '/Requests\/sec/ { print $2 }' "$TMP/wrk")
  n=$(requests "$TMP/wrk")
  awk -F, -v route="$route" -v rps="$rps" -v n="$n" '
    /sys_enter_sendto/ { s = $1 } /sys_enter_recvfrom/ { r = $1 } /epoll_wait/ { e = $1 }
    /sys_enter_read/ { rd = $1 } /sys_enter_write/ { wr = $1 } /epoll_ctl/ { ec = $1 }
    /context-switches/ { cs = $1 } /task-clock/ { tc = $1 }
    END { printf "%s %.0f %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.2f\n", route, rps,
          s / n, r / n, e / n, rd / n, wr / n, ec / n, cs / n, tc * 1000 / n }' "$TMP/perf" >>"$TMP/sys"
done
stop

# 1 + 3: instructions per request under callgrind.
: >"$TMP/ir"
for a in $ALLOCS; do
  name=${a%%:*}; lib=${a#*:}
  if [ -n "$lib" ]; then
    start env LD_PRELOAD="$lib" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.%p" -q
  else
    start valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.%p" -q
  fi
  for r in $ROUTES; do
    route=${r%%:*}; path=${r#*:}
    [ "$name" = glibc ] || [ "$route" = cached ] || [ "$route" = wallpaper ] || [ "$route" = plaintext ] || continue
    wrk -t1 -c16 -d2s "http://127.0.0.1:$PORT$path" >/dev/null
    if [ "$route" = cached ]; then
      # Every World row in Redis and in the near cache: the steady state.
      i=0
      while [ $i -lt 60 ]; do
        curl -sf -o /dev/null "http://127.0.0.1:$PORT/cached-queries?count=500"
        i=$((i + 1))
      done
    fi
    callgrind_control -z "$PID" >/dev/null
    wrk -t1 -c16 -d"${DURATION}s" "http://127.0.0.1:$PORT$path" >"$TMP/wrk"
    rm -f "$TMP"/cg.*.[0-9]*
    callgrind_control -d "$PID" >/dev/null
    out=$(ls "$TMP"/cg.*.[0-9]* | head -1)
    n=$(requests "$TMP/wrk")
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo "$name $route $n $total" >>"$TMP/ir"
    if [ "$name" = glibc ]; then
      echo "== $route: top functions by self cost (Ir per request)"
      callgrind_annotate --auto=no --inclusive=no --threshold=100 "$out" 2>/dev/null |
        awk -v n="$n" '/^ *[0-9,]+ \(/ && !/TOTALS/ && !/start_thread|clone.S|actor_main/ {
          v = $1; gsub(",", "", v); f = $0; sub(/^[^)]*\) +/, "", f); sub(/ .*/, "", f)
          if (c++ < 14) printf "  %8.0f  %s\n", v / n, f }'
    fi
  done
  stop
done

echo
echo "== user-space instructions per request (callgrind, wrk -t1 -c16 -d${DURATION}s)"
printf "%-10s %-10s %10s %12s\n" allocator route requests "Ir/request"
awk '{ printf "%-10s %-10s %10d %12.0f\n", $1, $2, $3, $4 / $3 }' "$TMP/ir"
echo
echo "== system calls per request (perf stat, wrk -t1 -c128 -d${DURATION}s)"
printf "%-10s %8s %7s %7s %7s %7s %7s %7s %7s %9s\n" route "req/s" send recv epoll read write ep_ctl ctxsw "cpu_us"
awk '{ printf "%-10s %8d %7s %7s %7s %7s %7s %7s %7s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$TMP/sys"
{
  printf '{"bench":"cpu","duration_s":%s,"ir_per_request":{' "$DURATION"
  awk 'BEGIN { f = 1 } { printf "%s\"%s/%s\":%.0f", f ? "" : ",", $1, $2, $4 / $3; f = 0 }' "$TMP/ir"
  printf '},"syscalls_per_request":{'
  awk 'BEGIN { f = 1 } { printf "%s\"%s\":{\"send\":%s,\"recv\":%s,\"epoll_wait\":%s,\"read\":%s,\"write\":%s,\"epoll_ctl\":%s,\"context_switches\":%s,\"cpu_us\":%s}", f ? "" : ",", $1, $3, $4, $5, $6, $7, $8, $9, $10; f = 0 }' "$TMP/sys"
  printf '}}\n'
}

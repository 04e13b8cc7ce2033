#!/bin/sh
# Job queue throughput (a benchmark, not a test): `sleep` jobs of 0 s.
#  1. enqueue: wrk posts POST /jobs for DURATION s while the same actord's
#     job actor runs them: accepted jobs/s (each 202 only after Redis
#     stored the job with appendfsync always);
#  2. end to end: from the first post to the last of those jobs done
#     (the stream and the retry set empty): jobs/s;
#  3. drain: JOBS jobs queued by an enqueue-only actord (jobs.concurrency 0),
#     then a worker actord started: jobs run per second with nothing else
#     to do;
#  4. peer: the Tornado peer's POST /jobs in the same run (one process of
#     tests/bench/peers/tornado_peer.py), whose queue is a dict in memory
#     and whose workers are 20 threads (nothing stored, nothing survives a
#     crash: it measures the cost of the HTTP request plus an executor
#     hand-off, not of a durable enqueue).
# Server CPU per request comes from /proc/PID/stat. Prints a table, then
# one JSON object as the very last line.
#
# Environment: DURATION (5), CONNS (32), JOBS (20000), BENCH_REDIS_PORT /
# BENCH_MYSQL_PORT (24379 / 24306: below the ephemeral port range, where a
# client's outgoing connection could hold them), ACTORD_BIN (build/actord),
# BENCH_PEER (tests/bench/peers/tornado_peer.py); relative paths are taken
# from the directory the script is started in. actord and Tornado use free
# ports.
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BENCH_PEER:-} in ""|/*) ;; *) BENCH_PEER=$PWD/$BENCH_PEER ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
JOBS=${JOBS:-20000}
RPORT=${BENCH_REDIS_PORT:-24379}
MPORT=${BENCH_MYSQL_PORT:-24306}
BIN=${ACTORD_BIN:-$ROOT/build/actord}
PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
[ -x "$BIN" ] || { echo "jobs_bench: $BIN not built (make build)" >&2; exit 1; }
[ -f "$PEER" ] || { echo "jobs_bench: no peer $PEER" >&2; exit 1; }
# The backends' ports must be free (the machine is shared): services.sh
# would take someone else's server for ours, and stop it at the end.
for port in "$RPORT" "$MPORT"; do
  if /usr/bin/python3 -c 'import socket, sys
sys.exit(socket.socket().connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0)' "$port"; then
    echo "jobs_bench: port $port is in use (set BENCH_REDIS_PORT / BENCH_MYSQL_PORT)" >&2
    exit 1
  fi
done
TMP=$(mktemp -d /tmp/actord-jobs-bench.XXXXXX)
PIDS=""
export ACTORD_RUN_DIR=$TMP/services ACTORD_REDIS_PORT=$RPORT ACTORD_MYSQL_PORT=$MPORT

cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
  tests/services.sh stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# utime + stime (the command name in field 2 has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
rcli() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
# Until GET http://127.0.0.1:PORT/PATH answers STATUS ("": anything).
wait_http() { # port path status
  /usr/bin/python3 -c '
import sys, time, urllib.request, urllib.error
port, path, want = sys.argv[1:4]
for _ in range(300):
    try:
        status = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = None
    if status is not None and (not want or str(status) == want):
        sys.exit(0)
    time.sleep(0.05)
sys.exit(f"http://127.0.0.1:{port}{path} did not answer {want or 0}")
' "$@"
}
unfinished() { # prefix
  rcli EVAL "return redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])" 2 "$1:stream" "$1:delayed"
}
wait_drained() { # prefix
  until [ "$(unfinished "$1")" = 0 ]; do sleep 0.02; done
}
start_actord() { # name port prefix concurrency
  cat >"$TMP/$1.json" <<EOF
{ "listen": ["127.0.0.1:$2"], "admin_listen": "127.0.0.1:$(free_port)",
  "log": {"level": "warn", "format": "text"},
  "redis": {"port": $RPORT}, "mysql": {"port": $MPORT, "user": "benchmarkdbuser",
  "password": "benchmarkdbpass", "database": "hello_world"},
  "jobs": {"prefix": "$3", "concurrency": $4, "result_ttl_s": 300} }
EOF
  "$BIN" -c "$TMP/$1.json" >"$TMP/$1.log" 2>&1 &
  PIDS="$PIDS $!"
  LAST_PID=$!
  # The job queue answers once Redis does: 404 for a job that does not exist.
  wait_http "$2" /jobs/00000000000000000000000000000000 404
}
# wrk posting sleep-0 jobs: prints "requests non2xx seconds".
post_jobs() { # url body
  cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/json"
EOF
  wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$TMP/post.lua" "$1" >"$TMP/wrk.out" 2>&1
  awk '/requests in/ {n = $1; s = $4; sub(/s,?$/, "", s)}
       /Non-2xx/ {bad = $NF}
       /Socket errors/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) {v = $i; sub(/,/, "", v); bad += v}}
       END {printf "%d %d %s\n", n, bad + 0, s}' "$TMP/wrk.out"
}

tests/services.sh start >/dev/null
HZ=$(getconf CLK_TCK)

# 1 + 2: enqueue while running, end to end.
P1=bench$(date +%s)a
PORT=$(free_port)
start_actord worker "$PORT" "$P1" 256
W_PID=$LAST_PID
c0=$(cpu_ticks "$W_PID")
t0=$(now)
set -- $(post_jobs "http://127.0.0.1:$PORT/jobs" '{"type":"sleep","payload":{"seconds":0}}')
REQS=$1 BAD=$2 SECS=$3
wait_drained "$P1"
t1=$(now)
c1=$(cpu_ticks "$W_PID")
OK=$((REQS - BAD))
ENQ_RATE=$(calc "$OK / $SECS")
E2E_RATE=$(calc "$OK / ($t1 - $t0)")
CPU_US=$(calc "($c1 - $c0) * 1000000 / $HZ / $OK")
kill "$W_PID"; wait "$W_PID" 2>/dev/null || true

# 3: drain a queue filled by an enqueue-only instance.
P2=bench$(date +%s)b
PORT=$(free_port)
start_actord producer "$PORT" "$P2" 0
/usr/bin/python3 - "$PORT" "$JOBS" <<'EOF'
import http.client, sys, threading
port, total = int(sys.argv[1]), int(sys.argv[2])
def run(n):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        c.request("POST", "/jobs", body=b'{"type":"sleep","payload":{"seconds":0}}')
        r = c.getresponse(); r.read()
        assert r.status == 202, r.status
ts = [threading.Thread(target=run, args=(total // 8,)) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
EOF
QUEUED=$(unfinished "$P2")
PORT=$(free_port)
t0=$(now)
start_actord drainer "$PORT" "$P2" 256
D_PID=$LAST_PID
c0=$(cpu_ticks "$D_PID")
wait_drained "$P2"
t1=$(now)
c1=$(cpu_ticks "$D_PID")
DRAIN_RATE=$(calc "$QUEUED / ($t1 - $t0)")
DRAIN_CPU_US=$(calc "($c1 - $c0) * 1000000 / $HZ / $QUEUED")

# 4: the Tornado peer's POST /jobs (in-memory queue).
TPORT=$(free_port)
/usr/bin/python3 "$PEER" --port "$TPORT" --mysql-port "$MPORT" \
  --redis-port "$RPORT" >"$TMP/tornado.log" 2>&1 &
T_PID=$!
PIDS="$PIDS $T_PID"
wait_http "$TPORT" / ""
c0=$(cpu_ticks "$T_PID")
set -- $(post_jobs "http://127.0.0.1:$TPORT/jobs" '{"seconds":0}')
T_OK=$(($1 - $2)) T_SECS=$3
c1=$(cpu_ticks "$T_PID")
T_RATE=$(calc "$T_OK / $T_SECS")
T_CPU_US=$(calc "($c1 - $c0) * 1000000 / $HZ / $T_OK")

printf '\n%-46s %12s %14s\n' "figure" "jobs/s" "server us/job"
printf '%-46s %12.0f %14.1f\n' "actord enqueue (POST /jobs, workers running)" "$ENQ_RATE" "$CPU_US"
printf '%-46s %12.0f %14s\n' "actord end to end (first post -> last done)" "$E2E_RATE" "-"
printf '%-46s %12.0f %14.1f\n' "actord drain ($QUEUED queued jobs, 1 job actor)" "$DRAIN_RATE" "$DRAIN_CPU_US"
printf '%-46s %12.0f %14.1f\n' "tornado POST /jobs (in-memory, not durable)" "$T_RATE" "$T_CPU_US"
printf 'ratio actord/tornado enqueue: %.2fx (%d connections, %s s, wrk -t1)\n' \
  "$(calc "$ENQ_RATE / $T_RATE")" "$CONNS" "$DURATION"
printf '{"jobs_enqueue_per_s": %.0f, "jobs_enqueue_cpu_us": %.1f, "jobs_e2e_per_s": %.0f, "jobs_drain_per_s": %.0f, "jobs_drain_cpu_us": %.1f, "jobs_drained": %d, "tornado_enqueue_per_s": %.0f, "tornado_enqueue_cpu_us": %.1f, "enqueue_ratio": %.2f, "connections": %d, "duration_s": %s}\n' \
  "$ENQ_RATE" "$CPU_US" "$E2E_RATE" "$DRAIN_RATE" "$DRAIN_CPU_US" "$QUEUED" "$T_RATE" "$T_CPU_US" \
  "$(calc "$ENQ_RATE / $T_RATE")" "$CONNS" "$DURATION"

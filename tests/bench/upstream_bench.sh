#!/bin/sh
# Upstream benchmark (issue 8; not a test): GET /upstream, a handler that
# calls another local HTTP service and then answers, on three servers in
# one run, each in front of the SAME upstream (nginx, one worker, a small
# static "hello" body, keep-alive):
#   actord    build/actord, GET /upstream (upstream actors, keep-alive pool)
#   tornado   the Tornado peer, tests/bench/peers/tornado_peer.py
#             --procs 2, its /upstream (AsyncHTTPClient.fetch, as the seed)
#   nginx     nginx proxy_pass with a keepalive upstream pool, 2 workers
# wrk -t1 -c128 -d10s each (after a 2 s warm-up), one at a time, in
# ROUNDS rounds (default 3) whose order rotates; each server's median
# round is reported (the machine is shared: see docs/PERFORMANCE.md). Server
# CPU time per request (utime + stime of the server's processes, from
# /proc, before and after the timed run) is shown next to requests/s: on
# 2 shared cores it is the fairer comparison.
#
# The peer opens its MariaDB pool at start, so local Redis + MariaDB
# are started with tests/services.sh under build/bench-upstream/services
# on ports 29379 / 29306 (and stopped again).
#
# Prints a human table, then as the very last line one JSON object.
# Environment: DURATION (10s), CONNS (128), ROUNDS (3), ACTORD_BIN
# (build/actord), BENCH_PEER (tests/bench/peers/tornado_peer.py); relative
# paths are taken from the directory the script is started in.
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BENCH_PEER:-} in ""|/*) ;; *) BENCH_PEER=$PWD/$BENCH_PEER ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-128}
ROUNDS=${ROUNDS:-3}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
TORNADO_PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
PY=/usr/bin/python3
. tests/bench/bench_lib.sh
RUN=$ROOT/build/bench-upstream
SVC_REDIS=29379
SVC_MYSQL=29306

[ -x "$ACTORD" ] || { echo "upstream_bench: $ACTORD is not built (make build)" >&2; exit 1; }
[ -f "$TORNADO_PEER" ] || { echo "upstream_bench: no peer $TORNADO_PEER" >&2; exit 1; }
command -v wrk >/dev/null || { echo "upstream_bench: wrk is not installed" >&2; exit 1; }
command -v nginx >/dev/null || { echo "upstream_bench: nginx is not installed" >&2; exit 1; }

rm -rf "$RUN/nginx-up" "$RUN/nginx-proxy" "$RUN/actord"
mkdir -p "$RUN/nginx-up" "$RUN/nginx-proxy" "$RUN/actord"
chmod 755 "$RUN" "$RUN/nginx-up" "$RUN/nginx-proxy"

UP_PORT=$(free_port)
ACTORD_PORT=$(free_port)
ACTORD_ADMIN=$(free_port)
TORNADO_PORT=$(free_port)
NGINX_PORT=$(free_port)

PIDS=""
cleanup() {
  # Tornado's forked workers first (by their parent's pid), then the rest.
  [ -n "${TORNADO_PID:-}" ] && pkill -P "$TORNADO_PID" 2>/dev/null || true
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  [ -f "$RUN/nginx-up/nginx.pid" ] && kill "$(cat "$RUN/nginx-up/nginx.pid")" 2>/dev/null || true
  [ -f "$RUN/nginx-proxy/nginx.pid" ] && kill "$(cat "$RUN/nginx-proxy/nginx.pid")" 2>/dev/null || true
  ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
    tests/services.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

# nginx, unprivileged paths; `user` only matters when run as root.
nginx_conf() { # dir workers http-block
  cat >"$1/nginx.conf" <<EOF
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
    $3
}
EOF
}

# The upstream every peer calls.
nginx_conf "$RUN/nginx-up" 1 "server { listen 127.0.0.1:$UP_PORT; location / { default_type text/plain; return 200 \"hello\\n\"; } }"
nginx -c "$RUN/nginx-up/nginx.conf" -p "$RUN/nginx-up"
wait_port upstream_bench "$UP_PORT"

# nginx proxy_pass with a keepalive pool to it.
nginx_conf "$RUN/nginx-proxy" 2 "upstream up { server 127.0.0.1:$UP_PORT; keepalive $CONNS; }
    server { listen 127.0.0.1:$NGINX_PORT;
        location /upstream { proxy_pass http://up/; proxy_http_version 1.1;
                             proxy_set_header Connection \"\"; } }"
nginx -c "$RUN/nginx-proxy/nginx.conf" -p "$RUN/nginx-proxy"
wait_port upstream_bench "$NGINX_PORT"

# actord: defaults (1 network, 1 handler, 1 upstream actor), upstream pool
# as large as the client's concurrency.
cat >"$RUN/actord/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_PORT"], "admin_listen": "127.0.0.1:$ACTORD_ADMIN",
  "log": {"level": "warn"},
  "upstream": {"url": "http://127.0.0.1:$UP_PORT/", "max_connections": $CONNS} }
EOF
"$ACTORD" -c "$RUN/actord/actord.json" 2>"$RUN/actord/stderr.log" &
ACTORD_PID=$!
PIDS="$PIDS $ACTORD_PID"
wait_port upstream_bench "$ACTORD_PORT"

# Tornado needs live MariaDB + Redis for its start-up.
ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
  tests/services.sh start >/dev/null
$PY "$TORNADO_PEER" --port "$TORNADO_PORT" --procs 2 --upstream "http://127.0.0.1:$UP_PORT/" \
  --mysql-port $SVC_MYSQL --redis-port $SVC_REDIS >"$RUN/tornado.log" 2>&1 &
TORNADO_PID=$!
PIDS="$PIDS $TORNADO_PID"
wait_port upstream_bench "$TORNADO_PORT"
sleep 1   # both forked workers finish their set-up

# cpu_s (CPU seconds of a process and its children): bench_lib.sh.

# run NAME PORT PID...: one timed run; appends "name rps cpu_us errors p50
# p99" to results.txt (server CPU us per request, from /proc).
run() {
  name=$1 port=$2; shift 2
  c0=$(cpu_s "$@")
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port/upstream")
  c1=$(cpu_s "$@")
  echo "$out" >> "$RUN/wrk-$name.txt"
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  errs=$(echo "$out" | awk '/Non-2xx/ {print $5} /Socket errors/ {n=0; for(i=4;i<=NF;i+=2) n+=$i; print n}' | awk '{s+=$1} END {print s+0}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  cpu_us=$($PY -c "print(round(($c1 - $c0) * 1e6 / max(1, $reqs), 1))")
  echo "$name $rps $cpu_us $errs $p50 $p99" >> "$RUN/results.txt"
}

warm() { # name port
  curl -sf "http://127.0.0.1:$2/upstream" >/dev/null || {
    echo "upstream_bench: $1 /upstream does not answer 200" >&2; exit 1; }
  wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$2/upstream" >/dev/null
}

NGINX_PROXY_PID=$(cat "$RUN/nginx-proxy/nginx.pid")
rm -f "$RUN/results.txt" "$RUN"/wrk-*.txt
warm actord "$ACTORD_PORT"
warm tornado "$TORNADO_PORT"
warm nginx "$NGINX_PORT"
# The machine is shared: ROUNDS rounds whose order rotates, so that a
# burst of someone else's load does not land on one server only; the table
# shows each server's median round.
r=0
while [ $r -lt "$ROUNDS" ]; do
  case $((r % 3)) in
    0) order="actord tornado nginx" ;;
    1) order="tornado nginx actord" ;;
    *) order="nginx actord tornado" ;;
  esac
  for s in $order; do
    case $s in
      actord) run actord "$ACTORD_PORT" "$ACTORD_PID" ;;
      tornado) run tornado "$TORNADO_PORT" "$TORNADO_PID" ;;
      nginx) run nginx "$NGINX_PORT" "$NGINX_PROXY_PID" ;;
    esac
  done
  r=$((r + 1))
done

$PY - "$RUN/results.txt" "$DURATION" "$CONNS" <<'EOF'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
names = ["actord", "tornado", "nginx"]
runs = {n: [r for r in rows if r[0] == n] for n in names}


def median_run(n):
    rs = sorted(runs[n], key=lambda r: float(r[1]))
    return rs[(len(rs) - 1) // 2]


med = {n: median_run(n) for n in names}
rps = {n: float(med[n][1]) for n in names}
print(f"upstream benchmark: GET /upstream -> nginx \"hello\" upstream; wrk -t1 "
      f"-c{sys.argv[3]} -d{sys.argv[2]}, {len(runs['actord'])} rounds, median round shown")
print(f"{'server':9} {'req/s':>10} {'p50':>9} {'p99':>9} {'cpu us/req':>11} {'errors':>7}"
      "   req/s of every round")
for n in names:
    _, r, cpu, err, p50, p99 = med[n]
    every = " ".join(f"{float(x[1]):.0f}" for x in runs[n])
    print(f"{n:9} {float(r):>10.0f} {p50:>9} {p99:>9} {cpu:>11} {err:>7}   {every}")
vs_t = round(rps["actord"] / rps["tornado"], 2)
vs_n = round(rps["actord"] / rps["nginx"], 2)
print(f"actord / tornado: {vs_t}x (target >= 5)   "
      f"actord / nginx proxy_pass: {vs_n}x (target >= 0.8)")
out = {"bench": "upstream", "duration": sys.argv[2], "connections": int(sys.argv[3]),
       "rounds": len(runs["actord"])}
for n in names:
    _, r, cpu, err, p50, p99 = med[n]
    out[f"{n}_rps"] = float(r)
    out[f"{n}_rps_rounds"] = [float(x[1]) for x in runs[n]]
    out[f"{n}_cpu_us_per_req"] = float(cpu)
    out[f"{n}_errors"] = int(err)
    out[f"{n}_p50"] = p50
    out[f"{n}_p99"] = p99
out.update({"ratio_vs_tornado": vs_t, "ratio_vs_nginx": vs_n,
            "target_vs_tornado": 5, "target_vs_nginx": 0.8})
print(json.dumps(out, separators=(",", ":")))
EOF

#!/bin/sh
# burst_bench.sh - bursts of 10,000 connections (the seed's own test and
# more): actord with the SHIPPED configuration (config/actord.json, only
# its addresses changed) beside nginx and the Tornado peer, in one run:
#   ab -c 10000 -n 10000      every connection one request (HTTP/1.0)
#   wrk -t2 -c10000 -d10s     10,000 keep-alive connections for 10 s
# on the wallpaper list, /db and /plaintext; and, for reference, actord's
# non-burst figure (wrk -t1 -c128) on the same routes in the same run,
# and nginx's on the two routes it serves (its own drop, for comparison).
# For each: complete/failed requests, non-2xx, requests/s, p99 latency.
#
# nginx (Debian nginx-light, generated config, 2 workers) serves
# /plaintext and the wallpaper list as static files holding the very bytes
# actord answers (what a perfect HTTP cache would do); it has no MariaDB
# client, so /db is actord and Tornado only.
#
# The kernel's floor (build/floor_server: one thread, epoll, recv + send of
# actord's /plaintext bytes, nothing else) takes the same two wrk runs on
# /plaintext: how much of the drop from 128 to 10,000 connections belongs
# to the kernel and the client, not to any server's code.
#
# Prints a human table, then as its very last line one JSON object with
# every figure. Targets (the issue): 0 failed and 0 non-2xx for actord
# under ab and wrk on all three routes, and wrk -c10000 requests/s at
# least the non-burst (-c128) figure of the same route.
#
# Environment: ACTORD_BIN (build/actord), BENCH_PEER
# (tests/bench/peers/tornado_peer.py), BENCH_DURATION (10 s per wrk run),
# BENCH_REDIS_PORT / BENCH_MYSQL_PORT (27379 / 27306), BENCH_ACTORD_PORT /
# BENCH_TORNADO_PORT / BENCH_NGINX_PORT / BENCH_FLOOR_PORT (27080 / 27888 /
# 27090 / 27091). State in .run/bench. Needs ab, wrk, nginx and
# build/floor_server (make build); about 5 minutes.
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BENCH_PEER:-} in ""|/*) ;; *) BENCH_PEER=$PWD/$BENCH_PEER ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${ACTORD_BIN:-$ROOT/build/actord}
PY=/usr/bin/python3
PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
DURATION=${BENCH_DURATION:-10}
A_PORT=${BENCH_ACTORD_PORT:-27080}
T_PORT=${BENCH_TORNADO_PORT:-27888}
N_PORT=${BENCH_NGINX_PORT:-27090}
F_PORT=${BENCH_FLOOR_PORT:-27091}
export ACTORD_RUN_DIR=$ROOT/.run/bench
export ACTORD_REDIS_PORT=${BENCH_REDIS_PORT:-27379}
export ACTORD_MYSQL_PORT=${BENCH_MYSQL_PORT:-27306}
RUN=$ACTORD_RUN_DIR
OUT=$RUN/burst-results
WALL="/client/v3/wallpaper_4d/wallpaperList.json?pageSize=20"

for tool in ab wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "burst_bench: $tool is not installed" >&2; exit 1; }
done
# 10,000 connections at once: the clients and the peers need the fds
# (actord raises its own limit at start, as it would from any shell).
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 12000 ] || { echo "burst_bench: need ulimit -Hn >= 12000" >&2; exit 1; }
for b in "$BIN" "$ROOT/build/floor_server"; do
  [ -x "$b" ] || { echo "burst_bench: $b not built (make build)" >&2; exit 1; }
done
[ -f "$PEER" ] || { echo "burst_bench: no peer $PEER" >&2; exit 1; }

. tests/bench/bench_lib.sh
bench_ports_free burst_bench "$A_PORT" "$((A_PORT + 1))" "$T_PORT" "$N_PORT" "$F_PORT" \
  "$ACTORD_REDIS_PORT" "$ACTORD_MYSQL_PORT"

mkdir -p "$RUN"
rm -f "$OUT"
tests/services.sh start >/dev/null

APID=""
TPID=""
NPID=""
FPID=""
NGINX_DIR=""
cleanup() {
  set +e   # stop everything we started, whatever each step says
  bench_stop "$TPID" "$APID" "$NPID" "$FPID"
  [ -n "$NGINX_DIR" ] && rm -rf "$NGINX_DIR"
  tests/services.sh stop >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

# actord: the shipped file, only its addresses moved to ours.
shipped_config "$RUN/burst-actord.json" "$A_PORT" "$ACTORD_REDIS_PORT" "$ACTORD_MYSQL_PORT"
"$BIN" -c "$RUN/burst-actord.json" >"$RUN/burst-actord.log" 2>&1 &
APID=$!
"$PY" "$PEER" --port "$T_PORT" --procs 2 --mysql-port "$ACTORD_MYSQL_PORT" \
  --redis-port "$ACTORD_REDIS_PORT" >"$RUN/burst-tornado.log" 2>&1 &
TPID=$!
"$ROOT/build/floor_server" "$F_PORT" send >"$RUN/burst-floor.log" 2>&1 &
FPID=$!

up() { curl -sf -o /dev/null "http://127.0.0.1:$1/db"; }
i=0
until up "$A_PORT" && up "$T_PORT"; do
  i=$((i + 1))
  [ $i -le 100 ] || { echo "burst_bench: servers did not start" >&2; exit 1; }
  sleep 0.1
done
kill -0 "$APID" && kill -0 "$TPID"   # they answer, and they are ours

# nginx: the same bytes as static files.
NGINX_DIR=$(mktemp -d /tmp/nginx-burst-XXXXXX)
chmod 755 "$NGINX_DIR"
mkdir -p "$NGINX_DIR/www/client/v3/wallpaper_4d"
curl -sf "http://127.0.0.1:$A_PORT/plaintext" >"$NGINX_DIR/www/plaintext"
curl -sf "http://127.0.0.1:$A_PORT$WALL" >"$NGINX_DIR/www/client/v3/wallpaper_4d/wallpaperList.json"
chmod -R a+rX "$NGINX_DIR/www"
nginx_conf "$NGINX_DIR" 2 20000 "sendfile on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    open_file_cache max=16 inactive=60s;
    server {
        listen 127.0.0.1:$N_PORT backlog=65535;
        root $NGINX_DIR/www;
        location = /plaintext { default_type text/plain; }
        location /client/ { default_type application/json; }
    }"
nginx -p "$NGINX_DIR" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf" \
  -g "daemon off;" >"$NGINX_DIR/stderr.log" 2>&1 &
NPID=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$N_PORT/plaintext"; do
  i=$((i + 1))
  [ $i -le 100 ] || { echo "burst_bench: nginx did not start" >&2; exit 1; }
  sleep 0.1
done

ROUTES="wallpaper:$WALL db:/db plaintext:/plaintext"

# Warm up: caches filled, connections made, code paths hot.
for r in $ROUTES; do
  p=${r#*:}
  for port in "$A_PORT" "$T_PORT"; do
    wrk -t1 -c32 -d1s "http://127.0.0.1:$port$p" >/dev/null
  done
done

# ab_run ROUTE SERVER PORT PATH: ab -c 10000 -n 10000, one result line:
# ab ROUTE SERVER rps complete failed non2xx p99_ms
ab_run() {
  a=$(ab -q -l -s 60 -c 10000 -n 10000 "http://127.0.0.1:$3$4" 2>&1 || true)
  echo "$a" | awk -v route="$1" -v srv="$2" '
    /Complete requests/ { done = $3 }
    /Failed requests/ { failed = $3 }
    /Non-2xx/ { non2xx = $3 }
    /Requests per second/ { rps = $4 }
    /^  99%/ { p99 = $2 }
    END { printf "ab %s %s %s %d %d %d %s\n", route, srv, rps ? rps : 0, done,
          failed, non2xx, p99 ? p99 : -1 }' >>"$OUT"
}

# wrk_run KIND ROUTE SERVER PORT PATH THREADS CONNS: one result line:
# KIND ROUTE SERVER rps requests errors non2xx p99_ms
wrk_run() {
  w=$(wrk -t"$6" -c"$7" -d"${DURATION}s" --timeout 10s --latency "http://127.0.0.1:$4$5" 2>&1 || true)
  echo "$w" | awk -v kind="$1" -v route="$2" -v srv="$3" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /s$/) return v * 1000; return v }
    /requests in/ { n = $1 }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { non2xx = $NF }
    /Socket errors/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%s %s %s %s %d %d %d %s\n", kind, route, srv, rps ? rps : 0, n,
          errors, non2xx, p99 ? p99 : -1 }' >>"$OUT"
}

for r in $ROUTES; do
  name=${r%%:*}; p=${r#*:}
  for s in actord:$A_PORT tornado:$T_PORT nginx:$N_PORT; do
    srv=${s%%:*}; port=${s#*:}
    [ "$srv" = nginx ] && [ "$name" = db ] && continue
    ab_run "$name" "$srv" "$port" "$p"
    sleep 2   # let the 10,000 closed sockets leave TIME_WAIT's way
    wrk_run wrk10k "$name" "$srv" "$port" "$p" 2 10000
    sleep 2
  done
  wrk_run wrk128 "$name" actord "$A_PORT" "$p" 1 128
  # nginx's own drop from 128 to 10,000 connections, for comparison.
  [ "$name" = db ] || wrk_run wrk128 "$name" nginx "$N_PORT" "$p" 1 128
  if [ "$name" = plaintext ]; then   # the floor's own drop
    wrk_run wrk10k "$name" floor "$F_PORT" "$p" 2 10000
    sleep 2
    wrk_run wrk128 "$name" floor "$F_PORT" "$p" 1 128
  fi
done

kill -0 "$APID" || { echo "burst_bench: actord died (see $RUN/burst-actord.log)" >&2; exit 1; }
curl -sf "http://127.0.0.1:$((A_PORT + 1))/metrics" >"$RUN/burst-metrics.txt" || true

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
"$PY" - "$OUT" "$DURATION" "$LOAD" "$RUN/burst-metrics.txt" <<'EOF'
import json
import re
import sys

path, duration, load, metrics = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
res = {}
for line in open(path):
    f = line.split()
    kind, route, srv = f[0], f[1], f[2]
    if kind == "ab":
        r = {"rps": float(f[3]), "complete": int(f[4]), "failed": int(f[5]),
             "non2xx": int(f[6]), "p99_ms": float(f[7])}
    else:
        r = {"rps": float(f[3]), "requests": int(f[4]), "errors": int(f[5]),
             "non2xx": int(f[6]), "p99_ms": float(f[7])}
    res.setdefault(route, {}).setdefault(kind, {})[srv] = r

shed = 0
try:
    for line in open(metrics):
        if line.startswith("actord_requests_shed_total"):
            shed += float(line.split()[-1])
except OSError:
    pass

out = {"bench": "burst", "duration_s": duration, "loadavg": load,
       "config": "config/actord.json", "routes": res, "actord_shed_total": shed}
print(f"burst_bench: ab -c10000 -n10000 and wrk -t2 -c10000 -d{duration}s per route and "
      f"server; actord: the shipped config (load average at the end: {load})")
print(f"{'route':<11} {'test':<7} {'server':<8} {'req/s':>9} {'done':>8} {'failed':>7} "
      f"{'non-2xx':>8} {'p99 ms':>8}")
met = True
for route, kinds in res.items():
    for kind in ("ab", "wrk10k", "wrk128"):
        for srv, r in kinds.get(kind, {}).items():
            done = r.get("complete", r.get("requests"))
            failed = r.get("failed", r.get("errors"))
            print(f"{route:<11} {kind:<7} {srv:<8} {r['rps']:>9.0f} {done:>8} {failed:>7} "
                  f"{r['non2xx']:>8} {r['p99_ms']:>8.0f}")
    a_ab = kinds["ab"]["actord"]
    a_wrk = kinds["wrk10k"]["actord"]
    ref = kinds["wrk128"]["actord"]["rps"]
    ok = (a_ab["complete"] == 10000 and a_ab["failed"] == 0 and a_ab["non2xx"] == 0 and
          a_wrk["errors"] == 0 and a_wrk["non2xx"] == 0 and a_wrk["rps"] >= ref)
    kinds["ratio_wrk10k_to_wrk128"] = round(a_wrk["rps"] / ref, 2) if ref else 0
    kinds["met"] = ok
    met = met and ok
    print(f"{route:<11} actord wrk -c10000 / wrk -c128: {kinds['ratio_wrk10k_to_wrk128']:.2f}x"
          f"{'' if ok else '  MISSED'}")
    for peer, what in (("nginx", "the peer"), ("floor", "the kernel's floor")):
        p10k, p128 = kinds["wrk10k"].get(peer), kinds["wrk128"].get(peer)
        if p10k and p128 and p128["rps"]:
            kinds[f"{peer}_ratio_wrk10k_to_wrk128"] = round(p10k["rps"] / p128["rps"], 2)
            print(f"{route:<11} {peer:<6} wrk -c10000 / wrk -c128: "
                  f"{kinds[f'{peer}_ratio_wrk10k_to_wrk128']:.2f}x ({what}, for comparison)")
print(f"actord requests shed (admission, every reason): {shed:.0f}")
out["all_met"] = met
print(json.dumps(out, separators=(",", ":")))
EOF

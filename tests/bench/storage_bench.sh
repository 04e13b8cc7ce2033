#!/bin/sh
# storage_bench.sh - actord against the Tornado peer (Tornado + aiomysql +
# redis asyncio, tests/bench/peers/tornado_peer.py, 2 processes) on the
# storage routes, in one run, against the same local Redis and MariaDB:
#   wrk -t1 -c128 -d10s on /db, /queries?queries=20, /updates?queries=5,
#   /fortunes, /cached-queries?count=20 and the wallpaper list; then the
#   seed's own test, ab -c 10000 -n 10000 on the wallpaper list.
# The two cached routes are also measured against nginx serving the same
# bytes (captured from actord after the warm-up) as static files: the
# near cache's ceiling is what a static file server does.
# Prints a human table, then as its very last line one JSON object with
# every figure and ratio. Server CPU time per request (from /proc/PID/stat,
# both servers' processes, and MariaDB's) is shown next to requests/s:
# on 2 shared cores it is the fairer comparison.
#
# actord's configuration: the shipped config/actord.json, only its
# addresses moved (bench_lib.sh's shipped_config; issue 20 measures "the
# shipped configuration"). tests/bench/compare.sh keeps its own minimal
# tests/bench/storage_actord.json.in, which older builds also read.
#
# Environment: ACTORD_BIN (default build/actord), BENCH_PEER (default
# tests/bench/peers/tornado_peer.py; relative paths are taken from the
# directory the script is started in), BENCH_DURATION (10 s),
# BENCH_REDIS_PORT / BENCH_MYSQL_PORT (27379 / 27306), BENCH_ACTORD_PORT /
# BENCH_TORNADO_PORT / BENCH_NGINX_PORT (27080 / 27888 / 27082; actord's admin listener takes 27081). State lives
# in .run/bench.
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
N_PORT=${BENCH_NGINX_PORT:-27082}   # A_PORT + 1 is actord's admin listener
export ACTORD_RUN_DIR=$ROOT/.run/bench
export ACTORD_REDIS_PORT=${BENCH_REDIS_PORT:-27379}
export ACTORD_MYSQL_PORT=${BENCH_MYSQL_PORT:-27306}
RUN=$ACTORD_RUN_DIR
OUT=$RUN/results
WALL=/client/v3/wallpaper_4d/wallpaperList.json

# ab opens 10,000 connections at once: both servers and ab need the fds.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 12000 ] || { echo "storage_bench: need ulimit -n >= 12000" >&2; exit 1; }
[ -x "$BIN" ] || { echo "storage_bench: $BIN not built (make build)" >&2; exit 1; }
[ -f "$PEER" ] || { echo "storage_bench: no peer $PEER" >&2; exit 1; }

. tests/bench/bench_lib.sh
bench_ports_free storage_bench "$A_PORT" "$T_PORT" "$N_PORT" "$ACTORD_REDIS_PORT" "$ACTORD_MYSQL_PORT"

mkdir -p "$RUN"
rm -f "$OUT"
tests/services.sh start >/dev/null

APID=""
TPID=""
NPID=""
cleanup() {
  set +e   # stop everything we started, whatever each step says
  bench_stop "$NPID" "$TPID" "$APID"
  tests/services.sh stop >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

up() { curl -sf -o /dev/null "http://127.0.0.1:$1/db"; }

shipped_config "$RUN/actord.json" "$A_PORT" "$ACTORD_REDIS_PORT" "$ACTORD_MYSQL_PORT"
"$BIN" -c "$RUN/actord.json" >"$RUN/actord.log" 2>&1 &
APID=$!
"$PY" "$PEER" --port "$T_PORT" --procs 2 --mysql-port "$ACTORD_MYSQL_PORT" \
  --redis-port "$ACTORD_REDIS_PORT" >"$RUN/tornado.log" 2>&1 &
TPID=$!

i=0
until up "$A_PORT" && up "$T_PORT"; do
  i=$((i + 1))
  [ $i -le 600 ] || { echo "storage_bench: servers did not start within 60 s" >&2; exit 1; }
  sleep 0.1
done
kill -0 "$APID" && kill -0 "$TPID"   # they answer, and they are ours

# CPU ticks of a process and its children (Tornado forks its workers).
ticks() {
  total=0
  for p in $1 $(pgrep -P "$1" || true); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
MYSQLD=$(cat "$RUN/mysql/mysqld.pid")

# measure NAME SERVER PORT PATH: one wrk run, one result line.
measure() {
  a0=$(ticks "$3"); m0=$(ticks "$MYSQLD")
  w=$(wrk -t1 -c128 -d"${DURATION}s" "http://127.0.0.1:$4$5")
  a1=$(ticks "$3"); m1=$(ticks "$MYSQLD")
  echo "$w" | awk -v name="$1" -v srv="$2" -v cpu=$((a1 - a0)) -v db=$((m1 - m0)) '
    /requests in/ { n = $1 }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad += $NF }
    /Socket errors/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
    END { printf "wrk %s %s %s %d %d %.1f %.1f\n", name, srv, rps, n, bad,
          n ? cpu * 10000 / n : 0, n ? db * 10000 / n : 0 }' >>"$OUT"
}

# Reads first, the one route that writes last: /updates' commits (and
# MariaDB's flushing after them) load the disk, and the local Redis fsyncs
# every write (appendfsync always, for the job queue), so a route measured
# after /updates would measure the disk: a Redis stalled past
# redis.command_timeout_ms drops every connection, and the near cache is
# flushed and bypassed until its invalidation path is back (by design).
ROUTES="cached:/cached-queries?count=20 wallpaper:$WALL db:/db queries:/queries?queries=20
fortunes:/fortunes updates:/updates?queries=5"

# Warm both up: caches filled, connections made, code paths hot.
for r in $ROUTES; do
  p=${r#*:}
  wrk -t1 -c32 -d1s "http://127.0.0.1:$A_PORT$p" >/dev/null
  wrk -t1 -c32 -d1s "http://127.0.0.1:$T_PORT$p" >/dev/null
done

# nginx serving the bytes of the two cached routes as static files.
mkdir -p "$RUN/nginx/www"
curl -sf -o "$RUN/nginx/www/cached" "http://127.0.0.1:$A_PORT/cached-queries?count=20"
curl -sf -o "$RUN/nginx/www/wallpaper" "http://127.0.0.1:$A_PORT$WALL"
chmod -R a+rX "$RUN/nginx"
nginx_conf "$RUN/nginx" 2 20000 "sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=16 inactive=60s;
    open_file_cache_valid 60s;
    server {
        listen 127.0.0.1:$N_PORT backlog=4096;
        root $RUN/nginx/www;
        default_type application/json;
    }"
nginx -p "$RUN/nginx" -e "$RUN/nginx/error.log" -c "$RUN/nginx/nginx.conf" -g "daemon off;" \
  2>>"$RUN/nginx/error.log" &
NPID=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$N_PORT/cached"; do
  i=$((i + 1))
  [ $i -le 100 ] || { echo "storage_bench: nginx did not start" >&2; exit 1; }
  sleep 0.1
done
wrk -t1 -c32 -d1s "http://127.0.0.1:$N_PORT/cached" >/dev/null

for r in $ROUTES; do
  name=${r%%:*}; p=${r#*:}
  measure "$name" actord "$APID" "$A_PORT" "$p"
  measure "$name" tornado "$TPID" "$T_PORT" "$p"
  case $name in
  cached|wallpaper) measure "$name" nginx "$NPID" "$N_PORT" "/$name" ;;
  esac
done

# The seed's own test: 10,000 connections at once, each one request.
for s in actord:$A_PORT tornado:$T_PORT; do
  a=$(ab -q -r -c 10000 -n 10000 "http://127.0.0.1:${s#*:}$WALL" 2>&1 || true)
  echo "$a" | awk -v srv="${s%%:*}" '
    /Complete requests/ { done = $3 }
    /Failed requests/ { failed = $3 }
    /Non-2xx/ { non2xx = $3 }
    /Requests per second/ { rps = $4 }
    /Time taken/ { took = $5 }
    END { printf "ab wallpaper %s %s %d %d %d %s\n", srv, rps ? rps : 0, done, failed,
          non2xx, took ? took : 0 }' >>"$OUT"
done

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
# Redis connections actord lost during the run (a stalled Redis: see above).
LOST=$(grep -c "connection lost" "$RUN/actord.log" || true)
"$PY" - "$OUT" "$DURATION" "$LOAD" "$LOST" <<'EOF'
import json
import sys

path, duration, load, lost = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
targets = {"db": 5, "queries": 2, "updates": 2, "fortunes": 3, "cached": 20, "wallpaper": 20}
vs_nginx = 1.0   # the cached routes against nginx serving their bytes as files
paths = {"db": "/db", "queries": "/queries?queries=20", "updates": "/updates?queries=5",
         "fortunes": "/fortunes", "cached": "/cached-queries?count=20",
         "wallpaper": "/client/v3/wallpaper_4d/wallpaperList.json"}
wrk, ab = {}, {}
for line in open(path):
    f = line.split()
    if f[0] == "wrk":
        wrk.setdefault(f[1], {})[f[2]] = {
            "rps": float(f[3]), "requests": int(f[4]), "errors": int(f[5]),
            "cpu_us_per_req": float(f[6]), "mysqld_us_per_req": float(f[7])}
    else:
        ab[f[2]] = {"rps": float(f[3]), "complete": int(f[4]), "failed": int(f[5]),
                    "non2xx": int(f[6]), "seconds": float(f[7])}

out = {"bench": "storage", "duration_s": duration, "wrk": "-t1 -c128", "loadavg": load,
       "config": "config/actord.json", "routes": {}, "ab_wallpaper": ab,
       "actord_redis_connections_lost": lost}
print(f"storage_bench: wrk -t1 -c128 -d{duration}s per route and server "
      f"(load average before the summary: {load})")
print(f"{'route':<42} {'actord r/s':>11} {'tornado r/s':>12} {'ratio':>7} {'target':>7} "
      f"{'cpu us/req a|t':>16} {'mysqld us/req a|t':>18} {'errors a|t':>11}")
for name in targets:
    a, t = wrk[name]["actord"], wrk[name]["tornado"]
    ratio = a["rps"] / t["rps"] if t["rps"] else 0.0
    ok = ratio >= targets[name] and a["errors"] == 0
    out["routes"][name] = {"path": paths[name], "actord": a, "tornado": t,
                           "ratio": round(ratio, 2), "target": targets[name], "met": ok}
    print(f"{paths[name]:<42} {a['rps']:>11.0f} {t['rps']:>12.0f} {ratio:>6.1f}x "
          f"{'>=' + str(targets[name]) + 'x':>7} "
          f"{a['cpu_us_per_req']:>7.1f}|{t['cpu_us_per_req']:<8.1f} "
          f"{a['mysqld_us_per_req']:>8.1f}|{t['mysqld_us_per_req']:<9.1f} "
          f"{a['errors']:>5}|{t['errors']:<5}{'' if ok else '  MISSED'}")
print()
print(f"{'cached route vs nginx (same bytes, static file)':<48} {'actord r/s':>11} "
      f"{'nginx r/s':>10} {'ratio':>7} {'target':>7} {'cpu us/req a|n':>16}")
for name in ("cached", "wallpaper"):
    a, n = wrk[name]["actord"], wrk[name].get("nginx")
    if n is None:
        continue
    ratio = a["rps"] / n["rps"] if n["rps"] else 0.0
    ok = ratio >= vs_nginx and a["errors"] == 0
    r = out["routes"][name]
    r.update(nginx=n, ratio_vs_nginx=round(ratio, 2), target_vs_nginx=vs_nginx)
    r["met"] = r["met"] and ok
    print(f"{paths[name]:<48} {a['rps']:>11.0f} {n['rps']:>10.0f} {ratio:>6.2f}x "
          f"{'>=' + str(vs_nginx) + 'x':>7} {a['cpu_us_per_req']:>7.1f}|{n['cpu_us_per_req']:<8.1f}"
          f"{'' if ok else '  MISSED'}")
if lost:
    print(f"note: actord lost {lost} Redis connection(s) during the run (Redis stalled past "
          "redis.command_timeout_ms; the near cache bypassed meanwhile): see actord.log")
print()
print("ab -c 10000 -n 10000 " + paths["wallpaper"])
for srv, r in ab.items():
    print(f"  {srv:<8} {r['rps']:>9.0f} r/s  complete {r['complete']}  failed {r['failed']}  "
          f"non-2xx {r['non2xx']}  in {r['seconds']:.2f} s")
a_ab = ab.get("actord", {})
out["ab_wallpaper_met"] = a_ab.get("failed", 1) == 0 and a_ab.get("complete", 0) == 10000
out["all_met"] = out["ab_wallpaper_met"] and all(r["met"] for r in out["routes"].values())
print(json.dumps(out, separators=(",", ":")))
EOF

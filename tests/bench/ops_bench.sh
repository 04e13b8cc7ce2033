#!/bin/sh
# Operations under load (issue 21; not a test): what a binary upgrade and a
# capacity change cost the clients, actord against nginx in one run.
#   steady   wrk alone: the reference
#   upgrade  a binary upgrade 3 s into the run. actord: SIGUSR2 (the same
#            binary; the new process adopts the sockets, the old drains);
#            nginx: its documented sequence, SIGUSR2 to the master, then
#            SIGQUIT to the old master once the new one wrote its pidfile
#   resize   more capacity 3 s in, back 3 s later. actord:
#            POST /admin/actors/handler 4 and net 2, then 1 and 1;
#            nginx: worker_processes 4 then 2, each a SIGHUP reload (its way
#            of changing the count live)
# /plaintext on both ("Hello, World!"; nginx: `return 200`), wrk -t1
# -cCONNS -dDURATION --latency. Each row: req/s, errors (socket errors and
# non-2xx), p99 and max latency, and whether the serving PID changed (the
# pidfile's). The upgrade and resize rows must show 0 errors.
#
# Prints a human table, then as the very last line one JSON object.
# Environment: DURATION (10s), CONNS (256), ACTORD_BIN (build/actord; a
# relative path is taken from the starting directory).
# Always under the benchmark lock: flock /tmp/actord-bench.lock tests/bench/ops_bench.sh
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-256}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
NGINX=$(command -v nginx || true)
PY=/usr/bin/python3
RUN=$ROOT/build/bench-ops
. "$ROOT/tests/bench/bench_lib.sh"

[ -x "$ACTORD" ] || { echo "ops_bench: $ACTORD is not built (make build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "ops_bench: wrk is not installed" >&2; exit 1; }
[ -n "$NGINX" ] || { echo "ops_bench: nginx is not installed" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

rm -rf "$RUN"
mkdir -p "$RUN/nginx" "$RUN/actord"
chmod 755 "$RUN" "$RUN/nginx"
ACTORD_PORT=$(free_port)
ACTORD_ADMIN=$(free_port)
NGINX_PORT=$(free_port)
cleanup() {
  for f in "$RUN/actord/actord.pid" "$RUN/nginx/nginx.pid" "$RUN/nginx/nginx.pid.oldbin"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

peer_conf() { # workers
  nginx_conf "$RUN/nginx" "$1" 4096 "server { listen 127.0.0.1:$NGINX_PORT;
             location = /plaintext { default_type text/plain; return 200 \"Hello, World!\"; } }"
}
# nginx re-executes argv[0] on SIGUSR2: start it by its full path.
peer_conf 2
"$NGINX" -c "$RUN/nginx/nginx.conf" -p "$RUN/nginx"
wait_port ops_bench "$NGINX_PORT"

cat >"$RUN/actord/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_PORT"], "admin_listen": "127.0.0.1:$ACTORD_ADMIN",
  "log": {"level": "warn", "file": "$RUN/actord/actord.log"},
  "pidfile": "$RUN/actord/actord.pid",
  "actors": {"net": {"count": 1}, "handler": {"count": 1},
             "cache": {"count": 0}, "mysql": {"count": 0}, "job": {"count": 0}} }
EOF
"$ACTORD" -d -c "$RUN/actord/actord.json"
wait_port ops_bench "$ACTORD_PORT"

pid_of() { cat "$RUN/$1/$1.pid"; }

wait_file() { # path: 30 s at most
  i=0
  until [ -f "$1" ]; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "ops_bench: no $1" >&2; exit 1; }
    sleep 0.1
  done
}

admin_count() { # kind n
  curl -sf -X POST -H 'Content-Type: application/json' -d "{\"count\": $2}" \
    "http://127.0.0.1:$ACTORD_ADMIN/admin/actors/$1" >/dev/null
}

act() { # server scenario: what happens 3 s into the run
  case $1-$2 in
    *-steady) ;;
    actord-upgrade) kill -USR2 "$(pid_of actord)" ;;
    nginx-upgrade)
      old=$(pid_of nginx)
      kill -USR2 "$old"
      wait_file "$RUN/nginx/nginx.pid.oldbin"
      kill -QUIT "$old" ;;
    actord-resize)
      admin_count handler 4; admin_count net 2; sleep 3
      admin_count handler 1; admin_count net 1 ;;
    nginx-resize)
      peer_conf 4; kill -HUP "$(pid_of nginx)"; sleep 3
      peer_conf 2; kill -HUP "$(pid_of nginx)" ;;
  esac
}

run() { # server scenario: appends "server scenario rps errors p99 max pid_changed"
  case $1 in actord) port=$ACTORD_PORT ;; *) port=$NGINX_PORT ;; esac
  pid0=$(pid_of "$1")
  wrk -t1 -c"$CONNS" -d"$DURATION" --latency --timeout 5s \
    "http://127.0.0.1:$port/plaintext" >"$RUN/wrk-$1-$2.txt" &
  w=$!
  sleep 3
  act "$1" "$2"
  wait "$w"
  # The old nginx master or actord process has gone once its drain ends.
  i=0
  while [ -f "$RUN/nginx/nginx.pid.oldbin" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  pid1=$(pid_of "$1")
  out=$(cat "$RUN/wrk-$1-$2.txt")
  f=$(wrk_fields "$out" 0 0)
  max=$(echo "$out" | awk '/^ +Latency/ {print $4; exit}')
  echo "$1 $2 $(echo "$f" | awk '{print $1, $3, $5}') $max $([ "$pid0" = "$pid1" ] && echo no || echo yes)" \
    >>"$RUN/results.txt"
}

for s in actord nginx; do
  case $s in actord) port=$ACTORD_PORT ;; *) port=$NGINX_PORT ;; esac
  wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/plaintext" >/dev/null
done
for sc in steady upgrade resize; do
  for s in actord nginx; do run "$s" "$sc"; done
done

$PY - "$RUN/results.txt" "$DURATION" "$CONNS" <<'EOF'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
out = {"bench": "ops", "duration": sys.argv[2], "connections": int(sys.argv[3])}
print(f"operations under load: actord vs nginx, /plaintext, wrk -t1 -c{sys.argv[3]} "
      f"-d{sys.argv[2]}; the event 3 s in")
print(f"{'scenario':9} {'server':7} {'req/s':>9} {'errors':>7} {'p99':>9} {'max':>9} {'new pid':>8}")
for s, sc, rps, err, p99, mx, moved in rows:
    print(f"{sc:9} {s:7} {float(rps):>9.0f} {int(err):>7} {p99:>9} {mx:>9} {moved:>8}")
    out[f"{sc}_{s}_rps"] = float(rps)
    out[f"{sc}_{s}_errors"] = int(err)
    out[f"{sc}_{s}_p99"] = p99
    out[f"{sc}_{s}_max"] = mx
    out[f"{sc}_{s}_pid_changed"] = moved == "yes"
print(json.dumps(out, separators=(",", ":")))
EOF

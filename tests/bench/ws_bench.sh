#!/bin/sh
# WebSocket benchmark (issue 17; not a test): one chat room with CONNS
# members (5,000), one of them publishing MSGS messages at a fixed RATE,
# every delivery timed at the clients by build/ws_load (C, epoll, one
# thread; it prints its own CPU time, which must stay well under a core),
# on two servers in one run, one after the other:
#   actord    build/actord, the shipped GET /ws/chat/:room (1 network, 1
#             handler, 1 pubsub actor; channels published to Redis too)
#   tornado   the Tornado peer, tests/bench/peers/tornado_peer.py
#             --procs 1, its /ws/chat/ROOM (WebSocketHandler, write_message
#             to each member)
# Figures: delivered messages/s (deliveries over first send to last
# delivery), publish-to-delivery latency p50/p99/max, the server's CPU
# seconds over the run, and idle bytes per WebSocket connection (the
# server's resident memory with CONNS idle members, minus before, over
# CONNS).
#
# The peer opens its MariaDB and Redis pools at start, so local Redis +
# MariaDB are started with tests/services.sh under build/bench-ws/services
# on ports 29579 / 29506 (and stopped again); actord publishes to that
# Redis too.
#
# Prints a human table, then as the very last line one JSON object.
# Environment: CONNS (5000), RATE (100 messages/s), MSGS (300), WAIT_S
# (60: longest wait for the last deliveries), ACTORD_BIN (build/actord),
# BENCH_PEER (tests/bench/peers/tornado_peer.py); relative paths are taken
# from the directory the script is started in. Run it under
# `flock /tmp/actord-bench.lock` (run-all.sh does).
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BENCH_PEER:-} in ""|/*) ;; *) BENCH_PEER=$PWD/$BENCH_PEER ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
CONNS=${CONNS:-5000}
RATE=${RATE:-100}
MSGS=${MSGS:-300}
WAIT_S=${WAIT_S:-60}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
LOAD=$ROOT/build/ws_load
TORNADO_PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
PY=/usr/bin/python3
RUN=$ROOT/build/bench-ws
SVC_REDIS=29579
SVC_MYSQL=29506

[ -x "$ACTORD" ] || { echo "ws_bench: $ACTORD is not built (make build)" >&2; exit 1; }
[ -x "$LOAD" ] || { echo "ws_bench: $LOAD is not built (make build)" >&2; exit 1; }
[ -f "$TORNADO_PEER" ] || { echo "ws_bench: no peer $TORNADO_PEER" >&2; exit 1; }
# Both ends hold CONNS sockets.
ulimit -n $((CONNS * 2 + 1024)) 2>/dev/null || ulimit -n "$(ulimit -H -n)"

rm -rf "$RUN/actord" "$RUN"/*.txt
mkdir -p "$RUN/actord"

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ACTORD_PORT=$(free_port)
ACTORD_ADMIN=$(free_port)
TORNADO_PORT=$(free_port)

PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
    tests/services.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

wait_port() { # port
  i=0
  until $PY -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "ws_bench: nothing listens on $1" >&2; exit 1; }
    sleep 0.1
  done
}

rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }
cpu_s() { # pid
  $PY -c "import os,sys; f=open('/proc/$1/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"
}

ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
  tests/services.sh start >/dev/null

cat >"$RUN/actord/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_PORT"], "admin_listen": "127.0.0.1:$ACTORD_ADMIN",
  "log": {"level": "warn"}, "http": {"backlog": 8192},
  "actors": {"mysql": {"count": 0}, "job": {"count": 0}},
  "redis": {"port": $SVC_REDIS} }
EOF
"$ACTORD" -c "$RUN/actord/actord.json" 2>"$RUN/actord/stderr.log" &
ACTORD_PID=$!
PIDS="$PIDS $ACTORD_PID"
wait_port "$ACTORD_PORT"

$PY "$TORNADO_PEER" --port "$TORNADO_PORT" --procs 1 --pool 2 \
  --mysql-port $SVC_MYSQL --redis-port $SVC_REDIS >"$RUN/tornado.log" 2>&1 &
TORNADO_PID=$!
PIDS="$PIDS $TORNADO_PID"
wait_port "$TORNADO_PORT"
sleep 1

# run NAME PORT PID: one room, one publisher; appends "name msgs/s p50 p99
# max delivered expected server_cpu_s idle_bytes client_cpu_s lost" to
# results.txt.
run() {
  name=$1 port=$2 pid=$3
  out=$RUN/load-$name.txt
  m0=$(rss "$pid")
  "$LOAD" 127.0.0.1 "$port" "/ws/chat/bench-$name" "$CONNS" "$RATE" "$MSGS" "$WAIT_S" 2 \
    >"$out" 2>&1 &
  lp=$!
  i=0
  until grep -q "connections open" "$out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 $lp 2>/dev/null; then
      echo "ws_bench: $name: the clients did not connect" >&2; cat "$out" >&2; exit 1
    fi
    sleep 0.1
  done
  sleep 1
  m1=$(rss "$pid")
  c0=$(cpu_s "$pid")
  wait $lp || { echo "ws_bench: $name: ws_load failed" >&2; cat "$out" >&2; exit 1; }
  c1=$(cpu_s "$pid")
  tail -1 "$out" | $PY -c "
import json, sys
d = json.loads(sys.stdin.read())
print('$name', d['msgs_per_s'], d['p50_ms'], d['p99_ms'], d['max_ms'], d['delivered'],
      d['expected'], round($c1 - $c0, 2), round(($m1 - $m0) / $CONNS), d['client_cpu_s'], d['lost'])
" >> "$RUN/results.txt"
}

# The machine is shared: the load average before and after is printed
# with the figures.
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
run actord "$ACTORD_PORT" "$ACTORD_PID"
run tornado "$TORNADO_PORT" "$TORNADO_PID"
LOAD1=$(cut -d' ' -f1 /proc/loadavg)

$PY - "$RUN/results.txt" "$CONNS" "$RATE" "$MSGS" "$LOAD0" "$LOAD1" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows[f[0]] = dict(msgs_per_s=float(f[1]), p50_ms=float(f[2]), p99_ms=float(f[3]),
                      max_ms=float(f[4]), delivered=int(f[5]), expected=int(f[6]),
                      server_cpu_s=float(f[7]), idle_bytes_per_conn=int(f[8]),
                      client_cpu_s=float(f[9]), lost=int(f[10]))
conns, rate, msgs, load0, load1 = sys.argv[2:7]
print(f"WebSocket fan-out: 1 room, {conns} members, {msgs} messages at {rate}/s"
      f" (load average {load0} before, {load1} after)")
print(f"{'server':8} {'msgs/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'delivered':>19}"
      f" {'server CPU s':>12} {'idle B/conn':>11} {'client CPU s':>12}")
for name, r in rows.items():
    print(f"{name:8} {r['msgs_per_s']:10.0f} {r['p50_ms']:9.2f} {r['p99_ms']:9.2f} {r['max_ms']:9.2f}"
          f" {r['delivered']:>9}/{r['expected']:<9} {r['server_cpu_s']:12.2f}"
          f" {r['idle_bytes_per_conn']:11} {r['client_cpu_s']:12.2f}")
a, t = rows.get("actord"), rows.get("tornado")
out = {"bench": "ws", "connections": int(conns), "rate": int(rate), "messages": int(msgs),
       "loadavg_before": float(load0), "loadavg_after": float(load1),
       **{f"{n}_{k}": v for n, r in rows.items() for k, v in r.items()}}
if a and t and t["msgs_per_s"] > 0:
    out["ratio_msgs_per_s"] = round(a["msgs_per_s"] / t["msgs_per_s"], 2)
    print(f"actord / tornado: {out['ratio_msgs_per_s']}x delivered messages/s, "
          f"p99 {a['p99_ms']:.2f} ms vs {t['p99_ms']:.2f} ms")
print(json.dumps(out))
EOF

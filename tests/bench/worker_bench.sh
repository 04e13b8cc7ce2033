#!/bin/sh
# Worker benchmark (issue 16; not a test): CPU-bound work off the request
# path. POST /hash {"password", "salt", "iterations": ITERATIONS} (PBKDF2-
# HMAC-SHA256, 10,000 iterations by default) with wrk -t1 -cCONNS, on three
# servers in one run:
#   actord          build/actord, 2 worker actors (actors.worker.count 2)
#   tornado-threads the Tornado peer (one process), run_in_executor on a
#                   ThreadPoolExecutor(2) (hashlib releases the GIL)
#   tornado-procs   the same peer's /hash-process: a ProcessPoolExecutor(2)
# While wrk saturates the workers, a latency probe in its own process
# (tests/e2e/latency_probe.py) sends GET /json to the same server every
# 5 ms on one keep-alive connection: its p99 is the proof that the event
# loop / the network and handler actors never wait for a hash.
# Each run lasts DURATION (after a 2 s warm-up), one at a time, in ROUNDS
# rounds (default 3) whose order rotates; each server's median round (by
# /hash req/s) is reported. The machine is shared: see docs/PERFORMANCE.md.
#
# The peer opens its MariaDB and Redis pools at start, so local services
# are started with tests/services.sh under build/bench-worker/services on
# ports 29479 / 29406 (and stopped again).
#
# Prints a human table, then as the very last line one JSON object.
# Environment: DURATION (10s), CONNS (64), ROUNDS (3), ITERATIONS (10000),
# ACTORD_BIN (build/actord), BENCH_PEER (tests/bench/peers/tornado_peer.py);
# relative paths are taken from the directory the script is started in.
# Run it alone: flock /tmp/actord-bench.lock tests/bench/worker_bench.sh
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BENCH_PEER:-} in ""|/*) ;; *) BENCH_PEER=$PWD/$BENCH_PEER ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
ITERATIONS=${ITERATIONS:-10000}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
TORNADO_PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
PROBE=$ROOT/tests/e2e/latency_probe.py
PY=/usr/bin/python3
. tests/bench/bench_lib.sh
RUN=$ROOT/build/bench-worker
SVC_REDIS=29479
SVC_MYSQL=29406
SECONDS_RUN=${DURATION%s}

[ -x "$ACTORD" ] || { echo "worker_bench: $ACTORD is not built (make build)" >&2; exit 1; }
[ -f "$TORNADO_PEER" ] || { echo "worker_bench: no peer $TORNADO_PEER" >&2; exit 1; }
command -v wrk >/dev/null || { echo "worker_bench: wrk is not installed" >&2; exit 1; }

rm -rf "$RUN/actord"
mkdir -p "$RUN/actord"

ACTORD_PORT=$(free_port)
ACTORD_ADMIN=$(free_port)
TORNADO_PORT=$(free_port)

PIDS=""
cleanup() {
  # The peer's executor processes first (by their parent's pid), then the rest.
  [ -n "${TORNADO_PID:-}" ] && pkill -P "$TORNADO_PID" 2>/dev/null || true
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
    tests/services.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

# actord: 2 workers (one per core), no storage actors (the route needs none).
cat >"$RUN/actord/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_PORT"], "admin_listen": "127.0.0.1:$ACTORD_ADMIN",
  "log": {"level": "warn"},
  "actors": {"worker": {"count": 2, "mailbox": 1024}, "cache": {"count": 0},
             "mysql": {"count": 0}, "mongo": {"count": 0}, "job": {"count": 0}},
  "app": {"hash_max_iterations": $ITERATIONS} }
EOF
"$ACTORD" -c "$RUN/actord/actord.json" 2>"$RUN/actord/stderr.log" &
ACTORD_PID=$!
PIDS="$PIDS $ACTORD_PID"
wait_port worker_bench "$ACTORD_PORT"

# Tornado needs live MariaDB + Redis for its start-up; one process, as the
# seed runs it (its executors use the cores).
ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
  tests/services.sh start >/dev/null
$PY "$TORNADO_PEER" --port "$TORNADO_PORT" --procs 1 --hash-workers 2 \
  --mysql-port $SVC_MYSQL --redis-port $SVC_REDIS >"$RUN/tornado.log" 2>&1 &
TORNADO_PID=$!
PIDS="$PIDS $TORNADO_PID"
wait_port worker_bench "$TORNADO_PORT"
sleep 1

BODY="{\"password\": \"correct horse battery staple\", \"salt\": \"NaCl-1234\", \"iterations\": $ITERATIONS}"
cat >"$RUN/hash.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
EOF

# run NAME PORT PATH: one timed run with the /json probe alongside; appends
# "name rps errors p50 p99 json_p50 json_p99 json_max" to results.txt.
run() {
  name=$1 port=$2 path=$3
  $PY "$PROBE" "$port" /json "$SECONDS_RUN" 5 >"$RUN/probe-$name.json" &
  probe=$!
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$RUN/hash.lua" "http://127.0.0.1:$port$path")
  wait $probe
  echo "$out" >> "$RUN/wrk-$name.txt"
  rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx/ {print $5} /Socket errors/ {n=0; for(i=4;i<=NF;i+=2) n+=$i; print n}' | awk '{s+=$1} END {print s+0}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  jl=$($PY -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.2f %.2f %.2f %d' % (d['p50'], d['p99'], d['max'], d['errors']))" "$RUN/probe-$name.json")
  echo "$name $rps $errs $p50 $p99 $jl" >> "$RUN/results.txt"
}

warm() { # name port path
  curl -sf -X POST -d "$BODY" "http://127.0.0.1:$2$3" | grep -q '"hash"' || {
    echo "worker_bench: $1 $3 does not answer a hash" >&2; exit 1; }
  wrk -t1 -c"$CONNS" -d2s -s "$RUN/hash.lua" "http://127.0.0.1:$2$3" >/dev/null
}

rm -f "$RUN/results.txt" "$RUN"/wrk-*.txt
warm actord "$ACTORD_PORT" /hash
warm tornado-threads "$TORNADO_PORT" /hash
warm tornado-procs "$TORNADO_PORT" /hash-process
r=0
while [ $r -lt "$ROUNDS" ]; do
  case $((r % 3)) in
    0) order="actord tornado-threads tornado-procs" ;;
    1) order="tornado-threads tornado-procs actord" ;;
    *) order="tornado-procs actord tornado-threads" ;;
  esac
  for s in $order; do
    case $s in
      actord) run actord "$ACTORD_PORT" /hash ;;
      tornado-threads) run tornado-threads "$TORNADO_PORT" /hash ;;
      tornado-procs) run tornado-procs "$TORNADO_PORT" /hash-process ;;
    esac
  done
  r=$((r + 1))
done

$PY - "$RUN/results.txt" "$DURATION" "$CONNS" "$ITERATIONS" <<'EOF'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
names = ["actord", "tornado-threads", "tornado-procs"]
runs = {n: [r for r in rows if r[0] == n] for n in names}


def median_run(n):
    rs = sorted(runs[n], key=lambda r: float(r[1]))
    return rs[(len(rs) - 1) // 2]


med = {n: median_run(n) for n in names}
rps = {n: float(med[n][1]) for n in names}
print(f"worker benchmark: POST /hash (PBKDF2-HMAC-SHA256, {sys.argv[4]} iterations); wrk -t1 "
      f"-c{sys.argv[3]} -d{sys.argv[2]}; GET /json probed every 5 ms meanwhile; "
      f"{len(runs['actord'])} rounds, median round shown")
print(f"{'server':16} {'hash/s':>8} {'p50':>9} {'p99':>9} {'errors':>7} "
      f"{'json p50':>9} {'json p99':>9} {'json max':>9}   hash/s of every round")
for n in names:
    _, r, err, p50, p99, jp50, jp99, jmax, jerr = med[n]
    every = " ".join(f"{float(x[1]):.0f}" for x in runs[n])
    print(f"{n:16} {float(r):>8.0f} {p50:>9} {p99:>9} {int(err) + int(jerr):>7} "
          f"{jp50 + 'ms':>9} {jp99 + 'ms':>9} {jmax + 'ms':>9}   {every}")
best = max(rps["tornado-threads"], rps["tornado-procs"])
ratio = round(rps["actord"] / best, 2)
print(f"actord / better Tornado variant: {ratio}x (target >= 1.5); "
      f"actord GET /json p99 while hashing: {med['actord'][6]} ms (target < 5)")
out = {"bench": "worker", "duration": sys.argv[2], "connections": int(sys.argv[3]),
       "iterations": int(sys.argv[4]), "rounds": len(runs["actord"])}
for n in names:
    _, r, err, p50, p99, jp50, jp99, jmax, jerr = med[n]
    k = n.replace("-", "_")
    out[f"{k}_rps"] = float(r)
    out[f"{k}_rps_rounds"] = [float(x[1]) for x in runs[n]]
    out[f"{k}_errors"] = int(err) + int(jerr)
    out[f"{k}_p50"] = p50
    out[f"{k}_p99"] = p99
    out[f"{k}_json_p99_ms"] = float(jp99)
    out[f"{k}_json_max_ms"] = float(jmax)
out.update({"ratio_vs_better_tornado": ratio, "target_ratio": 1.5, "target_json_p99_ms": 5})
print(json.dumps(out, separators=(",", ":")))
EOF

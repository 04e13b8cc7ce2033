#!/bin/sh
# Login benchmark (issue 18; not a test): POST /demo/login, the seed's
# login example, on actord (app/demo.c: _xsrf check, the user's row from
# MariaDB, PBKDF2-HMAC-SHA256 on the worker actors, a session in Redis,
# 303) and on the Tornado peer (tests/bench/peers/tornado_peer.py --procs 2:
# the same steps, PBKDF2 in its executor), against the same MariaDB and
# Redis, in one run. Two users: one hashed with 100,000 rounds (the
# shipped app.demo_pbkdf2_iterations: the hash is the work) and one with
# 1,000 (the framework around it is). wrk -t1 -cCONNS -dDURATION per user
# and server after a 2 s warm-up, ROUNDS rounds alternating the order;
# median round shown, with the server's CPU time per request (/proc).
#
# Local Redis + MariaDB: tests/services.sh under build/bench-login/services
# on ports 29381 / 29308 (stopped again at the end).
# Prints a human table, then as the very last line one JSON object.
# Environment: DURATION (10s), CONNS (16), ROUNDS (2), ACTORD_BIN
# (build/actord), BENCH_PEER (the Tornado peer).
# Always under the benchmark lock: flock /tmp/actord-bench.lock tests/bench/login_bench.sh
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BENCH_PEER:-} in ""|/*) ;; *) BENCH_PEER=$PWD/$BENCH_PEER ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
ROUNDS=${ROUNDS:-2}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
TORNADO_PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
PY=/usr/bin/python3
RUN=$ROOT/build/bench-login
SVC_REDIS=29381
SVC_MYSQL=29308
PASSWORD="correct horse battery staple"
TOKEN=0123456789abcdef0123456789abcdef
. "$ROOT/tests/bench/bench_lib.sh"

[ -x "$ACTORD" ] || { echo "login_bench: $ACTORD is not built (make build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "login_bench: wrk is not installed" >&2; exit 1; }

rm -rf "$RUN/actord" "$RUN"/*.lua "$RUN"/wrk-*.txt "$RUN/results.txt"
mkdir -p "$RUN/actord"
ACTORD_PORT=$(free_port)
ACTORD_ADMIN=$(free_port)
TORNADO_PORT=$(free_port)
PIDS=""
svc() { ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
          tests/services.sh "$@"; }
cleanup() {
  [ -n "${TORNADO_PID:-}" ] && pkill -P "$TORNADO_PID" 2>/dev/null || true
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  svc stop >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

svc start >/dev/null
# The two users, hashed here the way both servers check them.
$PY - "$PASSWORD" <<'EOF' | mariadb --protocol=tcp -h 127.0.0.1 -P "$SVC_MYSQL" -u root hello_world
import hashlib, sys
pw = sys.argv[1].encode()
print("DELETE FROM users WHERE username IN ('bench100k', 'bench1k');")
for name, rounds in (("bench100k", 100000), ("bench1k", 1000)):
    salt = bytes(range(16))
    h = hashlib.pbkdf2_hmac("sha256", pw, salt, rounds, 32).hex()
    print(f"INSERT INTO users (username, salt, hash, iterations) "
          f"VALUES ('{name}', '{salt.hex()}', '{h}', {rounds});")
EOF

cat >"$RUN/actord/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_PORT"], "admin_listen": "127.0.0.1:$ACTORD_ADMIN",
  "log": {"level": "warn"},
  "actors": {"job": {"count": 0}},
  "redis": {"port": $SVC_REDIS}, "mysql": {"port": $SVC_MYSQL, "user": "benchmarkdbuser",
            "password": "benchmarkdbpass", "database": "hello_world"},
  "app": {"demo": true},
  "cookies": {"secret_keys": "login-bench-key-0123456789abcdef"} }
EOF
"$ACTORD" -c "$RUN/actord/actord.json" 2>"$RUN/actord/stderr.log" &
ACTORD_PID=$!
PIDS="$PIDS $ACTORD_PID"
$PY "$TORNADO_PEER" --port "$TORNADO_PORT" --procs 2 --mysql-port $SVC_MYSQL \
  --redis-port $SVC_REDIS >"$RUN/tornado.log" 2>&1 &
TORNADO_PID=$!
PIDS="$PIDS $TORNADO_PID"
wait_port login_bench "$ACTORD_PORT"
wait_port login_bench "$TORNADO_PORT"
sleep 1   # both forked workers finish their set-up

for user in bench100k bench1k; do
  cat >"$RUN/$user.lua" <<EOF
wrk.method = "POST"
wrk.body = "_xsrf=$TOKEN&username=$user&password=$(echo "$PASSWORD" | sed 's/ /+/g')"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "_xsrf=$TOKEN"
EOF
done

# Both must log the user in (303 to /demo/me), or nothing is measured.
for port in $ACTORD_PORT $TORNADO_PORT; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: _xsrf=$TOKEN" \
    --data "_xsrf=$TOKEN&username=bench1k&password=$(echo "$PASSWORD" | sed 's/ /+/g')" \
    "http://127.0.0.1:$port/demo/login")
  [ "$code" = 303 ] || { echo "login_bench: port $port answered $code, not 303" >&2; exit 1; }
done

run() { # server user
  case $1 in actord) port=$ACTORD_PORT pid=$ACTORD_PID ;; *) port=$TORNADO_PORT pid=$TORNADO_PID ;; esac
  c0=$(cpu_s "$pid")
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$RUN/$2.lua" "http://127.0.0.1:$port/demo/login")
  c1=$(cpu_s "$pid")
  echo "$out" >> "$RUN/wrk-$1-$2.txt"
  echo "$1 $2 $(wrk_fields "$out" "$c0" "$c1")" >> "$RUN/results.txt"
}

for s in actord tornado; do
  for u in bench100k bench1k; do
    case $s in actord) port=$ACTORD_PORT ;; *) port=$TORNADO_PORT ;; esac
    wrk -t1 -c"$CONNS" -d2s -s "$RUN/$u.lua" "http://127.0.0.1:$port/demo/login" >/dev/null
  done
done
r=0
while [ $r -lt "$ROUNDS" ]; do
  for u in bench100k bench1k; do
    if [ $((r % 2)) -eq 0 ]; then order="actord tornado"; else order="tornado actord"; fi
    for s in $order; do run "$s" "$u"; done
  done
  r=$((r + 1))
done

$PY - "$RUN/results.txt" "$DURATION" "$CONNS" <<'EOF'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
out = {"bench": "login", "duration": sys.argv[2], "connections": int(sys.argv[3])}
print(f"login benchmark: POST /demo/login (xsrf, MariaDB row, PBKDF2-HMAC-SHA256 off the "
      f"event loop, Redis session, 303); wrk -t1 -c{sys.argv[3]} -d{sys.argv[2]}, median round")
print(f"{'PBKDF2 rounds':14} {'server':8} {'req/s':>9} {'cpu us/req':>11} {'p50':>9} {'p99':>9} "
      f"{'err':>4}   req/s of every round")
for user, label in (("bench100k", "100,000"), ("bench1k", "1,000")):
    med = {}
    for s in ("actord", "tornado"):
        rs = sorted((r for r in rows if r[0] == s and r[1] == user), key=lambda r: float(r[2]))
        med[s] = rs[(len(rs) - 1) // 2]
        _, _, rps, cpu, err, p50, p99, _ = med[s]
        every = " ".join(f"{float(r[2]):.0f}" for r in rows if r[0] == s and r[1] == user)
        print(f"{label:14} {s:8} {float(rps):>9.0f} {cpu:>11} {p50:>9} {p99:>9} {err:>4}   {every}")
        key = user.replace("bench", "")
        out[f"{key}_{s}_rps"] = float(rps)
        out[f"{key}_{s}_cpu_us_per_req"] = float(cpu)
        out[f"{key}_{s}_errors"] = int(err)
    ratio = round(float(med["actord"][2]) / float(med["tornado"][2]), 2)
    out[f"{user.replace('bench', '')}_ratio"] = ratio
    print(f"{'':14} actord / tornado: {ratio}x")
print(json.dumps(out, separators=(",", ":")))
EOF

#!/bin/sh
# Upstream benchmark (issues 8 and 19; not a test): a handler that calls
# another local HTTP service and then answers, over plain HTTP and over
# HTTPS, on these servers in one run, all in front of the SAME upstream
# (nginx, one worker, a small static "hello" body, keep-alive; HTTP on one
# port, HTTPS with a certificate from a CA this script makes with openssl
# on another):
#   actord        build/actord, GET /upstream (upstream actors, keep-alive
#                 pool) and GET /proxy/ (the reverse-proxy route); one
#                 actord for http:// and one for https:// upstreams
#   base          BASE_BIN (optional; e.g. a build of an earlier main):
#                 the same /upstream and /proxy/ over plain HTTP, in the
#                 same rounds, so a change of the ratio to nginx can be told
#                 from a change of the machine
#   tornado       the Tornado peer, tests/bench/peers/tornado_peer.py
#                 --procs 2, its /upstream (AsyncHTTPClient.fetch, as the
#                 seed); one for http://, one for https:// (SSL_CERT_FILE
#                 names the bench CA)
#   nginx         nginx proxy_pass with keepalive upstream pools, 2 workers:
#                 /upstream to the HTTP port, /upstream-tls to the HTTPS
#                 port (proxy_ssl_verify on, sessions reused)
# wrk -t1 -c128 -d10s each (after a 2 s warm-up), one at a time, in
# ROUNDS rounds (default 3) whose order rotates; each scenario's median
# round is reported (the machine is shared: see docs/PERFORMANCE.md).
# Server CPU time per request (utime + stime of the server's processes,
# from /proc, before and after the timed run) is shown next to requests/s:
# on 2 shared cores it is the fairer comparison.
#
# Then the client engines alone (issue 19's library choice):
# build/upstream_engines runs the same closed loop of 64 concurrent
# keep-alive GETs for ENGINE_SECONDS (5) through actord's upstream actor
# and through libcurl's multi-socket interface on libev, to the HTTP and
# to the HTTPS port: requests/s and client CPU per request.
#
# The peer opens its MariaDB pool at start, so local Redis + MariaDB
# are started with tests/services.sh under build/bench-upstream/services
# on ports 29379 / 29306 (and stopped again).
#
# Prints a human table, then as the very last line one JSON object.
# Environment: DURATION (10s), CONNS (128), ROUNDS (3), ENGINE_SECONDS (5),
# ACTORD_BIN (build/actord), BASE_BIN (none), ENGINES_BIN (build/upstream_engines),
# BENCH_PEER (tests/bench/peers/tornado_peer.py);
# relative paths are taken from the directory the script is started in.
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BENCH_PEER:-} in ""|/*) ;; *) BENCH_PEER=$PWD/$BENCH_PEER ;; esac
case ${ENGINES_BIN:-} in ""|/*) ;; *) ENGINES_BIN=$PWD/$ENGINES_BIN ;; esac
case ${BASE_BIN:-} in ""|/*) ;; *) BASE_BIN=$PWD/$BASE_BIN ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNS=${CONNS:-128}
ROUNDS=${ROUNDS:-3}
ENGINE_SECONDS=${ENGINE_SECONDS:-5}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
TORNADO_PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
ENGINES=${ENGINES_BIN:-$ROOT/build/upstream_engines}
BASE=${BASE_BIN:-}
PY=/usr/bin/python3
. tests/bench/bench_lib.sh
RUN=$ROOT/build/bench-upstream
SVC_REDIS=29379
SVC_MYSQL=29306

[ -x "$ACTORD" ] || { echo "upstream_bench: $ACTORD is not built (make build)" >&2; exit 1; }
[ -f "$TORNADO_PEER" ] || { echo "upstream_bench: no peer $TORNADO_PEER" >&2; exit 1; }
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "upstream_bench: BASE_BIN $BASE is not an executable" >&2; exit 1; }
[ -x "$ENGINES" ] || { echo "upstream_bench: $ENGINES is not built (make build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "upstream_bench: wrk is not installed" >&2; exit 1; }
command -v nginx >/dev/null || { echo "upstream_bench: nginx is not installed" >&2; exit 1; }

rm -rf "$RUN/nginx-up" "$RUN/nginx-proxy" "$RUN/actord" "$RUN/actord-tls" "$RUN/base" "$RUN/pki"
mkdir -p "$RUN/nginx-up" "$RUN/nginx-proxy" "$RUN/actord" "$RUN/actord-tls" "$RUN/base" "$RUN/pki"
chmod 755 "$RUN" "$RUN/nginx-up" "$RUN/nginx-proxy" "$RUN/pki"

UP_PORT=$(free_port)
UP_TLS_PORT=$(free_port)
ACTORD_PORT=$(free_port)
ACTORD_ADMIN=$(free_port)
ACTORD_TLS_PORT=$(free_port)
ACTORD_TLS_ADMIN=$(free_port)
BASE_PORT=$(free_port)
BASE_ADMIN=$(free_port)
TORNADO_PORT=$(free_port)
TORNADO_TLS_PORT=$(free_port)
NGINX_PORT=$(free_port)

PIDS=""
cleanup() {
  # Each Tornado peer runs in its own process group (setsid): the group
  # goes at once, forked workers included (a worker killed alone would be
  # restarted by its parent, one whose parent died first would be missed).
  [ -n "${TORNADO_PID:-}" ] && kill -- "-$TORNADO_PID" 2>/dev/null || true
  [ -n "${TORNADO_TLS_PID:-}" ] && kill -- "-$TORNADO_TLS_PID" 2>/dev/null || true
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  [ -f "$RUN/nginx-up/nginx.pid" ] && kill "$(cat "$RUN/nginx-up/nginx.pid")" 2>/dev/null || true
  [ -f "$RUN/nginx-proxy/nginx.pid" ] && kill "$(cat "$RUN/nginx-proxy/nginx.pid")" 2>/dev/null || true
  ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
    tests/services.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

# A CA and a certificate for localhost / 127.0.0.1 signed by it.
PKI=$RUN/pki
ossl() { openssl "$@" >/dev/null 2>&1; }
EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
# shellcheck disable=SC2086
ossl req -x509 $EC -keyout "$PKI/ca.key" -out "$PKI/ca.pem" -days 2 -subj "/CN=bench CA"
# shellcheck disable=SC2086
ossl req $EC -keyout "$PKI/up.key" -out "$PKI/up.csr" -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$PKI/up.ext"
ossl x509 -req -in "$PKI/up.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial \
  -out "$PKI/up.pem" -days 2 -extfile "$PKI/up.ext"
[ -s "$PKI/up.pem" ] || { echo "upstream_bench: openssl could not make the certificates" >&2; exit 1; }
chmod 644 "$PKI"/*

# The upstream every peer calls: HTTP and HTTPS.
nginx_conf "$RUN/nginx-up" 1 4096 "server { listen 127.0.0.1:$UP_PORT;
        listen 127.0.0.1:$UP_TLS_PORT ssl;
        ssl_certificate $PKI/up.pem; ssl_certificate_key $PKI/up.key;
        ssl_session_cache shared:up:10m;
        location / { default_type text/plain; return 200 \"hello\\n\"; } }"
nginx -c "$RUN/nginx-up/nginx.conf" -p "$RUN/nginx-up"
wait_port upstream_bench "$UP_PORT"
wait_port upstream_bench "$UP_TLS_PORT"

# nginx proxy_pass with keepalive pools to it, plain and TLS (verified,
# sessions reused).
nginx_conf "$RUN/nginx-proxy" 2 4096 "upstream up { server 127.0.0.1:$UP_PORT; keepalive $CONNS; }
    upstream uptls { server 127.0.0.1:$UP_TLS_PORT; keepalive $CONNS; }
    server { listen 127.0.0.1:$NGINX_PORT;
        location /upstream-tls { proxy_pass https://uptls/; proxy_http_version 1.1;
                             proxy_set_header Connection \"\";
                             proxy_ssl_verify on; proxy_ssl_trusted_certificate $PKI/ca.pem;
                             proxy_ssl_name localhost; proxy_ssl_server_name on;
                             proxy_ssl_session_reuse on; }
        location /upstream { proxy_pass http://up/; proxy_http_version 1.1;
                             proxy_set_header Connection \"\"; } }"
nginx -c "$RUN/nginx-proxy/nginx.conf" -p "$RUN/nginx-proxy"
wait_port upstream_bench "$NGINX_PORT"

# actord: defaults (1 network, 1 handler, 1 upstream actor), upstream pool
# as large as the client's concurrency; /upstream and /proxy/ to the same
# upstream, plain in one actord, https (verified against the bench CA) in
# the other.
cat >"$RUN/actord/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_PORT"], "admin_listen": "127.0.0.1:$ACTORD_ADMIN",
  "log": {"level": "warn"},
  "upstream": {"url": "http://127.0.0.1:$UP_PORT/", "max_connections": $CONNS,
               "proxy": [{"prefix": "/proxy/", "to": "http://127.0.0.1:$UP_PORT/"}]} }
EOF
cat >"$RUN/actord-tls/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_TLS_PORT"], "admin_listen": "127.0.0.1:$ACTORD_TLS_ADMIN",
  "log": {"level": "warn"},
  "upstream": {"url": "https://localhost:$UP_TLS_PORT/", "max_connections": $CONNS,
               "ca_file": "$PKI/ca.pem",
               "proxy": [{"prefix": "/proxy/", "to": "https://localhost:$UP_TLS_PORT/"}]} }
EOF
"$ACTORD" -c "$RUN/actord/actord.json" 2>"$RUN/actord/stderr.log" &
ACTORD_PID=$!
PIDS="$PIDS $ACTORD_PID"
"$ACTORD" -c "$RUN/actord-tls/actord.json" 2>"$RUN/actord-tls/stderr.log" &
ACTORD_TLS_PID=$!
PIDS="$PIDS $ACTORD_TLS_PID"
wait_port upstream_bench "$ACTORD_PORT"
wait_port upstream_bench "$ACTORD_TLS_PORT"
if [ -n "$BASE" ]; then
  sed "s/:$ACTORD_PORT\"/:$BASE_PORT\"/; s/:$ACTORD_ADMIN\"/:$BASE_ADMIN\"/" \
    "$RUN/actord/actord.json" >"$RUN/base/actord.json"
  "$BASE" -c "$RUN/base/actord.json" 2>"$RUN/base/stderr.log" &
  BASE_PID=$!
  PIDS="$PIDS $BASE_PID"
  wait_port upstream_bench "$BASE_PORT"
fi

# Tornado needs live MariaDB + Redis for its start-up.
ACTORD_RUN_DIR=$RUN/services ACTORD_REDIS_PORT=$SVC_REDIS ACTORD_MYSQL_PORT=$SVC_MYSQL \
  tests/services.sh start >/dev/null
setsid $PY "$TORNADO_PEER" --port "$TORNADO_PORT" --procs 2 --upstream "http://127.0.0.1:$UP_PORT/" \
  --mysql-port $SVC_MYSQL --redis-port $SVC_REDIS >"$RUN/tornado.log" 2>&1 &
TORNADO_PID=$!
PIDS="$PIDS $TORNADO_PID"
SSL_CERT_FILE=$PKI/ca.pem setsid $PY "$TORNADO_PEER" --port "$TORNADO_TLS_PORT" --procs 2 \
  --upstream "https://localhost:$UP_TLS_PORT/" \
  --mysql-port $SVC_MYSQL --redis-port $SVC_REDIS >"$RUN/tornado-tls.log" 2>&1 &
TORNADO_TLS_PID=$!
PIDS="$PIDS $TORNADO_TLS_PID"
wait_port upstream_bench "$TORNADO_PORT"
wait_port upstream_bench "$TORNADO_TLS_PORT"
sleep 1   # the forked workers finish their set-up

# cpu_s (CPU seconds of a process and its children): bench_lib.sh.

# run NAME PORT PATH PID...: one timed run; appends "name rps cpu_us errors
# p50 p99" to results.txt (server CPU us per request, from /proc).
run() {
  name=$1 port=$2 path=$3; shift 3
  c0=$(cpu_s "$@")
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port$path")
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

warm() { # name port path
  curl -sf "http://127.0.0.1:$2$3" >/dev/null || {
    echo "upstream_bench: $1 $3 does not answer 200" >&2; exit 1; }
  wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$2$3" >/dev/null
}

NGINX_PROXY_PID=$(cat "$RUN/nginx-proxy/nginx.pid")
# name port path pid: every scenario.
SCENARIOS="actord $ACTORD_PORT /upstream $ACTORD_PID
actord_proxy $ACTORD_PORT /proxy/ $ACTORD_PID
tornado $TORNADO_PORT /upstream $TORNADO_PID
nginx $NGINX_PORT /upstream $NGINX_PROXY_PID
actord_tls $ACTORD_TLS_PORT /upstream $ACTORD_TLS_PID
actord_proxy_tls $ACTORD_TLS_PORT /proxy/ $ACTORD_TLS_PID
tornado_tls $TORNADO_TLS_PORT /upstream $TORNADO_TLS_PID
nginx_tls $NGINX_PORT /upstream-tls $NGINX_PROXY_PID"
[ -z "$BASE" ] || SCENARIOS="$SCENARIOS
base $BASE_PORT /upstream $BASE_PID
base_proxy $BASE_PORT /proxy/ $BASE_PID"
rm -f "$RUN/results.txt" "$RUN/engines.txt" "$RUN"/wrk-*.txt
echo "$SCENARIOS" | while read -r name port path pid; do warm "$name" "$port" "$path"; done
# The machine is shared: ROUNDS rounds whose order rotates, so that a
# burst of someone else's load does not land on one scenario only; the
# table shows each scenario's median round.
r=0
while [ $r -lt "$ROUNDS" ]; do
  echo "$SCENARIOS" |
    awk -v r="$r" '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r * 3) % NR + 1] }' |
    while read -r name port path pid; do run "$name" "$port" "$path" "$pid"; done
  r=$((r + 1))
done

# The client engines alone, same upstream, same run.
for url in "http://127.0.0.1:$UP_PORT/" "https://localhost:$UP_TLS_PORT/"; do
  for engine in actord curl; do
    "$ENGINES" "$engine" "$url" 64 "$ENGINE_SECONDS" "$PKI/ca.pem" \
      >>"$RUN/engines.txt"
  done
done

$PY - "$RUN/results.txt" "$DURATION" "$CONNS" "$RUN/engines.txt" <<'EOF'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
names = ["actord", "actord_proxy", "tornado", "nginx",
         "actord_tls", "actord_proxy_tls", "tornado_tls", "nginx_tls"]
names += [n for n in ("base", "base_proxy") if any(r[0] == n for r in rows)]
runs = {n: [r for r in rows if r[0] == n] for n in names}


def median_run(n):
    rs = sorted(runs[n], key=lambda r: float(r[1]))
    return rs[(len(rs) - 1) // 2]


med = {n: median_run(n) for n in names}
rps = {n: float(med[n][1]) for n in names}
print(f"upstream benchmark: GET /upstream (and a proxy prefix) -> nginx \"hello\" "
      f"upstream over HTTP and HTTPS; wrk -t1 -c{sys.argv[3]} -d{sys.argv[2]}, "
      f"{len(runs['actord'])} rounds, median round shown")
print(f"{'scenario':17} {'req/s':>10} {'p50':>9} {'p99':>9} {'cpu us/req':>11} {'errors':>7}"
      "   req/s of every round")
for n in names:
    _, r, cpu, err, p50, p99 = med[n]
    every = " ".join(f"{float(x[1]):.0f}" for x in runs[n])
    print(f"{n:17} {float(r):>10.0f} {p50:>9} {p99:>9} {cpu:>11} {err:>7}   {every}")


def ratio(a, b):
    return round(rps[a] / rps[b], 2)


checks = [("actord / nginx (http)", ratio("actord", "nginx"), 1.0),
          ("actord proxy / nginx (http)", ratio("actord_proxy", "nginx"), 1.0),
          ("actord / tornado (http)", ratio("actord", "tornado"), 5),
          ("actord / nginx (https)", ratio("actord_tls", "nginx_tls"), 0.8),
          ("actord proxy / nginx (https)", ratio("actord_proxy_tls", "nginx_tls"), 0.8),
          ("actord / tornado (https)", ratio("actord_tls", "tornado_tls"), 5)]
if "base" in names:
    checks += [("base / nginx (http)", ratio("base", "nginx"), None),
               ("base proxy / nginx (http)", ratio("base_proxy", "nginx"), None)]
for label, v, target in checks:
    if target is None:
        print(f"{label:30} {v:>6}x  (BASE_BIN, for comparison)")
        continue
    print(f"{label:30} {v:>6}x  (target >= {target}) {'ok' if v >= target else 'MISSED'}")
engines = [l.split() for l in open(sys.argv[4])]
print("client engines alone (64 concurrent keep-alive GETs, one client thread):")
print(f"{'engine':8} {'url':34} {'req/s':>9} {'cpu us/req':>11} {'errors':>7}")
for e, url, r, cpu, err in engines:
    print(f"{e:8} {url:34} {float(r):>9.0f} {cpu:>11} {err:>7}")
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
out.update({"ratio_vs_nginx": ratio("actord", "nginx"),
            "ratio_proxy_vs_nginx": ratio("actord_proxy", "nginx"),
            "ratio_vs_tornado": ratio("actord", "tornado"),
            "ratio_tls_vs_nginx_tls": ratio("actord_tls", "nginx_tls"),
            "ratio_proxy_tls_vs_nginx_tls": ratio("actord_proxy_tls", "nginx_tls"),
            "ratio_tls_vs_tornado_tls": ratio("actord_tls", "tornado_tls"),
            **({"ratio_base_vs_nginx": ratio("base", "nginx"),
                "ratio_base_proxy_vs_nginx": ratio("base_proxy", "nginx")}
               if "base" in names else {}),
            "target_vs_nginx": 1.0, "target_tls_vs_nginx_tls": 0.8, "target_vs_tornado": 5})
for e, url, r, cpu, err in engines:
    key = f"engine_{e}_{'https' if url.startswith('https') else 'http'}"
    out[key + "_rps"] = float(r)
    out[key + "_cpu_us_per_req"] = float(cpu)
    out[key + "_errors"] = int(err)
print(json.dumps(out, separators=(",", ":")))
EOF

#!/bin/sh
# Streamed proxy bodies benchmark (issue 19; not a test). One nginx (one
# worker) is the upstream: /hello (a 6-byte body), /big.bin (SIZE_MB,
# default 100, MiB of random bytes, sendfile) and /store/ (WebDAV PUT: the
# body is written to a file, read to its end before the answer). In front
# of it, in one run:
#   actord        build/actord (ACTORD_BIN): GET /upstream and
#                 /proxy/hello (small bodies: the buffered path), then
#                 /proxy/big.bin once with curl: a streamed body, then
#                 the same bytes uploaded (PUT /proxy/store/NAME.bin with
#                 Content-Length): a streamed request body
#   base          BASE_BIN (optional; e.g. a build of the previous main):
#                 the same, with upstream.max_response_bytes and
#                 http.max_body_bytes raised so a buffering proxy can
#                 carry the transfers at all
#   nginx         nginx proxy_pass (keepalive pool, 1 worker,
#                 proxy_request_buffering off: uploads streamed as
#                 actord's), the same transfers, for scale
#   route         ACTORD_TEST_BIN (build/actord-test): the same download
#                 read by a route piece by piece (/_test/digest: sha256 of
#                 the body as it arrives, hreq_read_upstream) ...
#   tornado       ... against the Tornado peer's /digest
#                 (AsyncHTTPClient's streaming_callback, one process,
#                 --no-storage); then the same file uploaded to a route
#                 that hashes the request body as it arrives (actord's
#                 /_test/upload-digest: hreq_read_body; Tornado's
#                 /upload-digest: @stream_request_body)
# Small bodies: wrk -t1 -c64 -d DURATION (5s) each, after a 1 s warm-up,
# ROUNDS (3) rounds in rotating order, the median reported. Download and
# upload: wall time, MB/s, the sha256 checked against the file (the
# upload: the file the upstream stored), and the proxy's peak RSS growth
# (sampled every 20 ms from /proc) while it runs.
# Prints a human table, then as the very last line one JSON object.
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
case ${BASE_BIN:-} in ""|/*) ;; *) BASE_BIN=$PWD/$BASE_BIN ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
SIZE_MB=${SIZE_MB:-100}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
ACTORD_TEST=${ACTORD_TEST_BIN:-$ROOT/build/actord-test}
TORNADO_PEER=${BENCH_PEER:-$ROOT/tests/bench/peers/tornado_peer.py}
BASE=${BASE_BIN:-}
PY=/usr/bin/python3
. tests/bench/bench_lib.sh
RUN=$ROOT/build/bench-proxy-stream

[ -x "$ACTORD" ] || { echo "proxy_stream_bench: $ACTORD is not built (make build)" >&2; exit 1; }
[ -x "$ACTORD_TEST" ] || { echo "proxy_stream_bench: $ACTORD_TEST is not built (make build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "proxy_stream_bench: wrk is not installed" >&2; exit 1; }
command -v nginx >/dev/null || { echo "proxy_stream_bench: nginx is not installed" >&2; exit 1; }

rm -rf "$RUN"
mkdir -p "$RUN/up/www/store" "$RUN/up/tmp" "$RUN/px" "$RUN/actord" "$RUN/base" "$RUN/route"
chmod 755 "$RUN" "$RUN/up" "$RUN/up/www" "$RUN/px"
chmod 777 "$RUN/up/www/store" "$RUN/up/tmp"
head -c $((SIZE_MB * 1048576)) /dev/urandom >"$RUN/up/www/big.bin"
chmod 644 "$RUN/up/www/big.bin"
WANT=$(sha256sum "$RUN/up/www/big.bin" | cut -d' ' -f1)
UP=$(free_port) PX=$(free_port) A=$(free_port) AA=$(free_port) B=$(free_port) BA=$(free_port)
R=$(free_port) RA=$(free_port) T=$(free_port)

PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for d in up px; do
    [ -f "$RUN/$d/nginx.pid" ] && kill "$(cat "$RUN/$d/nginx.pid")" 2>/dev/null || true
  done
  rm -rf "$RUN/up/www/big.bin" "$RUN/up/www/store" "$RUN/up/tmp"
}
trap cleanup EXIT INT TERM

nginx_conf "$RUN/up" 1 1024 "sendfile on;
    server { listen 127.0.0.1:$UP; root $RUN/up/www;
        client_max_body_size 0; client_body_temp_path $RUN/up/tmp;
        location /store/ { dav_methods PUT; }
        location = /hello { default_type text/plain; return 200 \"hello\\n\"; } }"
nginx_conf "$RUN/px" 1 1024 "sendfile on;
    upstream up { server 127.0.0.1:$UP; keepalive 64; }
    server { listen 127.0.0.1:$PX; client_max_body_size 0;
        location /proxy/ { proxy_pass http://up/; proxy_request_buffering off;
        proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
nginx -c "$RUN/up/nginx.conf" -p "$RUN/up"
nginx -c "$RUN/px/nginx.conf" -p "$RUN/px"
wait_port proxy_stream_bench "$UP"
wait_port proxy_stream_bench "$PX"

start_actord() { # dir bin port admin [extra top-level JSON members]
  cat >"$RUN/$1/actord.json" <<EOF
{ "listen": ["127.0.0.1:$3"], "admin_listen": "127.0.0.1:$4", "log": {"level": "warn"}, ${5:-}
  "http": {"max_body_bytes": $(( (SIZE_MB + 16) * 1048576 ))},
  "upstream": {"url": "http://127.0.0.1:$UP/hello", "max_connections": 64,
               "max_response_bytes": $(( (SIZE_MB + 16) * 1048576 )),
               "proxy": [{"prefix": "/proxy/", "to": "http://127.0.0.1:$UP/"}]} }
EOF
  "$2" -c "$RUN/$1/actord.json" >"$RUN/$1/stderr.log" 2>&1 &
  LAST_PID=$!
  PIDS="$PIDS $LAST_PID"
}
start_actord actord "$ACTORD" "$A" "$AA"
A_PID=$LAST_PID
wait_port proxy_stream_bench "$A"
SERVERS="actord $A $A_PID"
if [ -n "$BASE" ]; then
  start_actord base "$BASE" "$B" "$BA"
  B_PID=$LAST_PID
  wait_port proxy_stream_bench "$B"
  SERVERS="$SERVERS
base $B $B_PID"
fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# timed PID SHA_FILE CMD...: run CMD (which writes the sha256 of what
# arrived to SHA_FILE), sampling PID's RSS every 20 ms; prints "mb_s
# rss_growth_kib ok cpu_ms_per_mib" (the CPU time of PID and its children).
timed() {
  pid=$1 shafile=$2; shift 2
  before=$(rss_kib "$pid")
  c0=$(cpu_s "$pid")
  t0=$($PY -c 'import time; print(time.monotonic())')
  "$@" &
  cpid=$!
  peak=$before
  while kill -0 $cpid 2>/dev/null; do
    r=$(rss_kib "$pid"); [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.02
  done
  wait $cpid || true
  t1=$($PY -c 'import time; print(time.monotonic())')
  c1=$(cpu_s "$pid")
  ok=$([ "$(cat "$shafile" 2>/dev/null)" = "$WANT" ] && echo ok || echo BAD)
  $PY -c "print(round($SIZE_MB / ($t1 - $t0), 1), $peak - $before, '$ok',
              round(($c1 - $c0) * 1000 / $SIZE_MB, 2))"
}

# download_to PORT: GET /proxy/big.bin, its sha256 into $RUN/got.
download_to() {
  curl -sf "http://127.0.0.1:$1/proxy/big.bin" | sha256sum | cut -d' ' -f1 >"$RUN/got"
}

# upload_as NAME PORT: PUT the file to /proxy/store/NAME.bin; the sha256
# of what the upstream stored into $RUN/got.
upload_as() {
  curl -sf -o /dev/null -T "$RUN/up/www/big.bin" "http://127.0.0.1:$2/proxy/store/$1.bin"
  sha256sum "$RUN/up/www/store/$1.bin" 2>/dev/null | cut -d' ' -f1 >"$RUN/got"
  rm -f "$RUN/up/www/store/$1.bin"
}

# read_to PORT PATH: GET PATH?url=<big.bin>, a route that hashes the body
# as it reads it; the sha256 it answers (JSON) into $RUN/got.
BIG_URL=$($PY -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
          "http://127.0.0.1:$UP/big.bin")
read_to() {
  curl -sf "http://127.0.0.1:$1$2?url=$BIG_URL" |
    sed -n 's/.*"sha256": *"\([0-9a-f]*\)".*/\1/p' >"$RUN/got"
}

# upload_read_to PORT PATH: PUT the file to PATH, a route that hashes the
# request body as it reads it; the sha256 it answers into $RUN/got.
upload_read_to() {
  curl -sf -T "$RUN/up/www/big.bin" "http://127.0.0.1:$1$2" |
    sed -n 's/.*"sha256": *"\([0-9a-f]*\)".*/\1/p' >"$RUN/got"
}

# download / upload NAME PORT PID, route_read / route_upload PORT PATH PID: as timed.
download() { rm -f "$RUN/got"; timed "$3" "$RUN/got" download_to "$2"; }
upload() { rm -f "$RUN/got"; timed "$3" "$RUN/got" upload_as "$1" "$2"; }
route_read() { rm -f "$RUN/got"; timed "$3" "$RUN/got" read_to "$1" "$2"; }
route_upload() { rm -f "$RUN/got"; timed "$3" "$RUN/got" upload_read_to "$1" "$2"; }

: >"$RUN/results.txt"
i=0
while [ $i -lt "$ROUNDS" ]; do
  order=$(echo "$SERVERS" | awk -v r=$i '{a[NR]=$0} END {for (k=0;k<NR;k++) print a[(k+r)%NR+1]}')
  echo "$order" | while read -r name port pid; do
    for path in /upstream /proxy/hello; do
      curl -sf "http://127.0.0.1:$port$path" >/dev/null || {
        echo "proxy_stream_bench: $name $path does not answer 200" >&2; exit 1; }
      wrk -t1 -c64 -d1s "http://127.0.0.1:$port$path" >/dev/null
      c0=$(cpu_s "$pid")
      out=$(wrk -t1 -c64 -d"$DURATION" --latency "http://127.0.0.1:$port$path")
      c1=$(cpu_s "$pid")
      echo "$name $path $(wrk_fields "$out" "$c0" "$c1")" >>"$RUN/results.txt"
    done
  done
  i=$((i + 1))
done
echo "$SERVERS" | while read -r name port pid; do
  echo "$name $(download "$name" "$port" "$pid")" >>"$RUN/downloads.txt"
done
NGINX_PID=$(cat "$RUN/px/nginx.pid")
echo "nginx $(download nginx "$PX" "$NGINX_PID")" >>"$RUN/downloads.txt"
echo "$SERVERS" | while read -r name port pid; do
  echo "$name $(upload "$name" "$port" "$pid")" >>"$RUN/uploads.txt"
done
echo "nginx $(upload nginx "$PX" "$NGINX_PID")" >>"$RUN/uploads.txt"

# Read in a route: started last, so the rounds above ran without them.
start_actord route "$ACTORD_TEST" "$R" "$RA" '"test_routes": true,'
R_PID=$LAST_PID
$PY "$TORNADO_PEER" --port "$T" --procs 1 --no-storage >"$RUN/tornado.log" 2>&1 &
T_PID=$!
PIDS="$PIDS $T_PID"
wait_port proxy_stream_bench "$R"
wait_port proxy_stream_bench "$T"
echo "actord $(route_read "$R" /_test/digest "$R_PID")" >>"$RUN/reads.txt"
echo "tornado $(route_read "$T" /digest "$T_PID")" >>"$RUN/reads.txt"
echo "actord $(route_upload "$R" /_test/upload-digest "$R_PID")" >>"$RUN/upload_reads.txt"
echo "tornado $(route_upload "$T" /upload-digest "$T_PID")" >>"$RUN/upload_reads.txt"

$PY - "$RUN/results.txt" "$RUN/downloads.txt" "$SIZE_MB" "$RUN/uploads.txt" "$RUN/reads.txt" \
    "$RUN/upload_reads.txt" <<'PYEOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, path, rps, cpu, errs, p50, p99, mbs = line.split()
    rows.setdefault((name, path), []).append((float(rps), float(cpu), int(errs), p50, p99))
out = {"bench": "proxy_stream", "size_mb": int(sys.argv[3]), "small": {}, "download": {},
       "upload": {}, "route_read": {}, "route_upload": {}}
print(f"{'server':8} {'path':14} {'req/s':>9} {'cpu us/req':>11} {'errors':>7} {'p50':>8} {'p99':>8}")
for (name, path), runs in sorted(rows.items()):
    runs.sort()
    rps, cpu, errs, p50, p99 = runs[len(runs) // 2]
    print(f"{name:8} {path:14} {rps:9.0f} {cpu:11.1f} {errs:7d} {p50:>8} {p99:>8}")
    out["small"][f"{name} {path}"] = {"rps": rps, "cpu_us": cpu, "errors": errs}
titles = {"download": "through the proxy, download:", "upload": "through the proxy, upload:",
          "route_read": "downloaded, read and hashed by a route as it arrives:",
          "route_upload": "uploaded, read and hashed by a route as it arrives:"}
for what, path in (("download", sys.argv[2]), ("upload", sys.argv[4]),
                   ("route_read", sys.argv[5]), ("route_upload", sys.argv[6])):
    print(f"\n{sys.argv[3]} MiB " + titles[what])
    print(f"{'server':8} {'MB/s':>8} {'RSS growth MiB':>15} {'sha256':>7} {'CPU ms/MiB':>11}")
    for line in open(path):
        name, mbs, growth, ok, cpu = line.split()
        print(f"{name:8} {float(mbs):8.1f} {int(growth) / 1024:15.1f} {ok:>7} {float(cpu):11.2f}")
        out[what][name] = {"mb_s": float(mbs), "rss_growth_mib": round(int(growth) / 1024, 1),
                           "ok": ok == "ok", "cpu_ms_per_mib": float(cpu)}
for what in ("route_read", "route_upload"):
    rr = out[what]
    if rr.get("tornado", {}).get("mb_s"):
        out[f"{what}_vs_tornado"] = round(rr["actord"]["mb_s"] / rr["tornado"]["mb_s"], 2)
        out[f"{what}_cpu_vs_tornado"] = round(rr["actord"]["cpu_ms_per_mib"] /
                                              max(rr["tornado"]["cpu_ms_per_mib"], 0.01), 2)
        print(f"\n{what}, actord / Tornado: {out[what + '_vs_tornado']}x the MB/s, "
              f"{out[what + '_cpu_vs_tornado']}x the CPU per MiB")
print(json.dumps(out))
PYEOF

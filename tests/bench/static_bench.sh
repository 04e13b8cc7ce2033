#!/bin/sh
# Static-file benchmark (issue 18; not a test): actord's static-file routes
# against nginx serving the SAME directory, in one run:
#   4k     a 4 KiB text file
#   64k    a 64 KiB JavaScript file, Accept-Encoding: gzip (both servers
#          send the precompressed 64k.js.gz beside it: nginx gzip_static,
#          actord's precompressed siblings)
#   1m     a 1 MiB binary file (sendfile on both)
# actord: build/actord, defaults (1 network, 1 handler, 1 file actor),
# static.revalidate_ms 1000. nginx (Debian nginx-light): 2 workers,
# sendfile, tcp_nopush, open_file_cache valid 1 s (the same bounded
# staleness), gzip_static. wrk -t1 -cCONNS -dDURATION per file and server
# after a 2 s warm-up, ROUNDS rounds whose order rotates; each server's
# median round is shown, with the server's CPU time per request
# (utime + stime from /proc, before and after the timed run).
#
# Prints a human table, then as the very last line one JSON object.
# Environment: DURATION (8s), CONNS (64), ROUNDS (3), ACTORD_BIN
# (build/actord; a relative path is taken from the starting directory).
# Always under the benchmark lock: flock /tmp/actord-bench.lock tests/bench/static_bench.sh
set -eu
case ${ACTORD_BIN:-} in ""|/*) ;; *) ACTORD_BIN=$PWD/$ACTORD_BIN ;; esac
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-8s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
ACTORD=${ACTORD_BIN:-$ROOT/build/actord}
PY=/usr/bin/python3
RUN=$ROOT/build/bench-static
. "$ROOT/tests/bench/bench_lib.sh"

[ -x "$ACTORD" ] || { echo "static_bench: $ACTORD is not built (make build)" >&2; exit 1; }
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "static_bench: $tool is not installed" >&2; exit 1; }
done

rm -rf "$RUN"
mkdir -p "$RUN/www" "$RUN/nginx" "$RUN/actord"
chmod 755 "$RUN" "$RUN/www" "$RUN/nginx"
$PY - "$RUN/www" <<'EOF'
import gzip, os, random, sys
d = sys.argv[1]
rnd = random.Random(18)
words = ["actor", "mailbox", "handler", "static", "file", "cache", "request", "reply",
         "function", "return", "const", "let", "value", "index", "length", "push"]
def text(n):
    out, size = [], 0
    while size < n:
        line = " ".join(rnd.choice(words) for _ in range(10)) + ";\n"
        out.append(line)
        size += len(line)
    return "".join(out)[:n].encode()
open(f"{d}/4k.txt", "wb").write(text(4096))
js = text(65536)
open(f"{d}/64k.js", "wb").write(js)
open(f"{d}/64k.js.gz", "wb").write(gzip.compress(js, 9))
open(f"{d}/1m.bin", "wb").write(rnd.randbytes(1 << 20))
EOF
chmod 644 "$RUN"/www/*

ACTORD_PORT=$(free_port)
ACTORD_ADMIN=$(free_port)
NGINX_PORT=$(free_port)
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  [ -f "$RUN/nginx/nginx.pid" ] && kill "$(cat "$RUN/nginx/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

nginx_conf "$RUN/nginx" 2 4096 "include /etc/nginx/mime.types;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 1s;
    gzip_static on;
    gzip_vary on;
    server { listen 127.0.0.1:$NGINX_PORT; location /s/ { alias $RUN/www/; } }"
nginx -c "$RUN/nginx/nginx.conf" -p "$RUN/nginx"
wait_port static_bench "$NGINX_PORT"

cat >"$RUN/actord/actord.json" <<EOF
{ "listen": ["127.0.0.1:$ACTORD_PORT"], "admin_listen": "127.0.0.1:$ACTORD_ADMIN",
  "log": {"level": "warn"},
  "actors": {"cache": {"count": 0}, "mysql": {"count": 0}, "job": {"count": 0}},
  "static": {"mounts": [{"prefix": "/s/", "dir": "$RUN/www"}], "revalidate_ms": 1000} }
EOF
"$ACTORD" -c "$RUN/actord/actord.json" 2>"$RUN/actord/stderr.log" &
ACTORD_PID=$!
PIDS="$PIDS $ACTORD_PID"
wait_port static_bench "$ACTORD_PORT"
NGINX_PID=$(cat "$RUN/nginx/nginx.pid")

# The same bytes from both, or the comparison means nothing.
for f in 4k.txt 64k.js 1m.bin; do
  a=$(curl -sf "http://127.0.0.1:$ACTORD_PORT/s/$f" | md5sum)
  n=$(curl -sf "http://127.0.0.1:$NGINX_PORT/s/$f" | md5sum)
  [ "$a" = "$n" ] || { echo "static_bench: $f differs between actord and nginx" >&2; exit 1; }
done
for port in $ACTORD_PORT $NGINX_PORT; do
  curl -sf -H 'Accept-Encoding: gzip' -D - -o /dev/null "http://127.0.0.1:$port/s/64k.js" |
    grep -qi '^content-encoding: gzip' || { echo "static_bench: no gzip from port $port" >&2; exit 1; }
done

# run SERVER FILE: one timed run; appends "server file rps cpu_us errors p50 p99 MB/s".
run() {
  server=$1 file=$2
  case $server in actord) port=$ACTORD_PORT pid=$ACTORD_PID ;; *) port=$NGINX_PORT pid=$NGINX_PID ;; esac
  case $file in 64k) path=64k.js hdr="Accept-Encoding: gzip" ;; 4k) path=4k.txt hdr="X-Bench: 1" ;;
                *) path=1m.bin hdr="X-Bench: 1" ;; esac
  c0=$(cpu_s "$pid")
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "$hdr" "http://127.0.0.1:$port/s/$path")
  c1=$(cpu_s "$pid")
  echo "$out" >> "$RUN/wrk-$server-$file.txt"
  echo "$server $file $(wrk_fields "$out" "$c0" "$c1")" >> "$RUN/results.txt"
}

for s in actord nginx; do
  for f in 4k 64k 1m; do
    case $s in actord) port=$ACTORD_PORT ;; *) port=$NGINX_PORT ;; esac
    case $f in 64k) path=64k.js ;; 4k) path=4k.txt ;; *) path=1m.bin ;; esac
    wrk -t1 -c"$CONNS" -d2s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/s/$path" >/dev/null
  done
done
rm -f "$RUN/results.txt"
r=0
while [ $r -lt "$ROUNDS" ]; do
  for f in 4k 64k 1m; do
    if [ $((r % 2)) -eq 0 ]; then order="actord nginx"; else order="nginx actord"; fi
    for s in $order; do run "$s" "$f"; done
  done
  r=$((r + 1))
done

$PY - "$RUN/results.txt" "$DURATION" "$CONNS" <<'EOF'
import json, sys
rows = [l.split() for l in open(sys.argv[1])]
files = [("4k", "4 KiB text"), ("64k", "64 KiB js, gzip"), ("1m", "1 MiB binary")]
out = {"bench": "static", "duration": sys.argv[2], "connections": int(sys.argv[3])}
print(f"static-file benchmark: actord vs nginx, same directory; wrk -t1 -c{sys.argv[3]} "
      f"-d{sys.argv[2]}, median round of {len([r for r in rows if r[:2] == ['actord', '4k']])}")
print(f"{'file':16} {'server':7} {'req/s':>9} {'MB/s':>8} {'cpu us/req':>11} {'p50':>9} "
      f"{'p99':>9} {'err':>4}   req/s of every round")
for f, label in files:
    med = {}
    for s in ("actord", "nginx"):
        rs = sorted((r for r in rows if r[0] == s and r[1] == f), key=lambda r: float(r[2]))
        med[s] = rs[(len(rs) - 1) // 2]
        _, _, rps, cpu, err, p50, p99, mbs = med[s]
        every = " ".join(f"{float(r[2]):.0f}" for r in rows if r[0] == s and r[1] == f)
        print(f"{label:16} {s:7} {float(rps):>9.0f} {float(mbs):>8.1f} {cpu:>11} {p50:>9} "
              f"{p99:>9} {err:>4}   {every}")
        out[f"{f}_{s}_rps"] = float(rps)
        out[f"{f}_{s}_cpu_us_per_req"] = float(cpu)
        out[f"{f}_{s}_errors"] = int(err)
        out[f"{f}_{s}_p99"] = p99
    ratio = round(float(med["actord"][2]) / float(med["nginx"][2]), 2)
    cpu_ratio = round(float(med["actord"][3]) / max(0.01, float(med["nginx"][3])), 2)
    out[f"{f}_ratio"] = ratio
    out[f"{f}_cpu_ratio"] = cpu_ratio
    print(f"{'':16} actord/nginx: {ratio}x req/s (target >= 0.9), {cpu_ratio}x CPU per request "
          f"(target <= 1)")
print(json.dumps(out, separators=(",", ":")))
EOF

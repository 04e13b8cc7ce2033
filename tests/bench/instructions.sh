#!/bin/sh
# instructions.sh BIN [PATH] [N] - instructions the whole actord process
# executes (every thread, start-up and shutdown included) to serve N
# keep-alive requests for PATH (default /plaintext, 20000), counted by
# valgrind's callgrind. Unlike requests/s, the count does not move with
# what else the machine is doing, so two builds compare exactly even on a
# busy machine: run it for each and compare the totals (start-up and
# shutdown cost the same in both). Not a benchmark of speed: callgrind
# runs the server ~50x slower. No backends: cache, mysql, job and upstream
# actors are off, so only routes without storage can be counted.
# Prints one JSON line: {"bin": ..., "path": ..., "requests": N, "instructions": I}.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BIN [PATH] [N]" >&2; exit 2; }
BIN=$1; P=${2:-/plaintext}; N=${3:-20000}
for tool in valgrind callgrind_annotate ab curl; do
  command -v "$tool" >/dev/null || { echo "instructions: $tool is not installed" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HP=$(port); AP=$(port)
cat >"$TMP/actord.json" <<JSON
{ "listen": ["127.0.0.1:$HP"], "admin_listen": "127.0.0.1:$AP", "log": {"level": "warn"},
  "actors": {"cache": {"count": 0}, "mysql": {"count": 0}, "job": {"count": 0},
             "upstream": {"count": 0}} }
JSON
valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.%p" "$BIN" -c "$TMP/actord.json" \
  >"$TMP/out.log" 2>&1 &
VP=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$HP/plaintext"; do
  i=$((i + 1)); [ $i -lt 300 ] || { cat "$TMP/out.log" >&2; kill $VP; exit 1; }
  sleep 0.2
done
ab -q -k -n "$N" -c 8 "http://127.0.0.1:$HP$P" >"$TMP/ab.log" 2>&1
kill -TERM $VP; wait $VP || true
I=$(callgrind_annotate "$TMP"/cg.* 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
printf '{"bin": "%s", "path": "%s", "requests": %s, "instructions": %s}\n' "$BIN" "$P" "$N" "$I"

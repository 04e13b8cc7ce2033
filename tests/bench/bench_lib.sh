# bench_lib.sh - shell helpers the benchmarks that start servers of their
# own share (sourced, not run: `. tests/bench/bench_lib.sh`).
#
#   bench_ports_free NAME PORT...  exit with a message if any port already
#                                  answers: the machine is shared, never
#                                  measure, or stop, someone else's server
#   bench_stop PID...              stop processes we started, and their
#                                  children (Tornado's forked workers
#                                  outlive their parent), then reap them

bench_ports_free() {
  name=$1; shift
  for port in "$@"; do
    if /usr/bin/python3 -c 'import socket, sys
sys.exit(socket.socket().connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0)' "$port"; then
      echo "$name: port $port is in use (set BENCH_*_PORT)" >&2
      exit 1
    fi
  done
}

bench_stop() {
  for pid in "$@"; do
    [ -n "$pid" ] || continue
    kill "$pid" $(pgrep -P "$pid") 2>/dev/null
    wait "$pid" 2>/dev/null
  done
}

# bench_lib.sh - shell helpers the benchmarks share; source it from the
# repository's root (`. tests/bench/bench_lib.sh`) after setting PY.
#   free_port            print a TCP port free on 127.0.0.1
#   wait_port NAME PORT  wait (30 s at most) until something listens on
#                        PORT; NAME goes into the error message

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # name port
  i=0
  until $PY -c "import socket,sys; socket.create_connection(('127.0.0.1',$2),0.2).close()" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "$1: nothing listens on $2" >&2; exit 1; }
    sleep 0.1
  done
}

# bench_lib.sh - shell helpers the benchmarks share; source it from the
# repository's root (`. tests/bench/bench_lib.sh`) after setting PY.
#   free_port            print a TCP port free on 127.0.0.1
#   wait_port NAME PORT  wait (30 s at most) until something listens on
#                        PORT; NAME goes into the error message
#   cpu_s PID...         CPU seconds (utime + stime) of processes and their
#                        children, from /proc
#   wrk_fields OUT C0 C1 "rps cpu_us_per_request errors p50 p99 MB/s" from
#                        wrk --latency output and the server's cpu_s
#                        before (C0) and after (C1)
#   bench_ports_free NAME PORT...  exit with a message if any port already
#                        answers: the machine is shared, never measure, or
#                        stop, someone else's server
#   nginx_conf DIR WORKERS CONNECTIONS HTTP-DIRECTIVES
#                        write DIR/nginx.conf for an unprivileged peer nginx:
#                        pid, logs and temp paths under DIR, no access log,
#                        keep-alive without a request limit, `user root`
#                        when run as root; the caller adds its servers
#   shipped_config OUT PORT REDIS-PORT MYSQL-PORT
#                        write OUT: the shipped config/actord.json with only
#                        its addresses moved (HTTP on PORT, admin on PORT+1,
#                        the local Redis and MariaDB) and its paths, relative
#                        to config/, made absolute
#   bench_stop PID...    stop processes we started, and their children
#                        (Tornado's forked workers outlive their parent),
#                        then reap them

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

cpu_s() { # pid...
  $PY - "$@" <<'PYEOF'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
pids = set(sys.argv[1:])
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if f[1] in pids:       # ppid
            pids.add(d)
total = 0
for p in pids:
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    except OSError:
        pass
print(total / tck)
PYEOF
}

wrk_fields() { # wrk-output cpu0 cpu1
  $PY - "$1" "$2" "$3" <<'PYEOF'
import re, sys
out, c0, c1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
reqs = int(re.search(r"(\d+) requests in", out).group(1))
errs = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
errs += sum(int(x) for x in sock.groups()) if sock else 0
p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)
p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
mbs = float(tr.group(1)) * {"B": 1 / 1048576, "KB": 1 / 1024, "MB": 1, "GB": 1024}[tr.group(2)]
print(f"{rps} {round((c1 - c0) * 1e6 / max(1, reqs), 1)} {errs} {p50} {p99} {mbs:.1f}")
PYEOF
}

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

nginx_conf() { # dir workers connections http-directives
  cat >"$1/nginx.conf" <<EOF
worker_processes $2;
$( [ "$3" -gt 4096 ] && echo "worker_rlimit_nofile $3;" )
pid $1/nginx.pid;
error_log $1/error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections $3; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 100000000;
    $4
}
EOF
}

shipped_config() { # out port redis-port mysql-port
  sed -e "s|127.0.0.1:8080|127.0.0.1:$2|; s|127.0.0.1:9901|127.0.0.1:$(($2 + 1))|" \
      -e "s|\"port\": 16379|\"port\": $3|; s|\"port\": 13306|\"port\": $4|" \
      -e "s|\"\\.\\./|\"$PWD/|" \
      config/actord.json >"$1"
}

"""http_bench.py - actord against nginx on the same machine, in one run.
Not a test: run it with tests/bench/http_bench.sh (or `make bench`).

  1. throughput: wrk -t1 -c128 -dDURATION on /plaintext and /json, plain
     and 16-deep pipelined (http_pipeline.lua), against actord and against
     nginx (Debian nginx-light, 2 workers, unprivileged, foreground, config
     in a temp dir, serving the same bytes as static files);
  2. server CPU time per request: utime + stime from /proc/PID/stat before
     and after each run (all nginx processes summed);
  3. memory per idle keep-alive connection: RSS delta of a fresh server
     holding IDLE_CONNS connections that each made one request;
  4. actord with every thread pinned to one core (taskset -c 0; wrk on
     the other core): throughput must not collapse;
  5. the kernel's floor on /plaintext: build/floor_server (one thread,
     epoll, recv and send of actord's answer bytes, nothing else), and the
     same with its answers sent through io_uring: no server can spend
     less CPU per request than the first, and the second shows what
     batching the system calls would save.

actord runs the shipped config/actord.json with its addresses moved
(bench_lib.sh's shipped_config), against the Redis and MariaDB that
http_bench.sh starts; compare.py keeps the minimal configuration below.

The three servers run side by side and the runs are interleaved, so each
ratio compares runs made seconds apart on a machine whose background load
drifts.

Prints a table and, as its very last line, one JSON object with every
figure and the ratios. Environment: ACTORD_BIN (default build/actord),
BENCH_DURATION (s, default 10), BENCH_IDLE_CONNS (default 10000).

tests/bench/compare.py imports this module: start_actord, wrk,
check_bodies and idle_memory measure two actord binaries the same way.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ACTORD = os.environ.get("ACTORD_BIN", os.path.join(ROOT, "build", "actord"))
FLOOR = os.path.join(ROOT, "build", "floor_server")
LUA = os.path.join(ROOT, "tests", "bench", "http_pipeline.lua")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
IDLE_CONNS = int(os.environ.get("BENCH_IDLE_CONNS", "10000"))
DEPTH = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")
PLAINTEXT = b"Hello, World!"
JSON_BODY = b'{"message":"Hello, World!"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what, tmp):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(os.path.join(tmp, "stderr.log"), errors="replace") as f:
                log = f.read()
            shutil.rmtree(tmp, ignore_errors=True)
            sys.exit(f"http_bench: {what} exited with {proc.returncode}:\n{log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"http_bench: {what} does not listen on {port}")


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d))
    return out


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime
    return total


def rss_bytes(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class Server:
    def __init__(self, name, proc, port, tmp, pids_fn):
        self.name, self.proc, self.port, self.tmp = name, proc, port, tmp
        self.pids = pids_fn
        self.complaints = []   # the server's warnings and errors, kept by stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT if self.name == "nginx" else signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for log in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.tmp, log), errors="replace") as f:
                    self.complaints += [l.rstrip() for l in f
                                        if re.search(r'"level":"(warn|error)"|\[(warn|error|crit|alert|emerg)\]', l)]
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_actord(pin=False, binary=None, config=None):
    """binary: default ACTORD. config(port, admin_port, tmpdir) -> the
    configuration, a dict or the file's text; default: a minimal one
    (listen, admin, log)."""
    tmp = tempfile.mkdtemp(prefix="actord-bench-")
    port, admin = free_port(), free_port()
    if config:
        cfg = config(port, admin, tmp)
    else:
        cfg = {
            "listen": [f"127.0.0.1:{port}"],
            "admin_listen": f"127.0.0.1:{admin}",
            "log": {"level": "warn", "format": "json", "access_log": ""},
        }
    path = os.path.join(tmp, "actord.json")
    with open(path, "w") as f:
        if isinstance(cfg, str):
            f.write(cfg)
        else:
            json.dump(cfg, f)
    cmd = [binary or ACTORD, "-c", path]
    if pin:
        cmd = ["taskset", "-c", "0"] + cmd
    err = open(os.path.join(tmp, "stderr.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=err, stderr=err)
    wait_listening(port, proc, "actord", tmp)
    return Server("actord", proc, port, tmp, lambda: [proc.pid])


def shipped_config(port, admin, tmp):
    """The shipped config/actord.json, its addresses moved: bench_lib.sh's
    shipped_config (the one definition), then the admin port ours."""
    out = os.path.join(tmp, "shipped.json")
    subprocess.run(["sh", "-c", '. tests/bench/bench_lib.sh && shipped_config "$@"', "sh",
                    out, str(port), os.environ["ACTORD_REDIS_PORT"],
                    os.environ["ACTORD_MYSQL_PORT"]], cwd=ROOT, check=True)
    with open(out) as f:
        return f.read().replace(f'"127.0.0.1:{port + 1}"', f'"127.0.0.1:{admin}"')


def start_floor(mode):
    tmp = tempfile.mkdtemp(prefix="floor-bench-")
    port = free_port()
    err = open(os.path.join(tmp, "stderr.log"), "wb")
    proc = subprocess.Popen([FLOOR, str(port), mode], stdout=err, stderr=err)
    wait_listening(port, proc, "floor_server", tmp)
    name = "floor" if mode == "send" else "floor-uring"
    return Server(name, proc, port, tmp, lambda: [proc.pid])


def start_nginx():
    tmp = tempfile.mkdtemp(prefix="nginx-bench-")
    os.chmod(tmp, 0o755)   # workers may run as another user when we are root
    www = os.path.join(tmp, "www")
    os.mkdir(www)
    os.chmod(www, 0o755)
    for name, body in (("plaintext", PLAINTEXT), ("json", JSON_BODY)):
        with open(os.path.join(www, name), "wb") as f:
            f.write(body)
        os.chmod(os.path.join(www, name), 0o644)
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 2;
worker_rlimit_nofile 20000;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    open_file_cache max=16 inactive=60s;
    open_file_cache_valid 60s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {www};
        location = /plaintext {{ default_type text/plain; }}
        location = /json {{ default_type application/json; }}
    }}
}}
""")
    err = open(os.path.join(tmp, "stderr.log"), "wb")
    proc = subprocess.Popen(["nginx", "-p", tmp, "-e", os.path.join(tmp, "error.log"),
                             "-c", conf, "-g", "daemon off;"], stdout=err, stderr=err)
    wait_listening(port, proc, "nginx", tmp)
    return Server("nginx", proc, port, tmp, lambda: [proc.pid] + children(proc.pid))


def check_bodies(server):
    for path, body in (("/plaintext", PLAINTEXT), ("/json", JSON_BODY)):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        if not data.startswith(b"HTTP/1.1 200") or not data.endswith(body):
            sys.exit(f"http_bench: {server.name} {path} answered {data!r}")


def wrk(server, path, pipelined, duration, wrk_cpu=None):
    cmd = ["wrk", "-t1", "-c128", f"-d{duration}s"]
    if pipelined:
        cmd += ["-s", LUA]
    cmd.append(f"http://127.0.0.1:{server.port}{path}")
    if pipelined:
        cmd += ["--", str(DEPTH)]
    if wrk_cpu is not None:
        cmd = ["taskset", "-c", str(wrk_cpu)] + cmd
    pids = server.pids()
    t0 = cpu_ticks(pids)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    t1 = cpu_ticks(pids)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(x) for x in m.groups()) if m else 0
    if m and errors:
        print(f"http_bench: {server.name} {path}: {m.group(0)}", file=sys.stderr)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    cpu_us = (t1 - t0) / CLK_TCK / max(total, 1) * 1e6
    return {"rps": rps, "requests": total, "errors": errors, "non2xx": non2xx,
            "cpu_us_per_req": cpu_us}


def idle_memory(server, n):
    """RSS delta per connection for `n` idle keep-alive connections."""
    req = b"GET /plaintext HTTP/1.1\r\nHost: b\r\n\r\n"
    socks = []

    def one():
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(req)
        data = b""
        while not data.endswith(PLAINTEXT):
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed")
            data += chunk
        return s

    one().close()   # warm: the first request's buffers are not per connection
    time.sleep(0.5)
    before = rss_bytes(server.pids())
    try:
        for _ in range(n):
            socks.append(one())
        time.sleep(1.0)   # let the server settle (nothing to await: it is idle)
        after = rss_bytes(server.pids())
        alive = sum(1 for s in socks if s.fileno() >= 0)
    finally:
        for s in socks:
            s.close()
    return {"connections": alive, "rss_before": before, "rss_after": after,
            "bytes_per_conn": (after - before) / n}


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, IDLE_CONNS + 1024) if hard != resource.RLIM_INFINITY else IDLE_CONNS + 1024
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    if want < IDLE_CONNS + 100:
        sys.exit(f"http_bench: ulimit -n {hard} is too low for {IDLE_CONNS} idle connections")
    results = {}
    runs = [("plaintext", False), ("plaintext", True), ("json", False), ("json", True)]

    def report_complaints(srv, name):
        # Errors in a run: show why, as the server logged it (stderr, so
        # the JSON stays the last line of stdout).
        if any(r["errors"] or r["non2xx"] for k, r in results.items() if k[0] == name):
            for line in srv.complaints[-20:]:
                print(f"{name}: {line}", file=sys.stderr)

    # All the servers run at once, idle but for the one measured, and the
    # runs are interleaved (actord, nginx, pinned actord, the floors for
    # each case): on a shared machine the background load drifts over
    # minutes, so the ratios compare runs made seconds apart.
    servers = {"actord": start_actord(config=shipped_config), "nginx": start_nginx(),
               "actord-pinned": start_actord(pin=True, config=shipped_config),
               "floor": start_floor("send"), "floor-uring": start_floor("uring")}
    try:
        for name, srv in servers.items():
            if not name.startswith("floor"):   # the floor answers anything alike
                check_bodies(srv)
        for route, pipelined in runs:
            for name, srv in servers.items():
                if name == "actord-pinned" and route != "plaintext":
                    continue
                if name.startswith("floor") and (route, pipelined) != ("plaintext", False):
                    continue
                cpu = 1 if name == "actord-pinned" else None   # wrk beside, not on, core 0
                wrk(srv, "/" + route, pipelined, 2, wrk_cpu=cpu)   # warm-up, not counted
                results[(name, route, pipelined)] = wrk(srv, "/" + route, pipelined,
                                                        DURATION, wrk_cpu=cpu)
    finally:
        for srv in servers.values():
            srv.stop()
    for name, srv in servers.items():
        report_complaints(srv, name)
    idle = {}
    for name, start in (("actord", lambda: start_actord(config=shipped_config)),
                        ("nginx", start_nginx)):
        srv = start()
        try:
            idle[name] = idle_memory(srv, IDLE_CONNS)
        finally:
            srv.stop()

    figures = {"duration_s": DURATION, "depth": DEPTH, "idle_conns": IDLE_CONNS}
    print(f"wrk -t1 -c128 -d{DURATION}s; pipelined: {DEPTH} requests per write")
    print(f"{'server':<14} {'route':<10} {'mode':<10} {'req/s':>10} {'cpu us/req':>11} "
          f"{'errors':>7} {'non-2xx':>8}")
    order = list(servers)
    for (name, route, pipelined) in sorted(results, key=lambda k: (order.index(k[0]),
                                                                runs.index(k[1:]))):
        r = results[(name, route, pipelined)]
        mode = "pipelined" if pipelined else "plain"
        print(f"{name:<14} /{route:<9} {mode:<10} {r['rps']:>10.0f} {r['cpu_us_per_req']:>11.2f} "
              f"{r['errors']:>7} {r['non2xx']:>8}")
        key = f"{name.replace('-', '_')}_{route}_{mode}"
        figures[f"{key}_rps"] = round(r["rps"])
        figures[f"{key}_cpu_us_per_req"] = round(r["cpu_us_per_req"], 3)
        figures[f"{key}_socket_errors"] = r["errors"]
        figures[f"{key}_non2xx"] = r["non2xx"]
    print()
    print(f"{'ratio actord / nginx':<36} {'req/s':>8} {'cpu/req':>8}")
    for route, pipelined in runs:
        mode = "pipelined" if pipelined else "plain"
        a, n = results[("actord", route, pipelined)], results[("nginx", route, pipelined)]
        rr = a["rps"] / n["rps"]
        cr = a["cpu_us_per_req"] / n["cpu_us_per_req"] if n["cpu_us_per_req"] > 0 else 0
        print(f"/{route:<10} {mode:<25} {rr:>7.2f}x {cr:>7.2f}x")
        figures[f"ratio_{route}_{mode}_rps"] = round(rr, 3)
        figures[f"ratio_{route}_{mode}_cpu"] = round(cr, 3)
    for pipelined in (False, True):
        mode = "pipelined" if pipelined else "plain"
        rr = results[("actord-pinned", "plaintext", pipelined)]["rps"] / \
            results[("actord", "plaintext", pipelined)]["rps"]
        print(f"actord on one core / on two, /plaintext {mode:<9} {rr:>6.2f}x")
        figures[f"ratio_pinned_plaintext_{mode}_rps"] = round(rr, 3)
    nginx_cpu = results[("nginx", "plaintext", False)]["cpu_us_per_req"]
    for name in ("floor", "floor-uring"):
        cr = results[(name, "plaintext", False)]["cpu_us_per_req"] / nginx_cpu if nginx_cpu else 0
        print(f"{name} / nginx, /plaintext plain, cpu/req {cr:>14.2f}x")
        figures[f"ratio_{name.replace('-', '_')}_plaintext_plain_cpu"] = round(cr, 3)
    print()
    for name, m in idle.items():
        print(f"{name}: {m['connections']} idle keep-alive connections, RSS "
              f"{m['rss_before'] / 1048576:.1f} -> {m['rss_after'] / 1048576:.1f} MiB: "
              f"{m['bytes_per_conn']:.0f} bytes per connection")
        figures[f"{name}_idle_bytes_per_conn"] = round(m["bytes_per_conn"])
        figures[f"{name}_idle_rss_before"] = m["rss_before"]
        figures[f"{name}_idle_rss_after"] = m["rss_after"]
    figures["socket_errors_total"] = sum(r["errors"] for r in results.values())
    figures["targets_met"] = {
        "plaintext_ge_1x_nginx": figures["ratio_plaintext_plain_rps"] >= 1.0 and
        figures["ratio_plaintext_pipelined_rps"] >= 1.0,
        "json_ge_1x_nginx": figures["ratio_json_plain_rps"] >= 1.0 and
        figures["ratio_json_pipelined_rps"] >= 1.0,
        "zero_socket_errors": figures["socket_errors_total"] == 0,
        "idle_le_4096_bytes": figures["actord_idle_bytes_per_conn"] <= 4096,
    }
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()

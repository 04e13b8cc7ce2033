"""Daemon mode, signals and logging of the real binary (issue: daemon,
configuration file, signals and logging).

  -d            the parent exits 0 only once the daemon listens; pidfile with
                the daemon's pid; a second start refused; a bad file or a busy
                port fails with the reason
  SIGTERM       in-flight requests finish, listeners and idle keep-alive
                connections close at once, exit 0; a second signal exits at
                once, during the drain or while the actors stop;
                drain_timeout_ms bounds the wait
  SIGHUP        under load: a valid file applies (413 where 200 was, log
                level, routes), an invalid one is logged and changes nothing;
                no request fails
  SIGUSR1       reopen a moved log file
  stalled log   stderr (the log) a pipe nobody reads: requests are served
                and SIGTERM still stops actord
  logging       JSON lines with @timestamp/level/actor/msg; text on a terminal
  sd_notify     READY=1 once listening, RELOADING=1, STOPPING=1

Every test here is cheap enough for the sanitizer builds too (about 10 s
under TSan); time limits scale with ACTORD_TEST_SLOW.
"""
import concurrent.futures
import http.client
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, SLOW, RawClient, base_config, merge, wait_until

TERM_MS = 1500 if SLOW == 1 else int(1500 * SLOW / 2)   # slow requests in flight


# ---- helpers -------------------------------------------------------------

def server_has_read(port, clients):
    """True once every client socket's request was read by the server: the
    server side of each connection has an empty receive queue
    (/proc/net/tcp), so the request is parsed and in flight."""
    want = {c.sock.getsockname()[1] for c in clients}
    seen = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.split(":")[1], 16) != port:
                continue
            rport = int(remote.split(":")[1], 16)
            if rport in want:
                if int(queues.split(":")[1], 16) != 0:
                    return False
                seen.add(rport)
    return seen == want


def refuses_connections(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False        # caught in the backlog as the listener closed: ask again


def has_data(client):
    return bool(select.select([client.sock], [], [], 0)[0])


def send_slow(port, ms, n=1):
    clients = [RawClient(port) for _ in range(n)]
    for c in clients:
        c.send(b"GET /_test/delay?ms=%d HTTP/1.1\r\nHost: t\r\n\r\n" % ms)
    wait_until(lambda: server_has_read(port, clients), 5, "the server to read the slow requests")
    return clients


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def json_lines(text):
    """Every line parsed; each must be a JSON object with the four fields."""
    out = []
    for line in text.splitlines():
        j = json.loads(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", j["@timestamp"]), line
        assert j["level"] in ("debug", "info", "warn", "error"), line
        assert isinstance(j["actor"], str) and j["actor"], line
        assert isinstance(j["msg"], str), line
        out.append(j)
    return out


class Load:
    """Keep-alive clients in a thread pool, each sending GET /plaintext in a
    loop; every answer must be 200 Hello, World!."""

    def __init__(self, port, clients=8):
        self.port = port
        self.stop = threading.Event()
        self.counts = [0] * clients
        self.failures = []
        self.pool = concurrent.futures.ThreadPoolExecutor(clients)
        self.futures = [self.pool.submit(self._run, i) for i in range(clients)]

    def _run(self, i):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10 * SLOW)
        while not self.stop.is_set():
            try:
                conn.request("GET", "/plaintext")
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or body != b"Hello, World!":
                    self.failures.append(f"{r.status} {body[:80]!r}")
                else:
                    self.counts[i] += 1
                if r.will_close:
                    self.failures.append("the server closed a keep-alive connection")
                    conn.close()
            except Exception as e:      # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))
                conn.close()
        conn.close()

    @property
    def ok(self):
        return sum(self.counts)

    def more(self, n):
        target = self.ok + n
        wait_until(lambda: self.ok >= target or self.failures, 10, f"{n} more requests")

    def finish(self):
        self.stop.set()
        for f in self.futures:
            f.result(timeout=15 * SLOW)
        self.pool.shutdown()
        return self.ok


def process_gone(pid):
    """True once `pid` exited (a zombie counts: whoever adopted it reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def daemons(tmp_path):
    """Start `actord -d`; every daemon still running at the end is killed."""
    pids = []

    def start(cfg_over=None, name="d"):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        cfg = merge(base_config(str(d)), {"pidfile": "actord.pid",
                                          "log": {"file": "actord.log"}})
        merge(cfg, cfg_over or {})
        path = d / "actord.json"
        path.write_text(json.dumps(cfg))
        t0 = time.monotonic()
        r = subprocess.run([BIN, "-d", "-c", str(path)], capture_output=True, text=True,
                           timeout=30 * SLOW)
        r.elapsed = time.monotonic() - t0
        r.cfg, r.dir, r.config_path = cfg, d, str(path)
        r.port = int(cfg["listen"][0].rsplit(":", 1)[1])
        r.pidfile = d / "actord.pid"
        if r.returncode == 0:
            r.pid = int(r.pidfile.read_text())
            pids.append(r.pid)
        return r

    yield start
    for pid in pids:
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)


# ---- daemon mode ---------------------------------------------------------

def test_daemon_returns_once_listening_writes_the_pidfile_and_refuses_a_second_start(daemons):
    r = daemons()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    # Listening before the parent exited: the very first connection works.
    with socket.create_connection(("127.0.0.1", r.port), timeout=1):
        pass
    pid = r.pid
    assert r.pidfile.read_text() == f"{pid}\n"
    assert open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0] == BIN.encode()
    # Detached: a session of its own it does not lead (so it can never
    # acquire a terminal), stdio on /dev/null, cwd /.
    assert os.getsid(pid) != os.getsid(0)
    assert os.getsid(pid) != pid
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=5)
    conn.request("GET", "/plaintext")
    assert conn.getresponse().read() == b"Hello, World!"
    conn.close()
    # The log file is relative to the config file, not to "/".
    assert "ready: http on" in read_text(r.dir / "actord.log")

    # A second instance with the same pidfile: refused, with the reason.
    second = subprocess.run([BIN, "-d", "-c", r.config_path], capture_output=True, text=True,
                            timeout=30)
    assert second.returncode == 1
    assert second.stderr == (f"actord: already running (pid {pid}, pidfile "
                             f"{r.dir}/actord.pid)\n")
    foreground = subprocess.run([BIN, "-c", r.config_path], capture_output=True, text=True,
                                timeout=30)
    assert foreground.returncode == 1
    assert f"already running (pid {pid}," in foreground.stderr
    assert r.pidfile.read_text() == f"{pid}\n"
    assert not process_gone(pid)

    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    assert not r.pidfile.exists()
    assert '"msg":"actord stopped"' in read_text(r.dir / "actord.log")


def test_daemon_with_an_invalid_file_exits_1_with_the_reason(daemons):
    r = daemons({"http": {"max_pipeline": 0}})
    assert r.returncode == 1
    assert r.stderr == (f"actord: {r.config_path}: http.max_pipeline: 0 is out of range "
                        f"[1, 1024]\n")
    assert not r.pidfile.exists()
    assert refuses_connections(r.port)


def test_daemon_on_a_busy_port_exits_1_with_the_reason(daemons):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        r = daemons({"listen": [f"127.0.0.1:{port}"]})
        assert r.returncode == 1
        assert r.stderr == (f"actord: listen[0] 127.0.0.1:{port}: Address already in use "
                            f"(another process listens there, or a connection from that "
                            f"port lingers in TIME-WAIT: ss -tan 'sport = :{port}')\n")
        assert not r.pidfile.exists()
    # Another actord (which binds with SO_REUSEPORT) is refused just as well.
    first = daemons(name="first")
    assert first.returncode == 0, first.stderr
    second = daemons({"listen": first.cfg["listen"]}, name="second")
    assert second.returncode == 1
    assert "Address already in use" in second.stderr
    assert "cannot start: listen[0]" in read_text(second.dir / "actord.log")


# ---- start-up: what the kernel grants -------------------------------------

def test_start_says_when_the_kernel_caps_the_listen_backlog(actord_factory):
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
    if somaxconn >= 65535:
        pytest.skip("net.core.somaxconn is at the largest http.backlog: nothing is capped")
    capped = actord_factory({"http": {"backlog": somaxconn + 1}})
    said = f"listen backlog: {somaxconn}, not http.backlog {somaxconn + 1}"
    wait_until(lambda: said in capped.stderr(), 5 * SLOW, "the backlog line")
    line = next(j for j in json_lines(capped.stderr()) if said in j["msg"])
    assert line["level"] == "info"
    assert f"sysctl -w net.core.somaxconn={somaxconn + 1}" in line["msg"]
    # A backlog the kernel grants whole is not worth a line.
    whole = actord_factory({"http": {"backlog": somaxconn}})
    wait_until(lambda: "ready" in whole.stderr(), 5 * SLOW, "the ready line")
    assert not [j for j in json_lines(whole.stderr()) if j["msg"].startswith("listen backlog:")]


# ---- SIGTERM: graceful drain ---------------------------------------------

def test_sigterm_finishes_requests_in_flight_closes_listeners_and_idle_connections(actord_factory):
    a = actord_factory({"drain_timeout_ms": 20000})
    idle = RawClient(a.port)
    idle.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
    assert idle.read_response().status == 200
    slow = send_slow(a.port, TERM_MS, n=4)
    t0 = time.monotonic()
    a.signal(signal.SIGTERM)
    wait_until(lambda: refuses_connections(a.port), 2, "the listener to close")
    assert idle.closed(timeout=2), "an idle keep-alive connection stayed open"
    # Both happened while the slow requests were still being worked on.
    assert not any(has_data(c) for c in slow)
    for c in slow:
        r = c.read_response()
        assert r.status == 200 and r.body == b"delayed\n"
        assert r.headers["connection"] == "close"
        assert c.closed(timeout=2)
    assert a.proc.wait(timeout=10 * SLOW) == 0
    assert time.monotonic() - t0 >= TERM_MS / 1000 * 0.8
    lines = [j["msg"] for j in json_lines(a.stderr())]
    assert "SIGTERM: shutting down gracefully" in lines
    assert "drained" in lines and "actord stopped" in lines


def test_second_sigterm_exits_at_once(actord_factory):
    a = actord_factory({"drain_timeout_ms": 60000})
    a.expected_exit = 1
    slow = send_slow(a.port, 30000)
    a.signal(signal.SIGTERM)
    wait_until(lambda: refuses_connections(a.port), 2, "the drain to start")
    t0 = time.monotonic()
    a.signal(signal.SIGINT)
    assert a.proc.wait(timeout=5 * SLOW) == 1
    assert time.monotonic() - t0 < 2 * SLOW
    assert slow[0].closed(timeout=2)
    assert "second SIGINT while draining: exiting now" in a.stderr()


def test_a_signal_while_the_actors_stop_exits_at_once(actord_factory):
    """Past the drain, a handler stuck in a long call holds up the stop:
    another SIGTERM ends it now, as during the drain (Redis: "You
    insist... exiting now")."""
    a = actord_factory({"drain_timeout_ms": 200})
    a.expected_exit = 1
    blocked = socket.create_connection(("127.0.0.1", a.port))
    blocked.sendall(b"GET /_test/block?ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)             # the handler is in the call
    a.signal(signal.SIGTERM)
    wait_until(lambda: "drain deadline (200 ms) passed" in a.stderr(), 5 * SLOW,
               "the drain deadline")
    t0 = time.monotonic()
    a.signal(signal.SIGTERM)
    assert a.proc.wait(timeout=5 * SLOW) == 1
    assert time.monotonic() - t0 < 2 * SLOW
    assert "SIGTERM while stopping: exiting now" in a.stderr()
    blocked.close()


def test_drain_is_bounded_by_drain_timeout_ms(actord_factory):
    a = actord_factory({"drain_timeout_ms": 300})
    slow = send_slow(a.port, 30000)
    t0 = time.monotonic()
    a.signal(signal.SIGTERM)
    assert a.proc.wait(timeout=10 * SLOW) == 0
    took = time.monotonic() - t0
    assert 0.25 <= took < 3 * SLOW
    assert slow[0].closed(timeout=2)
    assert "drain deadline (300 ms) passed with 1 net actor(s) still busy" in a.stderr()


# ---- SIGHUP: reload -------------------------------------------------------

def test_sighup_applies_a_valid_file_keeps_the_old_one_on_an_invalid_file_and_fails_no_request(
        actord_factory):
    a = actord_factory({"http": {"max_body_bytes": 4096}})
    body = b"x" * 2000
    assert a.request("POST", "/_test/echo", body=body).status == 200
    load = Load(a.port, clients=8 if SLOW == 1 else 3)
    try:
        load.more(200)
        # Valid: a lower body limit and a quieter log level, live.
        cfg = merge(json.loads(json.dumps(a.cfg)),
                    {"http": {"max_body_bytes": 1000}, "log": {"level": "warn"}})
        a.write_config(cfg)
        a.signal(signal.SIGHUP)
        wait_until(lambda: a.request("POST", "/_test/echo", body=body).status == 413, 5,
                   "413 under the reloaded limit")
        load.more(200)
        # Invalid: logged, and the running configuration stays.
        with open(a.config_path, "w") as f:
            f.write('{"http": {"max_body_bytes": 100,}}')
        a.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed, still running the previous configuration" in
                   a.stderr(), 5, "the failed reload to be logged")
        assert f"{a.config_path}: (file): invalid JSON at line 1, column 33" in a.stderr()
        assert a.request("POST", "/_test/echo", body=b"y" * 500).status == 200
        assert a.request("POST", "/_test/echo", body=body).status == 413
        load.more(200)
        # Valid again: routes change live too (the test routes go away).
        cfg = merge(cfg, {"test_routes": False, "log": {"level": "info"}})
        a.write_config(cfg)
        a.signal(signal.SIGHUP)
        wait_until(lambda: a.request("POST", "/_test/echo", body=b"z").status == 404, 5,
                   "the test routes to go")
        load.more(200)
    finally:
        total = load.finish()
    assert load.failures == [], load.failures[:5]
    assert total >= 800
    msgs = [j["msg"] for j in json_lines(a.stderr())]
    # At level warn the first reload's own info line was not written; the
    # last reload (back at info) was.
    assert msgs.count(f"configuration reloaded from {a.config_path}") == 1
    assert any(m.startswith("bad request from ") and "413" in m for m in msgs)


def admin_config(cfg):
    port = int(cfg["admin_listen"].rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        conn.request("GET", "/admin/config")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def swap_link(link, target):
    """Point `link` at `target` atomically, as Kubernetes swaps ..data."""
    tmp = f"{link}.tmp"
    os.symlink(target, tmp)
    os.replace(tmp, link)


def test_sighup_reopens_a_symlinked_file_by_name_after_the_link_moved(tmp_path):
    """A Kubernetes ConfigMap: actord.json -> ..data/actord.json, ..data ->
    ..v1; an update points ..data at ..v2 and deletes ..v1. The reload must
    read ..v2 (the name the operator gave), and relative paths stay relative
    to the directory of that name, not of the link's old target."""
    cfg = merge(base_config(str(tmp_path)), {"http": {"max_headers": 50},
                                             "log": {"file": "actord.log"}})
    for v, headers in (("..v1", 50), ("..v2", 60)):
        (tmp_path / v).mkdir()
        (tmp_path / v / "actord.json").write_text(
            json.dumps(merge(json.loads(json.dumps(cfg)), {"http": {"max_headers": headers}})))
    swap_link(tmp_path / "..data", "..v1")
    os.symlink("..data/actord.json", tmp_path / "actord.json")
    proc = subprocess.Popen([BIN, "-c", str(tmp_path / "actord.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: "ready: http on" in read_text(tmp_path / "actord.log"), 10,
                   "actord to start")
        assert admin_config(cfg)["http"]["max_headers"] == 50
        swap_link(tmp_path / "..data", "..v2")
        for f in (tmp_path / "..v1").iterdir():
            f.unlink()
        (tmp_path / "..v1").rmdir()
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload" in read_text(tmp_path / "actord.log"), 5, "the reload")
        log = read_text(tmp_path / "actord.log")
        assert "reload failed" not in log
        assert f"configuration reloaded from {tmp_path}/actord.json" in log
        assert admin_config(cfg)["http"]["max_headers"] == 60
    finally:
        proc.terminate()
        assert proc.wait(30 * SLOW) == 0


def test_relative_paths_given_to_a_daemon_survive_its_chdir(tmp_path):
    """-c and ACTORD_*_FILE relative to the directory actord -d was started
    in: the daemon runs from "/", yet every reload reads the same files."""
    cfg = merge(base_config(str(tmp_path)), {"pidfile": "actord.pid",
                                             "log": {"file": "actord.log"}})
    (tmp_path / "actord.json").write_text(json.dumps(cfg))
    (tmp_path / "sec").write_text("s3cret\n")
    env = dict(os.environ, ACTORD_MYSQL_PASSWORD_FILE="sec")
    r = subprocess.run([BIN, "-d", "-c", "actord.json"], capture_output=True, text=True,
                       cwd=str(tmp_path), env=env, timeout=30 * SLOW)
    assert r.returncode == 0, r.stderr
    pid = int((tmp_path / "actord.pid").read_text())
    try:
        os.kill(pid, signal.SIGHUP)
        wait_until(lambda: "configuration reloaded from" in read_text(tmp_path / "actord.log"),
                   5, "the reload")
        log = read_text(tmp_path / "actord.log")
        assert "reload failed" not in log
        assert f"configuration reloaded from {tmp_path}/actord.json" in log
        assert admin_config(cfg)["mysql"]["password"] == "<redacted>"
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: process_gone(pid), 30 * SLOW, "the daemon to exit")


# ---- SIGUSR1 and the log format -----------------------------------------

def test_sigusr1_reopens_a_moved_log_file_and_lines_are_json(actord_factory):
    a = actord_factory({"log": {"file": "actord.log", "format": "json"}})
    log = os.path.join(a.dir, "actord.log")
    moved = log + ".1"
    wait_until(lambda: "ready: http on" in read_text(log), 5, "the ready line")
    os.rename(log, moved)
    a.signal(signal.SIGUSR1)
    wait_until(lambda: "log files reopened" in read_text(log), 5, "a new log file")
    size = os.path.getsize(moved)
    a.signal(signal.SIGHUP)      # something to log
    wait_until(lambda: "configuration reloaded" in read_text(log), 5, "a line in the new file")
    assert os.path.getsize(moved) == size
    assert a.stop() == 0
    assert os.path.getsize(moved) == size
    old, new = json_lines(read_text(moved)), json_lines(read_text(log))
    assert any(j["msg"].startswith("actord ") and j["actor"] == "main" for j in old)
    assert {j["actor"] for j in new} >= {"log-0", "main"}
    assert new[-1]["msg"] == "actord stopped"


def test_a_log_pipe_nobody_reads_neither_stops_requests_nor_the_shutdown(tmp_path):
    """`actord 2>&1 | stuck`: the log actor may wait for the pipe a while,
    never forever, so requests are served and SIGTERM still stops it."""
    cfg = merge(base_config(str(tmp_path)), {"log": {"access_log": "-"}})
    path = tmp_path / "actord.json"
    path.write_text(json.dumps(cfg))
    port = int(cfg["listen"][0].rsplit(":", 1)[1])
    p = subprocess.Popen([BIN, "-c", str(path)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        wait_until(lambda: not refuses_connections(port), 10 * SLOW, "actord to listen")
        n = 2000                # far more than a pipe holds (64 KiB)
        with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as s:
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n" * n)
            got = b""
            while got.count(b"HTTP/1.1 200") < n:
                chunk = s.recv(1 << 20)
                assert chunk, "connection closed early"
                got += chunk
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10 * SLOW) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stderr.close()


def test_foreground_on_a_terminal_logs_plain_text(tmp_path):
    cfg = base_config(str(tmp_path))
    cfg["log"] = {"format": "auto"}
    path = tmp_path / "actord.json"
    path.write_text(json.dumps(cfg))
    master, slave = pty.openpty()
    proc = subprocess.Popen([BIN, "-c", str(path)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    try:
        def ready():
            nonlocal out
            while select.select([master], [], [], 0)[0]:
                out += os.read(master, 4096)
            return b"ready: http on" in out
        wait_until(ready, 10, "the ready line on the terminal")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10 * SLOW)
        os.close(master)
    line = next(ln for ln in out.decode().splitlines() if "ready: http on" in ln)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  main: actord ", line), line
    assert rc == 0


# ---- systemd Type=notify --------------------------------------------------

def test_sd_notify_ready_once_listening_reloading_and_stopping(actord_factory, tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10 * SLOW)
    a = actord_factory(env={"NOTIFY_SOCKET": path}, wait=False)
    try:
        assert sock.recv(256) == b"READY=1"
        with socket.create_connection(("127.0.0.1", a.port), timeout=1):
            pass                  # READY=1 came after the listeners opened
        a.signal(signal.SIGHUP)
        reloading = sock.recv(256).decode().split("\n")
        assert reloading[0] == "RELOADING=1"
        # systemd >= 253 wants the monotonic time with it (Type=notify-reload)
        usec = int(reloading[1].removeprefix("MONOTONIC_USEC="))
        assert abs(usec - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 10_000_000 * SLOW
        assert sock.recv(256) == b"READY=1"
        a.signal(signal.SIGTERM)
        assert sock.recv(256) == b"STOPPING=1"
    finally:
        sock.close()
    assert a.proc.wait(timeout=10 * SLOW) == 0

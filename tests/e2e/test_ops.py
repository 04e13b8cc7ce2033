"""Operations without downtime (issue 21): a binary upgrade and live actor
counts, each under a wrk load on /plaintext and /db (256 connections in
all, for the whole test) that must see 0 socket errors and 0 non-2xx.

Also: the same upgrade for a daemon (-d: the pidfile follows) and under
systemd (the new process names itself MAINPID).

The daemon runs from a copy of the binary under test in the test's own
directory, so a test can replace that file (a broken upgrade) without
touching the build."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import conftest
from admin_helpers import ACTORCTL, metric, metrics_of, wait_admin
from conftest import SLOW, base_config, merge, wait_until
from storage_util import storage_config

JSON = {"Content-Type": "application/json"}
CONNECTIONS = 128  # per URL: 256 in all
WRK_MAX_SECONDS = 120  # the bound; results() stops the load sooner
TAIL_SECONDS = 1  # load kept on after the operation, before results()


class Wrk:
    """One wrk per URL, started now, loading until results(): the load
    spans the operation under test and TAIL_SECONDS after it, however long
    the operation takes (wrk prints its summary on SIGINT)."""
    running = []  # killed after each test: a failed assertion never leaves load behind

    def __init__(self, port, paths):
        self.procs = [subprocess.Popen(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{WRK_MAX_SECONDS}s", "--timeout", "5s",
             f"http://127.0.0.1:{port}{p}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True) for p in paths]
        Wrk.running.append(self)

    def results(self):
        time.sleep(TAIL_SECONDS)
        for p in self.procs:
            p.send_signal(signal.SIGINT)
        out = []
        for p in self.procs:
            text, _ = p.communicate(timeout=30)
            out.append(text)
        Wrk.running.remove(self)
        return out


@pytest.fixture(autouse=True)
def no_load_left_behind():
    yield
    while Wrk.running:
        for p in Wrk.running.pop().procs:
            p.kill()
            p.wait()


def assert_clean(outputs):
    for text in outputs:
        assert "Socket errors" not in text, text
        assert "Non-2xx" not in text, text
        done = re.search(r"(\d+) requests in", text)
        assert done and int(done.group(1)) > 1000, text


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child that exited) is not alive either.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def serving_pid(a):
    return a.admin("GET", "/admin/actors").json()["pid"]


def pools(a):
    return {p["kind"]: p for p in a.admin("GET", "/admin/actors").json()["pools"]}


def ctl(a, *args):
    return subprocess.run([ACTORCTL, "-a", f"127.0.0.1:{a.admin_port}", *args],
                          capture_output=True, text=True, timeout=90 * SLOW)


def start_copy(actord_factory, tmp_path, monkeypatch, services, **over):
    """actord running from tmp_path/actord (a copy of the binary under test)."""
    copy = tmp_path / "actord"
    shutil.copy(conftest.BIN, copy)
    monkeypatch.setattr(conftest, "BIN", str(copy))
    cfg = storage_config(services, actors={"cache": {"count": 0}, "mysql": {"count": 8},
                                           "handler": {"count": 1}})
    cfg["near_cache"] = {"enabled": False}
    cfg["pidfile"] = str(tmp_path / "actord.pid")
    for k, v in over.items():
        cfg[k] = v
    a = wait_admin(actord_factory(cfg))
    wait_until(lambda: a.get("/db").status == 200, 10, "/db to answer")
    return a, copy


def stop_pid(pid):
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), 30, f"pid {pid} to stop")


def test_upgrade_under_load_moves_to_a_new_pid_without_an_error(actord_factory, tmp_path,
                                                              monkeypatch, services):
    a, _ = start_copy(actord_factory, tmp_path, monkeypatch, services)
    old = serving_pid(a)
    pidfile = tmp_path / "actord.pid"
    assert int(pidfile.read_text()) == old
    load = Wrk(a.port, ["/plaintext", "/db"])
    time.sleep(2)
    r = ctl(a, "--wait", "60", "upgrade")
    assert r.returncode == 0, r.stdout + r.stderr
    new = serving_pid(a)
    assert new != old and f"upgraded: pid {old} -> {new}" in r.stdout
    try:
        # The old one drains and exits 0; the pidfile names the new one.
        assert a.proc.wait(30 * SLOW) == 0
        assert int(pidfile.read_text()) == new
        assert_clean(load.results())
        assert a.get("/plaintext").status == 200
        m = metrics_of(a)
        assert metric(m, "actord_upgrade_failures_total") == 0
        assert "handed over to its new process" in a.stderr()
        # A second instance still finds the pidfile locked (by the new one).
        other = subprocess.run([conftest.BIN, "-c", a.config_path], capture_output=True,
                               text=True, timeout=30)
        assert other.returncode == 1 and f"already running (pid {new}" in other.stderr
    finally:
        stop_pid(new)
    assert not pidfile.exists()


def test_upgrade_of_a_daemon_moves_the_pidfile_to_the_new_daemon(tmp_path):
    """-d: the new process stays a daemon (no second fork, stdio on
    /dev/null, its own session) and the pidfile follows it."""
    cfg = merge(base_config(str(tmp_path)), {"pidfile": "actord.pid",
                                             "log": {"file": "actord.log"}})
    path = tmp_path / "actord.json"
    path.write_text(json.dumps(cfg))
    port = int(cfg["listen"][0].rsplit(":", 1)[1])
    pidfile = tmp_path / "actord.pid"
    r = subprocess.run([conftest.BIN, "-d", "-c", str(path)], capture_output=True, text=True,
                       timeout=30 * SLOW)
    assert r.returncode == 0, r.stderr
    old = int(pidfile.read_text())
    new = None
    try:
        os.kill(old, signal.SIGUSR2)
        wait_until(lambda: int(pidfile.read_text() or 0) != old, 30 * SLOW,
                   "the pidfile to name the new daemon")
        new = int(pidfile.read_text())
        wait_until(lambda: not pid_alive(old), 30 * SLOW, "the old daemon to exit")
        assert os.getsid(new) == os.getsid(old) != os.getsid(0)
        for fd in (0, 1, 2):
            assert os.readlink(f"/proc/{new}/fd/{fd}") == "/dev/null"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b"Hello, World!" in c.makefile("rb").read()
        log = (tmp_path / "actord.log").read_text()
        assert "handed over to its new process" in log
        assert f"upgrade: new process {new} serves" in log
    finally:
        for pid in (old, new):
            if pid is not None and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda: not pid_alive(pid), 30 * SLOW, f"pid {pid} to stop")
    assert not pidfile.exists()


def test_upgrade_under_systemd_names_the_new_mainpid(actord_factory, tmp_path):
    """Type=notify: the new process sends MAINPID=<its pid> with READY=1;
    the old one hands over without STOPPING=1 (the service goes on)."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.settimeout(30 * SLOW)

    def recv():
        data, anc, _, _ = sock.recvmsg(256, socket.CMSG_SPACE(12))
        sender = next(int.from_bytes(d[:4], "little") for lvl, t, d in anc
                      if lvl == socket.SOL_SOCKET and t == socket.SCM_CREDENTIALS)
        return data.decode(), sender

    a = actord_factory(env={"NOTIFY_SOCKET": path}, wait=False)
    new = None
    try:
        old = a.proc.pid
        assert recv() == ("READY=1", old)
        a.signal(signal.SIGUSR2)
        text, new = recv()
        assert new != old and text == f"MAINPID={new}\nREADY=1"
        assert a.proc.wait(30 * SLOW) == 0
        sock.settimeout(0.5)
        try:
            extra = recv()
        except socket.timeout:
            extra = None
        assert extra is None, extra              # no STOPPING=1 from the old one
        with socket.create_connection(("127.0.0.1", a.port), timeout=5):
            pass
        sock.settimeout(30 * SLOW)
        os.kill(new, signal.SIGTERM)
        assert recv() == ("STOPPING=1", new)
        wait_until(lambda: not pid_alive(new), 30 * SLOW, "the new process to stop")
    finally:
        sock.close()
        if new is not None and pid_alive(new):
            os.kill(new, signal.SIGKILL)


def test_a_broken_new_binary_leaves_the_old_one_serving(actord_factory, tmp_path, monkeypatch,
                                                      services):
    a, copy = start_copy(actord_factory, tmp_path, monkeypatch, services)
    old = serving_pid(a)
    load = Wrk(a.port, ["/plaintext", "/db"])
    time.sleep(1)
    # The file at the binary's path now exits at once.
    copy.unlink()
    copy.write_text("#!/bin/sh\nexit 1\n")
    copy.chmod(0o755)
    r = ctl(a, "--wait", "30", "upgrade")
    assert r.returncode == 1 and "upgrade failed" in r.stderr, r.stdout + r.stderr
    assert_clean(load.results())
    assert serving_pid(a) == old and a.proc.poll() is None
    assert int((tmp_path / "actord.pid").read_text()) == old
    assert metric(metrics_of(a), "actord_upgrade_failures_total") == 1
    assert "upgrade failed, still serving" in a.stderr()


def test_an_upgrade_that_never_gets_ready_is_stopped_at_the_timeout(actord_factory, tmp_path,
                                                                  monkeypatch, services):
    a, copy = start_copy(actord_factory, tmp_path, monkeypatch, services,
                         upgrade_timeout_ms=500)
    copy.unlink()
    marker = tmp_path / "hung.pid"
    copy.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 60\n")
    copy.chmod(0o755)
    a.signal(signal.SIGUSR2)
    wait_until(lambda: metric(metrics_of(a), "actord_upgrade_failures_total") == 1, 10,
               "the upgrade to time out")
    hung = int(marker.read_text())
    wait_until(lambda: not pid_alive(hung), 10, "the hung process to be stopped")
    assert a.get("/plaintext").status == 200
    assert "not ready within upgrade_timeout_ms (500 ms)" in a.stderr()


def test_a_refused_file_fails_the_upgrade_with_its_reason(actord_factory):
    """The new process reads the file as any start does; when it refuses
    it, its reason comes back over the report pipe into the old one's log."""
    a = wait_admin(actord_factory())
    old = serving_pid(a)
    a.write_config(dict(a.cfg, http={"max_headers": 100.5}))
    a.signal(signal.SIGUSR2)
    wait_until(lambda: metric(metrics_of(a), "actord_upgrade_failures_total") == 1, 10,
               "the upgrade to fail")
    assert (f"upgrade failed, still serving as pid {old}: {a.config_path}: "
            "http.max_headers: expected an integer, got 100.5") in a.stderr()
    assert serving_pid(a) == old and a.get("/plaintext").status == 200


def test_a_failed_upgrade_says_why_the_new_binary_did_not_start(actord_factory, tmp_path,
                                                               monkeypatch):
    """A file that cannot be executed, or a process killed during start-up:
    the old process keeps serving and its log names the cause."""
    copy = tmp_path / "actord"
    shutil.copy(conftest.BIN, copy)
    monkeypatch.setattr(conftest, "BIN", str(copy))
    a = wait_admin(actord_factory())
    old = serving_pid(a)
    copy.chmod(0o644)
    a.signal(signal.SIGUSR2)
    wait_until(lambda: metric(metrics_of(a), "actord_upgrade_failures_total") == 1, 10,
               "the first upgrade to fail")
    assert f"still serving as pid {old}: cannot execute {copy}: Permission denied" in a.stderr()
    copy.unlink()
    copy.write_text("#!/bin/sh\nkill -KILL $$\n")
    copy.chmod(0o755)
    a.signal(signal.SIGUSR2)
    wait_until(lambda: metric(metrics_of(a), "actord_upgrade_failures_total") == 2, 10,
               "the second upgrade to fail")
    assert "it exited during start-up (killed by signal 9, Killed)" in a.stderr()
    assert serving_pid(a) == old and a.get("/plaintext").status == 200


def test_a_sighup_during_a_failing_upgrade_is_done_afterwards(actord_factory, tmp_path,
                                                             monkeypatch):
    copy = tmp_path / "actord"
    shutil.copy(conftest.BIN, copy)
    monkeypatch.setattr(conftest, "BIN", str(copy))
    a = wait_admin(actord_factory({"upgrade_timeout_ms": 800}))
    copy.unlink()
    marker = tmp_path / "hung.pid"
    copy.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 60\n")
    copy.chmod(0o755)
    a.signal(signal.SIGUSR2)
    wait_until(marker.exists, 10, "the new process to start")
    a.signal(signal.SIGHUP)             # while the old process waits for it
    wait_until(lambda: metric(metrics_of(a), "actord_upgrade_failures_total") == 1, 10,
               "the upgrade to time out")
    wait_until(lambda: "configuration reloaded" in a.stderr(), 10, "the reload")
    assert "ignored while an upgrade waits" not in a.stderr()


def test_upgrade_of_a_daemon_started_with_a_relative_config_path(tmp_path):
    """-c relative to the directory actord -d was started in: the new
    process starts in the daemon's "/" and must find the same file."""
    cfg = merge(base_config(str(tmp_path)), {"pidfile": "actord.pid",
                                             "log": {"file": "actord.log"}})
    (tmp_path / "actord.json").write_text(json.dumps(cfg))
    pidfile = tmp_path / "actord.pid"
    r = subprocess.run([conftest.BIN, "-d", "-c", "actord.json"], capture_output=True,
                       text=True, cwd=str(tmp_path), timeout=30 * SLOW)
    assert r.returncode == 0, r.stderr
    old = int(pidfile.read_text())
    new = None
    try:
        os.kill(old, signal.SIGUSR2)
        wait_until(lambda: not pid_alive(old), 30 * SLOW, "the old daemon to hand over")
        new = int(pidfile.read_text())
        assert new != old
        log = (tmp_path / "actord.log").read_text()
        assert f"upgrade: new process {new} serves" in log, log
        args = open(f"/proc/{new}/cmdline", "rb").read().split(b"\0")[1:-1]
        assert args == [b"-d", b"-c", str(tmp_path / "actord.json").encode()]
    finally:
        for pid in (old, new):
            if pid is not None and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda: not pid_alive(pid), 30 * SLOW, f"pid {pid} to stop")


def step(a, kind, n):
    r = a.admin("POST", f"/admin/actors/{kind}", body=json.dumps({"count": n}).encode(),
                headers=JSON)
    assert r.status == 200, r.body
    assert r.json()["count"] == n
    assert pools(a)[kind]["count"] == n
    assert metric(metrics_of(a), "actord_pool_actors", kind=kind) == n
    # The removed ones finish and leave; the pool's listing follows.
    wait_until(lambda: pools(a)[kind]["retiring"] == 0, 10, f"{kind} actors to retire")
    names = [x["name"] for x in a.admin("GET", "/admin/actors").json()["actors"]
             if x["kind"] == kind]
    assert names == [f"{kind}-{i}" for i in range(n)]


def test_resize_under_load_loses_nothing(actord_factory, tmp_path, monkeypatch, services):
    a, _ = start_copy(actord_factory, tmp_path, monkeypatch, services)
    load = Wrk(a.port, ["/plaintext", "/db"])
    time.sleep(1)
    for n in (4, 1):
        step(a, "handler", n)
        time.sleep(0.5)
    for n in (2, 8):
        step(a, "mysql", n)
        time.sleep(0.5)
    r = ctl(a, "resize", "net", "3")
    assert r.returncode == 0 and "net: 1 -> 3 actor(s)" in r.stdout, r.stdout + r.stderr
    step(a, "net", 1)
    assert_clean(load.results())
    m = metrics_of(a)
    assert metric(m, "actord_mailbox_consumers", actor="mysql", kind="mysql") == 8


def test_resize_refusals_are_precise(actord_factory, tmp_path, monkeypatch, services):
    a, _ = start_copy(actord_factory, tmp_path, monkeypatch, services)
    post = lambda path, body: a.admin("POST", path, body=body, headers=JSON)  # noqa: E731
    assert post("/admin/actors/nope", b'{"count": 2}').status == 404
    assert post("/admin/actors/handler", b'{"count": "two"}').status == 400
    assert post("/admin/actors/handler", b'{"count": 2} {"count": 9}').status == 400
    assert post("/admin/actors/handler", b'{"count": 0}').status == 422
    assert post("/admin/actors/handler", b'{"count": 65}').status == 422
    r = post("/admin/actors/log", b'{"count": 2}')
    assert r.status == 409 and "fixed size" in r.json()["error"]
    assert a.admin("GET", "/admin/actors/handler").status == 405
    assert a.admin("POST", "/admin/actors/handler", body=b'{"count": 2}').status == 415
    assert a.admin("POST", "/admin/upgrade").status == 415
    r = ctl(a, "resize", "handler", "x")
    assert r.returncode == 2


def test_sighup_with_changed_counts_resizes(actord_factory, tmp_path, monkeypatch, services):
    a, _ = start_copy(actord_factory, tmp_path, monkeypatch, services)
    load = Wrk(a.port, ["/plaintext", "/db"])
    time.sleep(1)
    cfg = json.loads(open(a.config_path).read())
    cfg["actors"]["handler"]["count"] = 3
    cfg["actors"]["mysql"]["count"] = 4
    cfg["actors"]["file"] = {"count": 2}
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "a.txt").write_bytes(b"served by a file actor\n")
    cfg["static"] = {"mounts": [{"prefix": "/s/", "dir": str(tmp_path / "www")}]}
    a.write_config(cfg)
    a.signal(signal.SIGHUP)
    wait_until(lambda: pools(a)["handler"]["count"] == 3 and pools(a)["mysql"]["count"] == 4
               and pools(a)["file"]["count"] == 2, 10, "the reload to resize the pools")
    wait_until(lambda: pools(a)["mysql"]["retiring"] == 0, 10, "mysql actors to retire")
    assert_clean(load.results())
    assert "reload: handler actors 1 -> 3" in a.stderr()
    assert "reload: file actors 1 -> 2" in a.stderr()
    r = a.get("/s/a.txt")                    # a mount the reload added
    assert (r.status, r.body) == (200, b"served by a file actor\n")

"""Operations without downtime (issue 21): a binary upgrade and live actor
counts, each under a wrk load on /plaintext and /db (256 connections in
all, for the whole test) that must see 0 socket errors and 0 non-2xx.

The daemon runs from a copy of the binary under test in the test's own
directory, so a test can replace that file (a broken upgrade) without
touching the build."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import conftest
from admin_helpers import ACTORCTL, metric, metrics_of, wait_admin
from conftest import SLOW, wait_until
from storage_util import storage_config

WRK_SECONDS = 10
JSON = {"Content-Type": "application/json"}
CONNECTIONS = 128  # per URL: 256 in all


class Wrk:
    """One wrk per URL, started now, for `seconds`."""

    def __init__(self, port, paths, seconds):
        self.procs = [subprocess.Popen(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s",
             f"http://127.0.0.1:{port}{p}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True) for p in paths]

    def results(self):
        out = []
        for p in self.procs:
            text, _ = p.communicate(timeout=120)
            out.append(text)
        return out


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
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


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
    load = Wrk(a.port, ["/plaintext", "/db"], WRK_SECONDS)
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


def test_a_broken_new_binary_leaves_the_old_one_serving(actord_factory, tmp_path, monkeypatch,
                                                      services):
    a, copy = start_copy(actord_factory, tmp_path, monkeypatch, services)
    old = serving_pid(a)
    load = Wrk(a.port, ["/plaintext", "/db"], 6)
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
    load = Wrk(a.port, ["/plaintext", "/db"], WRK_SECONDS)
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
    load = Wrk(a.port, ["/plaintext", "/db"], 6)
    time.sleep(1)
    cfg = json.loads(open(a.config_path).read())
    cfg["actors"]["handler"]["count"] = 3
    cfg["actors"]["mysql"]["count"] = 4
    a.write_config(cfg)
    a.signal(signal.SIGHUP)
    wait_until(lambda: pools(a)["handler"]["count"] == 3 and pools(a)["mysql"]["count"] == 4,
               10, "the reload to resize the pools")
    wait_until(lambda: pools(a)["mysql"]["retiring"] == 0, 10, "mysql actors to retire")
    assert_clean(load.results())
    assert "reload: handler actors 1 -> 3" in a.stderr()

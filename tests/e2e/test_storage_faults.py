"""Dependency faults: Redis killed under load and restarted, MariaDB
stopped and restarted. The routes that need the missing dependency answer
503 with Retry-After within 2 s (no hang, no crash), the others keep
working, and everything recovers within 5 s of the dependency coming back,
without restarting actord. A MariaDB refusing for now (out of connections,
read-only) is 503 too, never 500. A connection killed mid-statement is
503 for a read but 502 "outcome unknown" (no Retry-After) for a write; a
statement another session interrupts (KILL QUERY) is 503, one stopped by
actord's own time limit 504. Only this session's services are touched
(tests/services.sh and the pidfiles under its ACTORD_RUN_DIR; the refusal
tests set a global back or drop the user they made; the lock holders roll
back)."""
import os
import signal
import subprocess
import threading
import time

import pytest

from admin_helpers import metric, metrics_of, wait_admin
from conftest import SLOW, http, wait_until
from storage_util import Redis, json_of, service, storage_config

WALLPAPERS = "/client/v3/wallpaper_4d/wallpaperList.json"


class Load:
    """Clients hammering `paths` until stopped; records (time, path,
    status, retry-after, seconds taken) of every request."""

    def __init__(self, port, paths, clients=4):
        self.port = port
        self.paths = paths
        self.stop_flag = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(clients)]
        for t in self.threads:
            t.start()

    def run(self, i):
        n = i
        while not self.stop_flag.is_set():
            path = self.paths[n % len(self.paths)]
            n += 1
            t0 = time.monotonic()
            try:
                r = http(self.port, "GET", path, timeout=10)
                res = (t0, path, r.status, r.headers.get("retry-after"), time.monotonic() - t0)
            except OSError as e:
                res = (t0, path, repr(e), None, time.monotonic() - t0)
            with self.lock:
                self.results.append(res)

    def since(self, t):
        with self.lock:
            return [r for r in self.results if r[0] >= t]

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(15)


def check_outage(results, affected, unaffected, writes=()):
    """During an outage: affected paths answer 200 (a request that got in
    first) or 503 + Retry-After, each within 2 s; unaffected ones 200.
    `writes` may also answer 502 without Retry-After: a write the server
    was running when it went away has an unknown outcome."""
    saw_503 = False
    for t0, path, status, retry_after, took in results:
        assert took < 2.0 * SLOW, f"{path} took {took:.2f}s during the outage"
        if path in writes and status == 502:
            assert retry_after is None, f"{path}: 502 with Retry-After"
        elif path in affected:
            assert status in (200, 503), (path, status)
            if status == 503:
                saw_503 = True
                assert retry_after is not None, f"{path}: 503 without Retry-After"
        elif path in unaffected:
            assert status == 200, (path, status)
    assert saw_503, "no request saw the outage"


def all_ok(port, paths):
    return all(http(port, "GET", p, timeout=5).status == 200 for p in paths)


def readiness(a):
    r = a.admin("GET", "/readyz")
    return r.status, r.json()


def test_redis_killed_under_load_then_restarted(actord_factory, services):
    a = actord_factory(storage_config(services))
    wait_until(lambda: readiness(a)[0] == 200, 5, "actord to be ready")
    affected = ["/cached-queries?count=5", WALLPAPERS + "?pageSize=5"]
    unaffected = ["/db", "/plaintext"]
    assert all_ok(a.port, affected + unaffected)
    load = Load(a.port, affected + unaffected)
    try:
        wait_until(lambda: len(load.results) > 50, 5, "load to run")
        t_kill = time.monotonic()
        service(services, "kill", "redis")
        wait_until(lambda: any(r[2] == 503 for r in load.since(t_kill)), 2,
                   "a 503 from a Redis route")
        wait_until(lambda: len(load.since(t_kill + 0.5)) > 50, 5, "load during the outage")
        check_outage(load.since(t_kill), affected, unaffected)
        # Readiness says why: the redis check fails, the others hold.
        status, body = wait_until(lambda: (lambda rd: rd if rd[0] == 503 else None)(readiness(a)),
                                  2, "/readyz to turn 503")
        assert body["ready"] is False
        assert body["checks"]["redis"]["ok"] is False and body["checks"]["redis"]["reason"]
        assert body["checks"]["mysql"]["ok"] is True
        service(services, "start", "redis")
        t_up = time.monotonic()
        wait_until(lambda: all_ok(a.port, affected), 5, "Redis routes to recover")
        wait_until(lambda: readiness(a)[0] == 200, 5, "/readyz to turn 200 again")
        assert time.monotonic() - t_up < 5 * SLOW
        t_ok = time.monotonic()
        wait_until(lambda: len(load.since(t_ok)) > 40, 5, "load after recovery")
    finally:
        load.stop()
    after = load.since(t_ok)
    assert all(r[2] == 200 for r in after), [r for r in after if r[2] != 200][:5]
    assert a.proc.poll() is None, "actord must survive"


def test_mariadb_stopped_then_restarted(actord_factory, services, redis):
    a = actord_factory(storage_config(services))
    cached_page = WALLPAPERS + "?pageSize=4"
    affected = ["/db", "/queries?queries=3", "/fortunes", "/updates?queries=2"]
    assert all_ok(a.port, affected + [cached_page])
    # The wallpaper page is in Redis now: it must keep being served.
    wait_until(lambda: redis.cmd("EXISTS", "wallpaperList:4") == 1, 5, "the page to be cached")
    redis.cmd("PEXPIRE", "wallpaperList:4", 600000)
    unaffected = [cached_page, "/plaintext"]
    load = Load(a.port, affected + unaffected)
    try:
        wait_until(lambda: len(load.results) > 50, 5, "load to run")
        t_stop = time.monotonic()
        service(services, "stop", "mysql")
        t_down = time.monotonic()
        wait_until(lambda: any(r[2] == 503 for r in load.since(t_down)), 2,
                   "a 503 from a MariaDB route")
        wait_until(lambda: len(load.since(t_down)) > 50, 5, "load during the outage")
        check_outage(load.since(t_stop), affected, unaffected, writes=["/updates?queries=2"])
        service(services, "start", "mysql")
        t_up = time.monotonic()
        wait_until(lambda: all_ok(a.port, affected), 5, "MariaDB routes to recover")
        assert time.monotonic() - t_up < 5 * SLOW
        # Each mysql actor owns its connection and retries on its own
        # backoff (at most mysql.reconnect_max_ms, 1 s): once that has
        # passed, every one of them must be back.
        t_ok = max(time.monotonic(), t_up + 1.5)
        time.sleep(max(0.0, t_ok - time.monotonic()))
        wait_until(lambda: len(load.since(t_ok)) > 40, 5, "load after recovery")
    finally:
        load.stop()
    after = load.since(t_ok)
    assert all(r[2] == 200 for r in after), [r for r in after if r[2] != 200][:5]
    assert t_down - t_stop < 30
    assert a.proc.poll() is None, "actord must survive"
    assert json_of(http(a.port, "GET", "/db"))["id"] > 0


def mariadb_root(services, sql):
    subprocess.run(["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P",
                    str(services["mysql_port"]), "-u", "root", "-e", sql],
                   check=True, capture_output=True, timeout=30)


def test_mariadb_out_of_connections_is_503_not_500(actord_factory, services):
    """A server refusing a connection for want of slots (1040 too many
    connections, 1203 max_user_connections, 1226 a resource limit) is
    overloaded, not denying access: its routes answer 503 + Retry-After."""
    mariadb_root(services, "DROP USER IF EXISTS 'capped'@'%'; "
                 "CREATE USER 'capped'@'%' IDENTIFIED BY 'capped' WITH MAX_USER_CONNECTIONS 1; "
                 "GRANT SELECT ON hello_world.* TO 'capped'@'%'")
    try:
        cfg = storage_config(services)
        cfg["actors"]["mysql"] = {"count": 2}
        cfg["mysql"].update(user="capped", password="capped")
        a = actord_factory(cfg)
        wait_until(lambda: "max_user_connections" in a.stderr(), 10, "a refused connection")
        # Pairs at once, so that the refused actor takes some (the pool
        # shares one mailbox: an idle member takes what comes).
        results = []
        def sleep_query():
            r = http(a.port, "GET", "/_test/sql-sleep?s=0", timeout=10)
            results.append((r.status, r.headers.get("retry-after")))
        for _ in range(10):
            threads = [threading.Thread(target=sleep_query) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert set(results) <= {(200, None), (503, "1")}, results
        assert (503, "1") in results, results
    finally:
        mariadb_root(services, "DROP USER IF EXISTS 'capped'@'%'")


def test_a_read_only_mariadb_refuses_writes_with_503(actord_factory, services):
    """read_only (a primary being demoted, a maintenance window) refuses
    writes for now, like Redis' READONLY: 503 + Retry-After, not 500 as a
    statement MariaDB does not understand."""
    a = actord_factory(storage_config(services))
    assert http(a.port, "GET", "/updates?queries=2").status == 200
    mariadb_root(services, "SET GLOBAL read_only = 1")
    try:
        r = http(a.port, "GET", "/updates?queries=2")
        assert (r.status, r.headers.get("retry-after")) == (503, "1")
        assert http(a.port, "GET", "/db").status == 200
    finally:
        mariadb_root(services, "SET GLOBAL read_only = 0")
    assert http(a.port, "GET", "/updates?queries=2").status == 200


def test_a_refusal_every_request_meets_is_counted_each_time_and_logged_a_few_times_a_second(
        actord_factory, services):
    # A read-only MariaDB refuses every /updates alike: each refusal is
    # counted, the log gets at most 20 of MariaDB's lines a second per
    # connection, not one per request.
    a = actord_factory(storage_config(services, actors={"mysql": {"count": 1}}))
    assert http(a.port, "GET", "/updates?queries=1").status == 200
    errors = lambda: metric(metrics_of(a), "actord_backend_errors_total", backend="mysql",
                            actor="mysql-0")
    before = errors()
    mariadb_root(services, "SET GLOBAL read_only = 1")
    try:
        t0 = time.monotonic()
        statuses = {http(a.port, "GET", "/updates?queries=1").status for _ in range(150)}
        took = time.monotonic() - t0
    finally:
        mariadb_root(services, "SET GLOBAL read_only = 0")
    assert statuses == {503}
    assert errors() - before == 150
    lines = a.stderr().count("--read-only")
    assert 1 <= lines <= 20 * (int(took) + 2), (lines, took)
    assert lines < 150


def root_rows(services, sql):
    """Rows of `sql` run as MariaDB's root (tab-separated text)."""
    out = subprocess.run(["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P",
                          str(services["mysql_port"]), "-u", "root", "-N", "-B", "-e", sql],
                         check=True, capture_output=True, timeout=30)
    return [line.split("\t") for line in out.stdout.decode().splitlines()]


class RowLocks:
    """A root session that holds a lock on every World row (SELECT ... FOR
    UPDATE in an open transaction): an UPDATE of World waits for it, while
    plain SELECTs (consistent reads) do not."""

    def __init__(self, services):
        self.proc = subprocess.Popen(
            ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(services["mysql_port"]),
             "-u", "root", "-N", "-B", "--unbuffered", "hello_world"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.proc.stdin.write(b"BEGIN; SELECT COUNT(*) FROM World FOR UPDATE; "
                              b"SELECT 'locked';\n")
        self.proc.stdin.flush()
        while self.proc.stdout.readline().strip() != b"locked":
            assert self.proc.poll() is None, self.proc.stderr.read()

    def release(self):
        self.proc.stdin.close()     # the session ends: its transaction rolls back
        self.proc.wait(10)


def kill_statement(services, like, what="CONNECTION"):
    """KILL <what> of the session running a statement whose text starts
    with `like`, once one runs; its id."""
    def running():
        rows = root_rows(services, "SELECT ID FROM information_schema.PROCESSLIST "
                                   f"WHERE INFO LIKE '{like}%' AND COMMAND = 'Execute'")
        return rows and rows[0][0]
    victim = wait_until(running, 5, f"a statement {like}... to run")
    root_rows(services, f"KILL {what} {victim}")
    return victim


def in_thread(fn):
    """Run fn() in a thread; the returned function joins it and gives its result."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", fn()))
    t.start()

    def result():
        t.join(15)
        return out["r"]
    return result


def test_a_connection_lost_mid_write_is_502_outcome_unknown_not_a_retry(actord_factory,
                                                                        services):
    """KILL CONNECTION while actord's UPDATE waits for a row lock: the
    client sees the connection drop with no answer, so the write may or may
    not have happened. A 503 + Retry-After would invite a client to send a
    non-idempotent write again: the answer is 502 saying the outcome is
    unknown, without Retry-After. The connection comes back for the next
    request."""
    cfg = storage_config(services)
    cfg["actors"]["mysql"] = {"count": 1}
    a = actord_factory(cfg)
    assert http(a.port, "GET", "/updates?queries=2").status == 200
    locks = RowLocks(services)
    try:
        answer = in_thread(lambda: http(a.port, "GET", "/updates?queries=2"))
        kill_statement(services, "UPDATE World")
        r = answer()
    finally:
        locks.release()
    assert r.status == 502, (r.status, r.body)
    assert "retry-after" not in r.headers
    assert "outcome unknown" in json_of(r)["error"]
    wait_until(lambda: "a write was sent: its outcome is unknown" in a.stderr(), 5,
               "the reason in the log")
    wait_until(lambda: http(a.port, "GET", "/updates?queries=2").status == 200, 5,
               "MariaDB routes to work again")


def test_a_connection_lost_mid_read_is_503_retry_later(actord_factory, services):
    """The same loss during a SELECT: reading again is harmless, so that
    stays a 503 + Retry-After."""
    cfg = storage_config(services)
    cfg["actors"]["mysql"] = {"count": 1}
    a = actord_factory(cfg)
    answer = in_thread(lambda: http(a.port, "GET", "/_test/sql-sleep?s=4"))
    kill_statement(services, "SELECT SLEEP")
    r = answer()
    assert (r.status, r.headers.get("retry-after")) == (503, "1"), (r.status, r.body)
    wait_until(lambda: http(a.port, "GET", "/db").status == 200, 5, "/db to work again")


@pytest.mark.parametrize("path,like", [("/_test/sql-sleep?s=4", "SELECT SLEEP"),
                                       ("/updates?queries=2", "UPDATE World")])
def test_a_statement_another_session_interrupted_is_503_retry_later(actord_factory, services,
                                                                    path, like):
    """KILL QUERY (an operator, a query killer) stops the statement with
    1317 "Query execution was interrupted": MariaDB rolled it back and the
    connection stays up, so it is worth retrying: 503 + Retry-After, not a
    500 as for SQL MariaDB does not understand."""
    cfg = storage_config(services)
    cfg["actors"]["mysql"] = {"count": 1}
    a = actord_factory(cfg)
    locks = RowLocks(services)
    try:
        answer = in_thread(lambda: http(a.port, "GET", path))
        kill_statement(services, like, "QUERY")
        r = answer()
    finally:
        locks.release()
    assert (r.status, r.headers.get("retry-after")) == (503, "1"), (r.status, r.body)
    wait_until(lambda: "mysql: statement interrupted by another session" in a.stderr(), 5,
               "the reason in the log")
    assert "mysql: connection lost" not in a.stderr()
    assert http(a.port, "GET", path.replace("s=4", "s=0")).status == 200


def test_a_write_stopped_by_the_statement_time_limit_is_504(actord_factory, services):
    """max_statement_time (mysql.query_timeout_ms, actord's own limit, 1969)
    ending an UPDATE that waits for a lock: 504, like a slow SELECT."""
    cfg = storage_config(services)
    cfg["actors"]["mysql"] = {"count": 1}
    cfg["mysql"]["query_timeout_ms"] = 300
    a = actord_factory(cfg)
    locks = RowLocks(services)
    try:
        t0 = time.monotonic()
        r = http(a.port, "GET", "/updates?queries=2")
        took = time.monotonic() - t0
    finally:
        locks.release()
    assert r.status == 504, (r.status, r.body)
    assert took < 2 * SLOW
    assert http(a.port, "GET", "/updates?queries=2").status == 200


def test_a_redis_refusing_the_password_is_logged_once_not_at_every_attempt(
        actord_factory, services):
    # A wrong redis.password fails every connection attempt alike (about
    # one a second once the backoff is at its cap): one line says why, the
    # attempts go on quietly and are counted, readiness says why and the
    # Redis routes answer 503 with Retry-After.
    a = actord_factory(storage_config(services, redis={"password": "wrong",
                                                       "reconnect_max_ms": 100}))
    wait_admin(a)
    reconnects = lambda: metric(metrics_of(a), "actord_backend_reconnects_total",
                                backend="redis", actor="cache-0")
    wait_until(lambda: reconnects() >= 8, 5, "eight attempts after the first")
    r = a.get("/cached-queries?count=2")
    assert r.status == 503 and r.headers.get("retry-after") == "1", (r.status, r.body)
    status, body = readiness(a)
    assert status == 503 and "Permission denied" in body["checks"]["redis"]["reason"], body
    lines = [line for line in a.stderr().splitlines()
             if '"actor":"cache-0"' in line and "ERR AUTH" in line]
    assert len(lines) == 1, lines
    assert "refused the connection set-up" in lines[0], lines


def test_a_redis_busy_in_a_script_at_connection_time_is_503_not_refused_access(
        actord_factory, services, redis):
    # A script that runs past busy-reply-threshold makes Redis answer BUSY
    # to everything but SCRIPT KILL, the set-up's PING too: that is "retry
    # later" (503; readiness down, but not for "Permission denied"), and
    # the connection comes up once the script is killed.
    redis.cmd("CONFIG", "SET", "busy-reply-threshold", "50")
    busy = Redis(services["redis_port"])
    busy.sock.sendall(b"*3\r\n$4\r\nEVAL\r\n$14\r\nwhile 1 do end\r\n$1\r\n0\r\n")
    try:
        wait_until(lambda: busy_now(redis), 5, "Redis to be busy")
        a = actord_factory(storage_config(services, redis={"reconnect_max_ms": 100}))
        wait_until(lambda: "refused the connection set-up: BUSY" in a.stderr(), 5,
                   "an attempt to meet the script")
        status, body = readiness(a)
        assert status == 503 and "Permission denied" not in body["checks"]["redis"]["reason"]
        r = a.get("/cached-queries?count=2")
        assert (r.status, r.headers.get("retry-after")) == (503, "1"), (r.status, r.body)
    finally:
        wait_until(lambda: kill_script(services) and not busy_now(redis), 5,
                   "the script to be killed")
        busy.close()
        redis.cmd("CONFIG", "SET", "busy-reply-threshold", "5000")
    wait_until(lambda: readiness(a)[0] == 200, 5, "Redis to come up once free")


def busy_now(redis):
    try:
        redis.cmd("PING")
        return False
    except RuntimeError as e:
        return str(e).startswith("BUSY")


def kill_script(services):
    r = Redis(services["redis_port"])
    try:
        r.cmd("SCRIPT", "KILL")
    except RuntimeError as e:
        if not str(e).startswith("NOTBUSY"):
            raise
    finally:
        r.close()
    return True


def test_a_frozen_redis_is_one_outage_not_a_connection_flapping(actord_factory, services):
    # A stopped redis-server (SIGSTOP: a hung host alike) still completes
    # TCP handshakes from its listen backlog. A connection counts as up
    # only once Redis answered, so the stuck connection is lost once and
    # the attempts that follow fail quietly on the backoff, instead of
    # "connected" / "connection lost" every redis.command_timeout_ms.
    a = actord_factory(storage_config(services, redis={"command_timeout_ms": 300,
                                                       "connect_timeout_ms": 300}))
    wait_until(lambda: readiness(a)[0] == 200, 5, "actord to be ready")
    with open(f"{services['run_dir']}/redis/redis.pid") as f:
        pid = int(f.read())
    cache_lines = lambda what: [line for line in a.stderr().splitlines()
                                if '"actor":"cache-0"' in line and what in line]
    connected = len(cache_lines("connected"))
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:
            r = a.get("/cached-queries?count=2")
            assert r.status in (503, 504), (r.status, r.body)
        gauge = metric(metrics_of(a), "actord_backend_connected", backend="redis",
                       actor="cache-0")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert gauge == 0
    assert len(cache_lines("connected")) == connected, cache_lines("connect")
    assert len(cache_lines("connection lost")) == 1, cache_lines("connection lost")
    wait_until(lambda: a.get("/cached-queries?count=2").status == 200, 5, "Redis to be back")
    assert len(cache_lines("connected")) == connected + 1

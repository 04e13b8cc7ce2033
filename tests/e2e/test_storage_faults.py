"""Dependency faults: Redis killed under load and restarted, MariaDB
stopped and restarted. The routes that need the missing dependency answer
503 with Retry-After within 2 s (no hang, no crash), the others keep
working, and everything recovers within 5 s of the dependency coming back,
without restarting actord. A MariaDB refusing for now (out of connections,
read-only) is 503 too, never 500. Only this session's services are
touched (tests/services.sh and the pidfiles under its ACTORD_RUN_DIR; the
refusal tests set a global back or drop the user they made)."""
import subprocess
import threading
import time

from conftest import SLOW, http, wait_until
from storage_util import json_of, service, storage_config

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


def check_outage(results, affected, unaffected):
    """During an outage: affected paths answer 200 (a request that got in
    first) or 503 + Retry-After, each within 2 s; unaffected ones 200."""
    saw_503 = False
    for t0, path, status, retry_after, took in results:
        assert took < 2.0 * SLOW, f"{path} took {took:.2f}s during the outage"
        if path in affected:
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
        check_outage(load.since(t_stop), affected, unaffected)
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

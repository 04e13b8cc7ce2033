"""The storage-backed routes against the real Redis and MariaDB of the
`services` fixture: TechEmpower's database test types and the seed's
wallpaper list, with their query-parameter edge cases, the exact fortunes
document, persisted updates, cache fills and cache-aside TTLs, and a slow
query that holds one MariaDB connection only."""
import json
import signal
import subprocess
import threading
import time

import pytest

from admin_helpers import metric, metrics_of, undocumented_metrics, wait_admin
from conftest import SLOW, free_port, http, wait_until
from storage_util import Redis, json_of, mariadb, storage_config, worlds_ok

WALLPAPERS = "/client/v3/wallpaper_4d/wallpaperList.json"


@pytest.fixture
def app(actord_factory, services):
    return actord_factory(storage_config(services))


def test_storage_metric_families_are_documented(app):
    wait_admin(app)
    for path in ("/db", "/cached-queries?count=2", WALLPAPERS):
        assert app.get(path).status == 200
    missing, n = undocumented_metrics(app)
    assert n > 50 and not missing, missing


def test_db_answers_one_random_world(app):
    seen = set()
    for _ in range(20):
        r = app.get("/db")
        assert r.status == 200
        w = json_of(r)
        assert isinstance(w, dict) and worlds_ok([w])
        seen.add(w["id"])
    assert len(seen) > 1, "ids must be random"


@pytest.mark.parametrize("query,count", [
    ("", 1), ("?queries=", 1), ("?queries=0", 1), ("?queries=-3", 1),
    ("?queries=foo", 1), ("?queries=1", 1), ("?queries=20", 20), ("?queries=500", 500),
    ("?queries=501", 500), ("?queries=999999999999999999999", 500),
])
def test_queries_clamps_the_count_and_always_answers_an_array(app, query, count):
    r = app.get("/queries" + query)
    assert r.status == 200
    items = json_of(r)
    assert isinstance(items, list) and len(items) == count
    assert worlds_ok(items)


def test_queries_rows_match_the_database(app, services):
    items = json_of(app.get("/queries?queries=15"))
    ids = ",".join(str(w["id"]) for w in items)
    db = {int(i): int(n) for i, n in mariadb(services, f"SELECT id, randomNumber FROM World WHERE id IN ({ids})")}
    for w in items:
        assert db[w["id"]] == w["randomNumber"]


@pytest.mark.parametrize("query,count", [
    ("", 1), ("?queries=0", 1), ("?queries=x", 1), ("?queries=7", 7), ("?queries=600", 500),
])
def test_updates_persist_every_new_value(app, services, query, count):
    r = app.get("/updates" + query)
    assert r.status == 200
    items = json_of(r)
    assert len(items) == count and worlds_ok(items)
    want = {}
    for w in items:
        # A row drawn twice must show the same (persisted) value both times.
        assert want.setdefault(w["id"], w["randomNumber"]) == w["randomNumber"]
    ids = ",".join(str(i) for i in want)
    db = {int(i): int(n) for i, n in mariadb(services, f"SELECT id, randomNumber FROM World WHERE id IN ({ids})")}
    assert db == want


WORLD_SUM = "SELECT COUNT(*), SUM(randomNumber), BIT_XOR(CRC32(CONCAT(id, ':', randomNumber))) FROM World"


class WorldRowsGone:
    """Rows of World moved aside (`where`) and put back at exit, so a
    test can make /updates meet rows that are not there."""

    def __init__(self, services, where):
        self.services = services
        mariadb(services, "DROP TABLE IF EXISTS World_gone; "
                f"CREATE TABLE World_gone AS SELECT * FROM World WHERE {where}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        mariadb(self.services, "INSERT IGNORE INTO World SELECT * FROM World_gone; "
                "DROP TABLE World_gone")


def test_updates_meeting_a_missing_row_answer_500_and_write_nothing(app, services):
    # Half the rows gone: 20 random ids all in the other half is a
    # one-in-a-million chance. The reads come first; the write must not be
    # sent when one found nothing, or the rows found would change under a
    # 500 that says the update failed.
    with WorldRowsGone(services, "id <= 5000"):
        mariadb(services, "DELETE FROM World WHERE id <= 5000")
        before = mariadb(services, WORLD_SUM)
        r = app.get("/updates?queries=20")
        assert r.status == 500, (r.status, r.body)
        assert mariadb(services, WORLD_SUM) == before, "rows written under a 500"
        assert "rows found, nothing written" in r.json()["error"], r.body
    assert app.get("/updates?queries=20").status == 200


def lock_waits(services):
    """Transactions waiting for a lock (InnoDB's list needs PROCESS: root)."""
    out = subprocess.run(
        ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(services["mysql_port"]),
         "-u", "root", "-N", "-B", "-e",
         "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"],
        check=True, capture_output=True, timeout=30)
    return int(out.stdout)


def test_updates_of_a_row_deleted_between_read_and_write_answer_500(app, services):
    # Another session deletes every row and holds the locks: the reads
    # (consistent, lock-free) still find the rows, the write waits for the
    # locks and, once the delete commits, matches nothing. Answering 200
    # would report new values for rows that are not there.
    with WorldRowsGone(services, "TRUE"):
        other = subprocess.Popen(
            ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(services["mysql_port"]),
             "-u", "benchmarkdbuser", "-pbenchmarkdbpass", "--unbuffered", "-N", "-B",
             "hello_world"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        got = {}
        t = threading.Thread(target=lambda: got.update(r=app.get("/updates?queries=3")))
        try:
            other.stdin.write("BEGIN; DELETE FROM World; SELECT 'deleted';\n")
            other.stdin.flush()
            assert other.stdout.readline().strip() == "deleted"
            t.start()
            wait_until(lambda: lock_waits(services) > 0, 5, "the write to wait")
            other.stdin.write("COMMIT;\n")
        finally:
            other.stdin.close()   # before the COMMIT: the session ends, rolled back
            other.wait(10)
            if t.ident is not None:   # started
                t.join(10)
        r = got["r"]
        assert r.status == 500, (r.status, r.body)
        assert "deleted between its read and its write" in r.json()["error"], r.body
    assert app.get("/updates?queries=3").status == 200


def expected_fortunes(services):
    rows = [(int(i), m) for i, m in mariadb(services, "SELECT id, message FROM Fortune")]
    assert len(rows) == 12
    rows.append((0, "Additional fortune added at request time."))
    rows.sort(key=lambda r: r[1])

    def esc(s):
        return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;").replace("'", "&#39;"))
    return ("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
            "<tr><th>id</th><th>message</th></tr>"
            + "".join(f"<tr><td>{i}</td><td>{esc(m)}</td></tr>" for i, m in rows)
            + "</table></body></html>")


def test_fortunes_is_the_exact_techempower_document(app, services):
    r = app.get("/fortunes")
    assert r.status == 200
    assert r.headers["content-type"] == "text/html; charset=UTF-8"
    assert r.body.decode("utf-8") == expected_fortunes(services)
    assert "フレームワークのベンチマーク".encode() in r.body   # raw UTF-8, not escaped
    assert b"&lt;script&gt;" in r.body


@pytest.mark.parametrize("query,count", [
    ("", 1), ("?count=", 1), ("?count=0", 1), ("?count=-1", 1), ("?count=abc", 1),
    ("?count=30", 30), ("?count=5000", 500),
])
def test_cached_queries_clamps_the_count(app, query, count):
    r = app.get("/cached-queries" + query)
    assert r.status == 200
    items = json_of(r)
    assert len(items) == count and worlds_ok(items)


def test_cached_queries_fill_redis_from_mariadb_on_a_miss(app, services, redis):
    redis.cmd("FLUSHDB")
    items = json_of(app.get("/cached-queries?count=40"))
    assert len(items) == 40
    keys = [f"world:{w['id']}" for w in items]

    def filled():
        vals = redis.cmd("MGET", *keys)
        return all(v is not None for v in vals) and vals
    vals = wait_until(filled, 5, "the missed rows to be written to Redis")
    by_id = {w["id"]: w["randomNumber"] for w in items}
    for v in vals:
        w = json.loads(v)
        assert by_id[w["id"]] == w["randomNumber"]
    ttl = redis.cmd("PTTL", keys[0])
    assert 0 < ttl <= 300000, "rows are cached with app.world_cache_ttl_ms"
    ids = ",".join(str(i) for i in by_id)
    db = {int(i): int(n) for i, n in mariadb(services, f"SELECT id, randomNumber FROM World WHERE id IN ({ids})")}
    assert db == by_id


def test_a_world_row_holding_a_null_is_502_and_never_cached(app, services, redis):
    # A schema that drifted (randomNumber made nullable, rows without a
    # value): read as 0, such a row would be answered as a World row that
    # does not exist, and written to Redis for every later request.
    mariadb(services, "DROP TABLE IF EXISTS World_null; "
            "CREATE TABLE World_null (id INT NOT NULL PRIMARY KEY, randomNumber INT NULL); "
            "INSERT INTO World_null SELECT id, NULL FROM World; "
            "RENAME TABLE World TO World_kept, World_null TO World")
    try:
        redis.cmd("FLUSHDB")
        for path in ("/db", "/queries?queries=3", "/cached-queries?count=3",
                     "/cached-queries?count=1"):
            r = app.get(path)
            assert r.status == 502, (path, r.status, r.body)
            assert "holds a NULL or a non-integer" in r.json()["error"], r.body
        # The last request's MGET went through the cache actor after any
        # fill of the one before.
        assert redis.cmd("KEYS", "world:*") == []
    finally:
        mariadb(services, "RENAME TABLE World TO World_null, World_kept TO World; "
                "DROP TABLE World_null")
    assert app.get("/db").status == 200


def test_a_fortune_holding_a_null_is_502(app, services):
    mariadb(services, "DROP TABLE IF EXISTS Fortune_null; "
            "CREATE TABLE Fortune_null (id INT NOT NULL PRIMARY KEY, message VARCHAR(2048) NULL); "
            "INSERT INTO Fortune_null SELECT id, IF(id = 3, NULL, message) FROM Fortune; "
            "RENAME TABLE Fortune TO Fortune_kept, Fortune_null TO Fortune")
    try:
        r = app.get("/fortunes")
        assert r.status == 502, (r.status, r.body)
        assert "a Fortune row holds a NULL" in r.json()["error"], r.body
    finally:
        mariadb(services, "RENAME TABLE Fortune TO Fortune_null, Fortune_kept TO Fortune; "
                "DROP TABLE Fortune_null")
    assert app.get("/fortunes").status == 200


def test_cached_queries_are_served_from_redis_when_present(app, redis):
    # Every row cached with a value MariaDB cannot hold: what comes back
    # must have been read from Redis. Odd ids as the reference peer writes
    # them (json.dumps: spaces), even ids as actord does (compact).
    # One script, not 10,000 commands: one round trip and one AOF fsync
    # (a 10,000-command pipeline took minutes on a loaded machine).
    redis.cmd("EVAL", """
        for i = 1, 10000 do
            local fmt = i % 2 == 1 and '{"id": %d, "randomNumber": %d}'
                                    or '{"id":%d,"randomNumber":%d}'
            redis.call('SET', 'world:' .. i, string.format(fmt, i, 20000 + i), 'EX', 60)
        end""", 0)
    assert json.loads(redis.cmd("GET", "world:7")) == {"id": 7, "randomNumber": 20007}
    # (Rows read earlier may sit in the near cache until Redis' invalidation
    # of these writes arrives: wait for it, never longer.)
    def from_redis():
        items = json_of(app.get("/cached-queries?count=25"))
        return all(w["randomNumber"] == 20000 + w["id"] for w in items) and items
    items = wait_until(from_redis, 2, "the rows Redis holds")
    assert len(items) == 25
    # A value that is not a World row is a miss: read from MariaDB again.
    redis.cmd("EVAL", "for i = 1, 10000 do redis.call('SET', 'world:' .. i, 'garbage', 'EX', 60) end", 0)

    def from_mariadb():
        items = json_of(app.get("/cached-queries?count=10"))
        return all(w["randomNumber"] <= 10000 for w in items) and items
    items = wait_until(from_mariadb, 2, "rows from MariaDB")
    assert len(items) == 10 and worlds_ok(items)
    redis.cmd("FLUSHDB")


@pytest.mark.parametrize("query,size", [
    ("", 20), ("?pageSize=", 20), ("?pageSize=abc", 20), ("?pageSize=0", 1),
    ("?pageSize=-4", 1), ("?pageSize=7", 7), ("?pageSize=100", 100), ("?pageSize=101", 100),
])
def test_wallpaper_list_page_sizes(app, services, query, size):
    r = app.get(WALLPAPERS + query)
    assert r.status == 200
    doc = json_of(r)
    assert doc["code"] == 0 and len(doc["data"]) == size
    newest = [int(i) for (i,) in mariadb(
        services, f"SELECT id FROM wallpaper ORDER BY created_at DESC LIMIT {size}")]
    assert [w["id"] for w in doc["data"]] == newest
    for w in doc["data"]:
        assert list(w) == ["id", "title", "url", "width", "height", "tags", "downloads"]


def test_wallpaper_list_is_cache_aside_with_the_configured_ttl(actord_factory, services, redis):
    a = actord_factory(storage_config(services, app={"wallpaper_cache_ttl_ms": 1500}))
    redis.cmd("DEL", "wallpaperList:3")
    first = a.get(WALLPAPERS + "?pageSize=3")
    assert first.status == 200
    row = mariadb(services, "SELECT id, title, url, width, height, tags, downloads FROM wallpaper "
                            "ORDER BY created_at DESC LIMIT 1")[0]
    assert json_of(first)["data"][0] == {
        "id": int(row[0]), "title": row[1], "url": row[2], "width": int(row[3]),
        "height": int(row[4]), "tags": row[5], "downloads": int(row[6])}
    cached = wait_until(lambda: redis.cmd("GET", "wallpaperList:3"), 5, "the list to be cached")
    assert cached == first.body
    assert 0 < redis.cmd("PTTL", "wallpaperList:3") <= 1500
    # A hit is answered from Redis as stored.
    sentinel = b'{"code":0,"data":[{"id":-1}]}'
    # (The near copy goes when Redis' invalidation of the write arrives.)
    redis.cmd("SET", "wallpaperList:3", sentinel, "PX", 1500)
    wait_until(lambda: a.get(WALLPAPERS + "?pageSize=3").body == sentinel, 1, "the new entry")
    # Once it expires, MariaDB is read again and the entry comes back.
    wait_until(lambda: redis.cmd("EXISTS", "wallpaperList:3") == 0, 5, "the entry to expire")
    again = wait_until(lambda: (lambda r: r.body == first.body and r)(
        a.get(WALLPAPERS + "?pageSize=3")), 1, "the list from MariaDB again")
    assert again.status == 200
    wait_until(lambda: redis.cmd("GET", "wallpaperList:3") == first.body, 5, "the refill")


def test_a_slow_query_holds_one_connection_not_the_pool(app, services):
    slow = {}

    def sleeper():
        t0 = time.monotonic()
        slow["resp"] = app.get("/_test/sql-sleep?s=3")
        slow["took"] = time.monotonic() - t0

    t = threading.Thread(target=sleeper)
    t.start()
    wait_until(lambda: mariadb(services, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                         "WHERE INFO LIKE 'SELECT SLEEP%'")[0][0] != "0",
               3, "the slow query to run")
    t0 = time.monotonic()
    for _ in range(20):
        t1 = time.monotonic()
        assert app.get("/db").status == 200
        assert time.monotonic() - t1 < 0.5 * SLOW, "a /db request waited for the slow query"
    assert time.monotonic() - t0 < 2 * SLOW
    assert "resp" not in slow, "the slow query must still be running"
    t.join(10 * SLOW)
    assert slow["resp"].status == 200 and slow["took"] >= 2.9


def test_a_reload_moves_the_backends_without_failing_requests(actord_factory, services, tmp_path):
    """SIGHUP with another Redis and another MariaDB address: the actors
    reconnect to the new ones while requests keep succeeding."""
    port = free_port()
    other = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                              "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
                              "--logfile", str(tmp_path / "redis.log")])
    try:
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                          capture_output=True).returncode == 0, 5, "redis 2")
        r2 = Redis(port)
        r2.cmd("SET", "wallpaperList:2", b'{"code":0,"data":[{"id":-2}]}')
        cfg = storage_config(services)
        a = actord_factory(cfg)
        stop = threading.Event()
        statuses = []

        def load():
            while not stop.is_set():
                for p in ("/db", "/cached-queries?count=3", WALLPAPERS + "?pageSize=2"):
                    statuses.append(http(a.port, "GET", p).status)
        t = threading.Thread(target=load)
        t.start()
        try:
            wait_until(lambda: len(statuses) > 30, 5, "load to run")
            cfg["redis"]["port"] = port
            cfg["mysql"]["host"] = "localhost"      # same server, another address
            a.cfg.update(cfg)
            a.write_config(a.cfg)
            a.signal(signal.SIGHUP)
            wait_until(lambda: http(a.port, "GET", WALLPAPERS + "?pageSize=2").body
                       == b'{"code":0,"data":[{"id":-2}]}', 5, "the new Redis to answer")
            wait_until(lambda: "moving from 127.0.0.1" in a.stderr() and "to localhost" in a.stderr(),
                       5, "the mysql actors to move")
            n = len(statuses)
            wait_until(lambda: len(statuses) > n + 30, 5, "load after the move")
        finally:
            stop.set()
            t.join(10)
        assert set(statuses) == {200}, [s for s in statuses if s != 200][:5]
        r2.close()
    finally:
        other.terminate()
        other.wait(10)


def test_a_reload_applies_a_new_statement_time_limit(actord_factory, services):
    cfg = storage_config(services)
    a = actord_factory(cfg)
    assert a.get("/_test/sql-sleep?s=1").status == 200
    cfg["mysql"]["query_timeout_ms"] = 300
    a.cfg.update(cfg)
    a.write_config(a.cfg)
    a.signal(signal.SIGHUP)
    wait_until(lambda: "configuration reloaded" in a.stderr(), 5, "the reload")
    # Every connection applies it before its next statement.
    for _ in range(10):
        t0 = time.monotonic()
        r = a.get("/_test/sql-sleep?s=2")
        assert r.status == 504 and time.monotonic() - t0 < 1.5 * SLOW
    assert a.get("/db").status == 200


def test_a_refused_statement_is_a_500_whose_reason_stays_in_the_log(app):
    r = app.get("/_test/sql-bad")
    assert r.status == 500
    assert b"no_such_column" not in r.body and b"Unknown" not in r.body
    wait_until(lambda: "Unknown column" in app.stderr(), 5, "the reason in the log")
    assert app.get("/db").status == 200, "the connection stays usable"



def test_a_duplicate_key_is_409_whose_reason_stays_in_the_log(app):
    r = app.get("/_test/sql-bad?dup=1")
    assert r.status == 409
    assert r.headers.get("retry-after") is None
    assert r.json()["error"].endswith(": already exists")
    assert b"Duplicate" not in r.body
    wait_until(lambda: "Duplicate entry '1' for key 'PRIMARY' (1062)" in app.stderr(), 5,
               "the reason in the log")
    assert app.get("/db").status == 200, "the connection stays usable"

def test_a_redis_refusal_is_counted_each_time_and_logged_a_few_times_a_second(
        actord_factory, services, redis):
    # Redis refusing every write (NOREPLICAS): each request misses, reads
    # MariaDB and answers 200, and its SET is refused. Every refusal is
    # counted; the log gets at most 5 lines a second per cache actor.
    a = actord_factory(storage_config(services, app={"wallpaper_near_cache": False}))
    redis.cmd("DEL", "wallpaperList:2")
    redis.cmd("CONFIG", "SET", "min-replicas-to-write", "1")
    try:
        errors = lambda: metric(metrics_of(a), "actord_backend_errors_total",
                                backend="redis", actor="cache-0")
        before = errors()
        t0 = time.monotonic()
        statuses = [a.get(WALLPAPERS + "?pageSize=2").status for _ in range(60)]
        took = time.monotonic() - t0
        assert statuses == [200] * 60
        wait_until(lambda: errors() - before == 60, 5, "every refused SET counted")
        lines = a.stderr().count("redis refused a command: NOREPLICAS")
        assert 1 <= lines <= 5 * (int(took) + 2), (lines, took)
        assert lines < 60
        assert redis.cmd("EXISTS", "wallpaperList:2") == 0
    finally:
        redis.cmd("CONFIG", "SET", "min-replicas-to-write", "0")
    assert wait_until(lambda: a.get(WALLPAPERS + "?pageSize=2").status == 200 and
                      redis.cmd("EXISTS", "wallpaperList:2") == 1, 5, "writes again")
    redis.cmd("DEL", "wallpaperList:2")

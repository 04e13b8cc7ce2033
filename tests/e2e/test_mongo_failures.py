"""MongoDB failures as clients see them (issue: storage actors): a server
that does not answer (504 at the request deadline, or at
mongo.query_timeout_ms, then recovery), one that cannot be reached or
hangs up (503 with Retry-After, and the reason in the log and readiness),
a full mongo mailbox (503 at once); the data loader
(storage/mongo/load.py) against the scripted server; and the same routes
against a real mongod.

The real-mongod tests run only when the environment variable MONGO_URI
names one (e.g. mongodb://127.0.0.1:27017): Debian ships no MongoDB
server, so they are skipped otherwise. They load the data into the
database actord_e2e with the loader, and drop it afterwards.
"""
import concurrent.futures
import json
import os
import signal
import subprocess
import time

import pytest

from admin_helpers import JSON, admin_get, metrics_of, wait_admin
from conftest import BIN, ROOT, SLOW, base_config, free_port, merge, wait_until
from mongo_mock import (FORTUNES, admin_json, fake_mongo, find_check,  # noqa: F401
                        fortunes_html, mongo_overrides)

LOADER = os.path.join(ROOT, "storage", "mongo", "load.py")
MONGO_URI = os.environ.get("MONGO_URI", "")
real_mongod = pytest.mark.skipif(not MONGO_URI, reason="MONGO_URI is not set (no real mongod)")


def never_answer(request):
    """A server that received the command and says nothing."""


def start(actord_factory, fake, http=None, actors=None, **mongo):
    over = mongo_overrides(fake, **mongo)
    if http:
        over["http"] = http
    if actors:
        over["actors"]["mongo"].update(actors)
    return actord_factory(over)


def timed_get(a, path):
    t0 = time.monotonic()
    r = a.get(path)
    return r, time.monotonic() - t0


def test_unanswered_query_is_504_at_the_request_deadline(fake_mongo, actord_factory):
    a = start(actord_factory, fake_mongo, http={"request_timeout_ms": 400},
              query_timeout_ms=1500)
    fake_mongo.script["find"] = never_answer
    r, took = timed_get(a, "/mongo/db")
    assert r.status == 504
    assert 0.35 <= took < 1.2 * SLOW
    assert len(fake_mongo.sent("find")) == 1


def slow_like_mongod(request):
    """A server busy with the command: like mongod it gives up at the
    command's maxTimeMS (MaxTimeMSExpired); without one, it never answers."""
    limit_ms = request.doc.get("maxTimeMS")
    if limit_ms is not None:
        time.sleep(limit_ms / 1000)
        request.command_err(code=50, errmsg="operation exceeded time limit")


@pytest.mark.parametrize("path,command", [("/mongo/db", "find"),
                                          ("/_test/mongo/count/world", "aggregate")])
def test_a_slow_server_stops_at_the_deadline_and_the_member_serves_on(
        fake_mongo, actord_factory, path, command):
    a = start(actord_factory, fake_mongo, actors={"count": 1},
              http={"request_timeout_ms": 400}, query_timeout_ms=int(4000 * SLOW))
    fake_mongo.script[command] = slow_like_mongod
    r, took = timed_get(a, path)
    assert r.status == 504
    (sent,) = fake_mongo.sent(command)
    assert 0 < sent["maxTimeMS"] <= 400, "the time the request has left"
    del fake_mongo.script[command]
    # The one member is free again: not blocked until query_timeout_ms.
    r, took = timed_get(a, path)
    assert r.status == 200 and took < 1.0 * SLOW
    assert "no answer in time" not in a.stderr(), "a time limit says nothing about the link"


def test_query_timeout_fails_the_call_then_the_member_reconnects(fake_mongo, actord_factory):
    a = start(actord_factory, fake_mongo, actors={"count": 1}, query_timeout_ms=300)
    fake_mongo.script["find"] = never_answer
    r, took = timed_get(a, "/mongo/db")
    assert r.status == 504
    assert r.json()["error"] == "MongoDB world lookup: timed out"
    assert took < 2 * SLOW, "query_timeout_ms, not the 5 s request deadline"
    why = "cannot reach 127.0.0.1:%d: no answer in time" % fake_mongo.port
    wait_until(lambda: why in a.stderr(), 5, "the reason in the log")
    del fake_mongo.script["find"]
    # The member probes with a ping after 100 ms and serves again.
    wait_until(lambda: a.get("/mongo/db").status == 200, 5, "the member to reconnect")
    wait_until(lambda: a.stderr().count("mongo-0: connected to") == 2, 5, "a second connect")


def test_unreachable_server_is_503_with_retry_after_and_says_why(actord_factory):
    port = free_port()
    a = actord_factory({"mongo": {"uri": f"mongodb://127.0.0.1:{port}",
                                  "server_selection_timeout_ms": 200}})
    r, took = timed_get(a, "/mongo/queries?queries=3")
    assert r.status == 503
    assert r.headers["retry-after"] == "1"
    assert took < 2 * SLOW
    why = f"cannot reach 127.0.0.1:{port}: connection refused"
    wait_until(lambda: why in a.stderr(), 5, "the reason in the log")
    # Known down: the next calls are answered at once, not after a timeout.
    r, took = timed_get(a, "/mongo/db")
    assert r.status == 503 and took < 0.15 * SLOW
    ready = admin_json(a, "/readyz")
    if ready is not None:
        check = find_check(ready, "mongo")
        assert check["ok"] is False and check["reason"] == why


def test_an_outage_is_logged_once_not_at_every_probe(actord_factory):
    # While MongoDB stays unreachable, member 0 probes it on a backoff (up
    # to every 2 s): the driver's reason is logged once with the outage,
    # not again at every probe.
    port = free_port()
    a = actord_factory({"mongo": {"uri": f"mongodb://127.0.0.1:{port}",
                                  "server_selection_timeout_ms": 100}})
    probes = lambda: sum(v for (name, labels), v in metrics_of(a).items()
                         if name == "actord_backend_reconnects_total" and
                         ("actor", "mongo-0") in labels)
    wait_until(lambda: probes() >= 4, 10, "four probes")
    assert a.stderr().count("mongo-0: ping on admin.$cmd failed") == 1, a.stderr()
    assert a.stderr().count("cannot reach 127.0.0.1:%d" % port) >= 1


def test_server_that_hangs_up_is_503(fake_mongo, actord_factory):
    a = start(actord_factory, fake_mongo, actors={"count": 1})
    fake_mongo.script["find"] = lambda req: req.hangup()
    r = a.get("/mongo/db")
    assert r.status == 503
    assert r.headers["retry-after"] == "1"
    why = "cannot reach 127.0.0.1:%d: the server closed the connection" % fake_mongo.port
    wait_until(lambda: why in a.stderr(), 5, "the reason in the log")
    del fake_mongo.script["find"]
    wait_until(lambda: a.get("/mongo/db").status == 200, 5, "the member to reconnect")


def test_a_refusal_every_request_meets_is_counted_each_time_and_logged_a_few_times_a_second(
        fake_mongo, actord_factory):
    # A role without the right to read: every find fails alike. Each
    # failure is counted; the log gets at most 20 lines a second per
    # member, not one per request.
    a = start(actord_factory, fake_mongo)
    fake_mongo.script["find"] = lambda req: req.command_err(
        code=13, errmsg="not authorized on hello_world to execute command find")
    errors = lambda: sum(v for (name, labels), v in metrics_of(a).items()
                         if name == "actord_backend_errors_total" and
                         ("backend", "mongo") in labels)
    before = errors()
    t0 = time.monotonic()
    assert {a.get("/mongo/db").status for _ in range(200)} == {500}
    took = time.monotonic() - t0
    wait_until(lambda: errors() - before == 200, 5, "every failure counted")
    lines = a.stderr().count("not authorized on hello_world")
    assert 1 <= lines <= 2 * 20 * (int(took) + 2), (lines, took)
    assert lines < 200


def test_full_mongo_mailbox_is_503_at_once(fake_mongo, actord_factory):
    a = start(actord_factory, fake_mongo, actors={"count": 1, "mailbox": 4},
              http={"request_timeout_ms": 3000}, query_timeout_ms=1500)
    fake_mongo.script["find"] = never_answer
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        first = pool.submit(a.get, "/mongo/db")
        wait_until(lambda: fake_mongo.sent("find"), 5, "the member to block in a find")
        burst = [pool.submit(timed_get, a, "/mongo/db") for _ in range(10)]
        results = [f.result() for f in burst]
        assert first.result().status == 504
    overloaded = [(r, t) for r, t in results if r.status == 503 and "overloaded" in r.text]
    assert overloaded, [r.status for r, _ in results]
    assert all(r.headers["retry-after"] == "1" and t < 1.0 * SLOW for r, t in overloaded)
    assert all(r.status in (503, 504) for r, _ in results)


@pytest.mark.parametrize("uri,why", [
    ("mongodb://127.0.0.1:port/", "Invalid host string in URI"),
    ("mongodb://", "Invalid host string in URI"),
    ("mongodb://u:pw@h/?authMechanism=GSSAPI&authSource=admin",
     "GSSAPI and X509 require"),
    ("mongodb://h/?readPreference=nearest-ish", "Unsupported readPreference value"),
    # libmongoc only warns about an option it does not know, and ignores it.
    ("mongodb://u:pw@h/?maxPoolSiz=5&w=majority", 'Unsupported URI option "maxpoolsiz"'),
])
def test_a_bad_uri_is_refused_with_file_key_and_reason(tmp_path, uri, why):
    path = str(tmp_path / "actord.json")
    with open(path, "w") as f:
        json.dump(merge(base_config(str(tmp_path)), {"mongo": {"uri": uri}}), f)
    for args in (["-t"], []):        # the check, and a start (before anything listens)
        p = subprocess.run([BIN, *args, "-c", path], capture_output=True, text=True,
                           timeout=10 * SLOW)
        assert p.returncode == 1, (args, p.stdout, p.stderr)
        assert f"{path}: mongo.uri: {why}" in p.stderr, (args, p.stderr)
        assert "pw" not in p.stderr.replace("GSSAPI", "")


def test_a_reload_to_a_uri_the_driver_refuses_is_refused(fake_mongo, actord_factory):
    # mongo.uri takes a restart: a reload that accepted a bad one (kept as
    # running) would leave a file the next restart refuses.
    a = wait_admin(start(actord_factory, fake_mongo))
    good = a.cfg
    a.write_config(merge(good, {"mongo": {"uri": "mongodb://127.0.0.1:port/"}}))
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 422, r.text
    assert r.json()["error"] == (f"{a.config_path}: mongo.uri: Invalid host string in URI")
    os.kill(a.proc.pid, signal.SIGHUP)
    wait_until(lambda: "reload failed, still running the previous configuration: "
               f"{a.config_path}: mongo.uri: Invalid host string in URI" in a.stderr(), 5,
               "the SIGHUP reload refused")
    assert a.get("/mongo/db").status == 200
    # A valid new URI is accepted and reported as taking a restart.
    a.write_config(merge(good, {"mongo": {"uri": fake_mongo.uri + "/?appname=other"}}))
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 200 and "mongo.uri" in r.json()["restart_required"], r.text


@pytest.mark.parametrize("database,why", [
    ("", "must be 1..63 bytes long"),
    ("x" * 64, "must be 1..63 bytes long"),
    # The driver would read collection "b.world" of database "a".
    ("a.b", "'a.b': a MongoDB database name cannot hold"),
    ("hello world", "'hello world': a MongoDB database name cannot hold"),
    ("a$b", "'a$b': a MongoDB database name cannot hold"),
])
def test_a_database_name_mongodb_refuses_fails_the_load(tmp_path, database, why):
    path = str(tmp_path / "actord.json")
    with open(path, "w") as f:
        json.dump(merge(base_config(str(tmp_path)),
                        {"mongo": {"uri": "mongodb://127.0.0.1:1", "database": database}}), f)
    p = subprocess.run([BIN, "-t", "-c", path], capture_output=True, text=True,
                       timeout=10 * SLOW)
    assert p.returncode == 1, p.stdout
    assert f"{path}: mongo.database: {why}" in p.stderr


def run_loader(uri, database, *extra):
    return subprocess.run(["/usr/bin/python3", LOADER, "--uri", uri, "--database", database,
                           *extra],
                          capture_output=True, text=True, timeout=60 * SLOW)


def test_loader_drops_and_recreates_both_collections(fake_mongo):
    for _ in range(2):                      # idempotent: every run starts over
        fake_mongo.clear()
        p = run_loader(fake_mongo.uri, "bench")
        assert p.returncode == 0, p.stderr
        assert "world 10000 documents, fortune 12 documents" in p.stdout
        names = [(n, d.get(n)) for n, d in fake_mongo.commands]
        assert names[:2] == [("drop", "world"), ("drop", "fortune")]
        assert all(d["$db"] == "bench" for _, d in fake_mongo.commands)
        world = [doc for c in fake_mongo.sent("insert") if c["insert"] == "world"
                 for doc in c["documents"]]
        assert [d["id"] for d in world] == list(range(1, 10001))
        assert all(d["_id"] == d["id"] and 1 <= d["randomNumber"] <= 10000 for d in world)
        assert len({d["randomNumber"] for d in world}) > 5000, "random, not constant"
        fortune = [doc for c in fake_mongo.sent("insert") if c["insert"] == "fortune"
                   for doc in c["documents"]]
        assert [(d["id"], d["message"]) for d in fortune] == list(enumerate(FORTUNES, 1))
        indexes = {c["createIndexes"]: c["indexes"] for c in fake_mongo.sent("createIndexes")}
        for coll in ("world", "fortune"):
            assert indexes[coll][0]["key"] == {"id": 1}
            assert indexes[coll][0]["unique"] is True


def test_loader_says_why_it_cannot_load():
    p = run_loader(f"mongodb://127.0.0.1:{free_port()}", "x", "--timeout-ms", "200")
    assert p.returncode == 1
    assert p.stderr.startswith("load.py: ")


# ---- Against a real mongod (MONGO_URI) ----

@pytest.fixture
def real_db():
    """The database actord_e2e on MONGO_URI, freshly loaded; dropped after."""
    from pymongo import MongoClient
    p = run_loader(MONGO_URI, "actord_e2e")
    assert p.returncode == 0, p.stderr
    client = MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000)
    yield client["actord_e2e"]
    client.drop_database("actord_e2e")
    client.close()


@real_mongod
def test_real_mongod_serves_db_queries_and_fortunes(real_db, actord_factory):
    """Needs MONGO_URI (skipped otherwise)."""
    a = actord_factory({"mongo": {"uri": MONGO_URI, "database": "actord_e2e"}})
    world = {d["id"]: d["randomNumber"] for d in real_db.world.find()}
    assert len(world) == 10000
    row = a.get("/mongo/db").json()
    assert row["randomNumber"] == world[row["id"]]
    rows = a.get("/mongo/queries?queries=20").json()
    assert len(rows) == 20 and all(r["randomNumber"] == world[r["id"]] for r in rows)
    r = a.get("/mongo/fortunes")
    stored = [(d["id"], d["message"]) for d in real_db.fortune.find()]
    assert r.text == fortunes_html(stored)
    ready = admin_json(a, "/readyz")
    if ready is not None:
        assert find_check(ready, "mongo")["ok"] is True


@real_mongod
def test_real_mongod_persists_updates(real_db, actord_factory):
    """Needs MONGO_URI (skipped otherwise)."""
    a = actord_factory({"mongo": {"uri": MONGO_URI, "database": "actord_e2e"}})
    rows = a.get("/mongo/updates?queries=20").json()
    assert len(rows) == 20
    last = {r["id"]: r["randomNumber"] for r in rows}
    for i, v in last.items():
        assert real_db.world.find_one({"id": i})["randomNumber"] == v


@real_mongod
def test_real_mongod_counts_and_inserts(real_db, actord_factory):
    """Needs MONGO_URI (skipped otherwise)."""
    a = actord_factory({"mongo": {"uri": MONGO_URI, "database": "actord_e2e"}})
    assert a.get("/_test/mongo/count/world").json() == {"count": 10000}
    assert a.get("/_test/mongo/count/fortune").json() == {"count": 12}
    r = a.request("POST", "/_test/mongo/insert/scratch", body=b'[{"a": 1}, {"a": 2}]')
    assert r.json() == {"inserted": 2}
    assert sorted(d["a"] for d in real_db.scratch.find()) == [1, 2]

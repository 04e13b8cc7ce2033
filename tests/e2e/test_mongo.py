"""The /mongo routes and the MongoDB actors behind them (issue: storage
actors), against a scripted MongoDB speaking the real wire protocol
(mongo_mock.FakeMongo, on python3-mockupdb): what the actors send (find
{id: N} limit 1 on world, one ordered bulk update, the fortune scan) and
what the routes answer (TechEmpower's rules: clamping, persisted updates,
the exact fortunes page), a server error reply, and MongoDB not being
configured at all. The /_test/mongo/ routes reach the calls no shipped
route makes (find with a projection, insert, update, count).

Failures that depend on timing (deadlines, unreachable servers, full
mailboxes), the data loader and the real-mongod variants are in
test_mongo_failures.py.
"""
import collections
import concurrent.futures
import datetime
import decimal
import json

import pytest
from bson import Binary, Decimal128, Int64, ObjectId

from admin_helpers import undocumented_metrics, wait_admin
from conftest import wait_until

from mongo_mock import (FORTUNES, admin_json, find_check, fortunes_html,  # noqa: F401
                        module_fake, mongo_actord, prometheus_samples)


@pytest.fixture(autouse=True)
def fresh_fake(request):
    """Every test starts with an unscripted fake and no recorded commands."""
    if "module_fake" in request.fixturenames:
        fake = request.getfixturevalue("module_fake")
        fake.script.clear()
        fake.clear()


def world_find(i):
    return {"find": "world", "filter": {"id": i}, "limit": 1, "$db": "hello_world"}


def reads(fake, name):
    """The `name` commands received, each checked for the request's time
    limit (maxTimeMS: what is left of the 5 s request deadline) and shown
    without it."""
    cmds = fake.sent(name)
    for cmd in cmds:
        assert 0 < cmd.pop("maxTimeMS") <= 5000, cmd
    return cmds


def test_db_reads_one_random_row_with_find_id_limit_1(mongo_actord, module_fake):
    r = mongo_actord.get("/mongo/db")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    row = r.json()
    assert set(row) == {"id", "randomNumber"}
    assert 1 <= row["id"] <= 10000
    assert row["randomNumber"] == module_fake.world[row["id"]]
    assert reads(module_fake, "find") == [world_find(row["id"])]


def test_mongo_metric_families_are_documented(mongo_actord):
    wait_admin(mongo_actord)
    mongo_actord.get("/mongo/db")
    missing, n = undocumented_metrics(mongo_actord)
    assert n > 50 and not missing, missing


def test_queries_reads_every_row_with_its_own_find(mongo_actord, module_fake):
    r = mongo_actord.get("/mongo/queries?queries=20")
    assert r.status == 200
    rows = r.json()
    assert len(rows) == 20
    for row in rows:
        assert set(row) == {"id", "randomNumber"}
        assert row["randomNumber"] == module_fake.world[row["id"]]
    finds = reads(module_fake, "find")
    assert sorted(f["filter"]["id"] for f in finds) == sorted(row["id"] for row in rows)
    assert all(f == world_find(f["filter"]["id"]) for f in finds)
    assert module_fake.sent("aggregate") == []


@pytest.mark.parametrize("query,count", [
    ("", 1), ("?queries", 1), ("?queries=", 1), ("?queries=0", 1), ("?queries=-7", 1),
    ("?queries=foo", 1), ("?queries=2.5", 1), ("?queries=1", 1), ("?queries=3", 3),
    ("?queries=500", 500), ("?queries=501", 500), ("?queries=99999999999999999999", 500),
])
def test_queries_clamps_to_1_500_and_anything_else_is_1(mongo_actord, module_fake, query,
                                                        count):
    r = mongo_actord.get("/mongo/queries" + query)
    assert r.status == 200
    rows = r.json()
    assert isinstance(rows, list) and len(rows) == count
    assert len(module_fake.sent("find")) == count


def test_concurrent_requests_each_get_their_own_rows(mongo_actord, module_fake):
    paths = ["/mongo/queries?queries=%d" % (1 + i % 17) for i in range(40)] + ["/mongo/db"] * 10
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(mongo_actord.get, paths))
    for path, r in zip(paths, responses):
        assert r.status == 200, path
        rows = r.json() if path != "/mongo/db" else [r.json()]
        want = int(path.rsplit("=", 1)[1]) if "=" in path else 1
        assert len(rows) == want
        assert all(row["randomNumber"] == module_fake.world[row["id"]] for row in rows)
    assert len(module_fake.sent("find")) == sum(1 + i % 17 for i in range(40)) + 10


def test_ids_are_drawn_independently_over_1_10000(mongo_actord):
    ids = [row["id"] for row in mongo_actord.get("/mongo/queries?queries=500").json()]
    assert all(1 <= i <= 10000 for i in ids)
    # 500 draws from 10,000: a handful of repeats at most, both halves hit.
    assert len(set(ids)) > 450
    assert min(ids) < 2500 and max(ids) > 7500


def test_updates_persist_new_numbers_with_one_ordered_bulk_write(mongo_actord, module_fake):
    before = dict(module_fake.world)
    r = mongo_actord.get("/mongo/updates?queries=10")
    assert r.status == 200
    rows = r.json()
    assert len(rows) == 10
    finds, updates = module_fake.sent("find"), module_fake.sent("update")
    assert len(finds) == 10
    assert len(updates) == 1, "one bulk write per request"
    bulk = updates[0]
    assert bulk["update"] == "world" and bulk["ordered"] is True
    sent = [(u["q"], u["u"], u["upsert"], u["multi"]) for u in bulk["updates"]]
    assert sent == [({"id": row["id"]}, {"$set": {"randomNumber": row["randomNumber"]}},
                     False, False) for row in rows]
    last = {row["id"]: row["randomNumber"] for row in rows}
    for i, v in last.items():
        assert 1 <= v <= 10000
        assert module_fake.world[i] == v, "persisted"
    # Each row got a new value (a repeated id changes twice).
    counts = collections.Counter(row["id"] for row in rows)
    assert all(before[i] != v for i, v in last.items() if counts[i] == 1)


@pytest.mark.parametrize("query,count", [("", 1), ("?queries=0", 1), ("?queries=x", 1),
                                         ("?queries=501", 500)])
def test_updates_clamp_like_queries(mongo_actord, module_fake, query, count):
    r = mongo_actord.get("/mongo/updates" + query)
    assert r.status == 200
    assert len(r.json()) == count
    assert len(module_fake.sent("update")) == 1
    assert len(module_fake.sent("update")[0]["updates"]) == count


def test_fortunes_page_is_techempowers_exact_html(mongo_actord, module_fake):
    r = mongo_actord.get("/mongo/fortunes")
    assert r.status == 200
    assert r.headers["content-type"] == "text/html; charset=UTF-8"
    assert r.text == fortunes_html(list(enumerate(FORTUNES, 1)))
    assert "<td>0</td><td>Additional fortune added at request time.</td>" in r.text
    assert "フレームワークのベンチマーク" in r.text   # raw UTF-8, not entities
    assert reads(module_fake, "find") == [{"find": "fortune", "filter": {}, "$db": "hello_world"}]


def test_fortunes_escape_whatever_the_database_holds(mongo_actord, module_fake):
    saved = module_fake.fortunes
    module_fake.fortunes = [{"_id": 1, "id": 7, "message": "a & b < c > d \"e\" 'f' é"},
                            {"_id": 2, "id": 3, "message": "<b>bold</b>"}]
    try:
        r = mongo_actord.get("/mongo/fortunes")
    finally:
        module_fake.fortunes = saved
    assert r.status == 200
    assert r.text == fortunes_html([(7, "a & b < c > d \"e\" 'f' é"), (3, "<b>bold</b>")])
    assert "a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39; é" in r.text


def test_server_error_is_500_and_its_text_stays_in_the_log(mongo_actord, module_fake):
    module_fake.script["find"] = lambda req: req.command_err(
        code=2, errmsg="unknown operator: $secretDriverDetail")
    r = mongo_actord.get("/mongo/db")
    assert r.status == 500
    assert b"secretDriverDetail" not in r.body
    assert r.json()["error"].startswith("MongoDB world lookup: failed")
    wait_until(lambda: "unknown operator: $secretDriverDetail" in mongo_actord.stderr(), 5,
               "the driver's text in the log")
    # A refused query says nothing about the connection: the next one works.
    del module_fake.script["find"]
    assert mongo_actord.get("/mongo/db").status == 200


@pytest.mark.parametrize("command,path,reply", [
    ("find", "/mongo/db", {"foo": 1}),
    ("find", "/mongo/fortunes", {"cursor": {"id": 0, "ns": "x.y", "firstBatch": 5}}),
    ("aggregate", "/_test/mongo/count/world", {"cursor": "x"}),
])
def test_a_reply_that_makes_no_sense_is_502(mongo_actord, module_fake, command, path, reply):
    module_fake.script[command] = lambda req: req.replies(reply)
    seen = len(mongo_actord.stderr())
    r = mongo_actord.get(path)
    assert r.status == 502
    assert r.json()["error"].endswith(": bad response")
    wait_until(lambda: any(why in mongo_actord.stderr()[seen:] for why in
                           ("Invalid reply to find command", "Couldn't parse cursor document")),
               5, "the driver's reason in the log")
    del module_fake.script[command]
    assert mongo_actord.get(path).status == 200


def test_a_result_nested_deeper_than_mongodb_allows_is_502_and_says_why(mongo_actord,
                                                                         module_fake):
    doc = {"v": 1}
    for _ in range(101):
        doc = {"a": doc}
    module_fake.script["find"] = lambda req: req.replies(
        {"cursor": {"id": 0, "ns": "hello_world.things", "firstBatch": [doc]}})
    r = post(mongo_actord, "/_test/mongo/find/things", {"filters": [{}]})
    assert r.status == 502 and r.json()["error"].endswith(": bad response")
    wait_until(lambda: "a result document is nested deeper than 100 levels" in
               mongo_actord.stderr(), 5, "the reason in the log")


def test_a_missing_world_row_is_500(mongo_actord, module_fake):
    module_fake.script["find"] = lambda req: req.replies(
        {"cursor": {"id": 0, "ns": "hello_world.world", "firstBatch": []}})
    r = mongo_actord.get("/mongo/queries?queries=3")
    assert r.status == 500
    assert "is missing" in r.json()["error"]


def test_without_mongo_uri_every_route_is_503_and_readiness_says_why(actord_factory):
    a = actord_factory()              # the default: mongo.uri ""
    for path in ("/mongo/db", "/mongo/queries?queries=5", "/mongo/updates?queries=5",
                 "/mongo/fortunes"):
        r = a.get(path)
        assert r.status == 503, path
        assert r.headers["retry-after"] == "1"
        assert "unavailable" in r.json()["error"]
    wait_until(lambda: "mongo.uri is not configured" in a.stderr(), 5, "the reason in the log")
    ready = admin_json(a, "/readyz")
    if ready is not None:
        check = find_check(ready, "mongo")
        assert check["ok"] is False and check["reason"] == "mongo.uri is not configured"


def test_mongo_counters_reach_the_admin_endpoint(mongo_actord):
    assert mongo_actord.get("/mongo/queries?queries=5").status == 200
    samples = prometheus_samples(mongo_actord, "actord_backend_requests_total")
    if samples is None:
        pytest.skip("this build has no admin endpoint yet")
    mongo = {k: v for k, v in samples.items() if 'backend="mongo"' in k}
    assert set(mongo) == {'backend="mongo",actor="mongo-0"', 'backend="mongo",actor="mongo-1"'}
    assert sum(mongo.values()) >= 5
    connected = prometheus_samples(mongo_actord, "actord_backend_connected")
    assert connected['backend="mongo",actor="mongo-0"'] == 1


# ---- The calls no TechEmpower route makes, through the /_test/mongo/ routes ----

def post(a, path, doc):
    return a.request("POST", path, body=json.dumps(doc).encode(),
                     headers={"Content-Type": "application/json"})


def test_find_runs_each_query_with_its_limit_and_projection(mongo_actord, module_fake):
    r = post(mongo_actord, "/_test/mongo/find/world",
             {"filters": [{"id": 1}, {"id": 2}, {"id": 0}], "limit": 1,
              "projection": {"_id": 0}})
    assert r.status == 200
    assert r.json()["results"] == [
        [{"_id": 1, "id": 1, "randomNumber": module_fake.world[1]}],
        [{"_id": 2, "id": 2, "randomNumber": module_fake.world[2]}],
        []]
    assert reads(module_fake, "find") == [
        {"find": "world", "filter": {"id": i}, "limit": 1, "projection": {"_id": 0},
         "$db": "hello_world"} for i in (1, 2, 0)]


def test_results_map_bson_types_to_json(mongo_actord, module_fake):
    oid = ObjectId("0123456789abcdef01234567")
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)
    module_fake.script["find"] = lambda req: req.replies({"cursor": {
        "id": 0, "ns": "hello_world.things", "firstBatch": [
            {"_id": oid, "at": when, "big": Int64(5000000000), "f": 1.25, "s": "é",
             "b": False, "n": None, "bin": Binary(b"\x00\x01"), "o": {"a": [1, "x"]}}]}})
    r = post(mongo_actord, "/_test/mongo/find/things", {"filters": [{}]})
    assert r.status == 200
    assert r.json()["results"] == [[{
        "_id": "0123456789abcdef01234567", "at": 1704164645678, "big": 5000000000,
        "f": 1.25, "s": "é", "b": False, "n": None, "bin": None, "o": {"a": [1, "x"]}}]]


def test_int64_results_keep_every_digit(mongo_actord, module_fake):
    big = [2**53 - 1, 2**53 + 1, -(2**63), 2**63 - 1, 10**15]
    module_fake.script["find"] = lambda req: req.replies({"cursor": {
        "id": 0, "ns": "hello_world.things", "firstBatch": [
            {"_id": i, "n": Int64(v)} for i, v in enumerate(big)]}})
    r = post(mongo_actord, "/_test/mongo/find/things", {"filters": [{}]})
    assert r.status == 200
    assert [d["n"] for d in r.json()["results"][0]] == big


def test_decimal128_results_keep_their_digits(mongo_actord, module_fake):
    module_fake.script["find"] = lambda req: req.replies({"cursor": {
        "id": 0, "ns": "hello_world.things", "firstBatch": [
            {"_id": 1, "price": Decimal128("19.90"), "tiny": Decimal128("1E-30"),
             "nan": Decimal128("NaN")}]}})
    r = post(mongo_actord, "/_test/mongo/find/things", {"filters": [{}]})
    assert r.status == 200
    assert b'"price":19.90,"tiny":1E-30,"nan":null' in r.body
    doc = json.loads(r.body, parse_float=decimal.Decimal)["results"][0][0]
    assert doc["price"] == decimal.Decimal("19.90")


def test_insert_sends_every_document_in_one_command(mongo_actord, module_fake):
    r = post(mongo_actord, "/_test/mongo/insert/things", [{"a": 1, "b": "x"}, {"a": 2.5}])
    assert r.status == 200 and r.json() == {"inserted": 2}
    (cmd,) = module_fake.sent("insert")
    assert cmd["insert"] == "things" and cmd["ordered"] is True
    # The driver gives each document an ObjectId _id.
    assert [{k: v for k, v in d.items() if k != "_id"} for d in cmd["documents"]] == \
        [{"a": 1, "b": "x"}, {"a": 2.5}]
    assert all(isinstance(d["_id"], ObjectId) for d in cmd["documents"])


def test_a_duplicate_key_is_409_and_the_servers_reason_stays_in_the_log(mongo_actord,
                                                                       module_fake):
    # mongod's answer to an insert whose _id exists: ok, with a write error.
    module_fake.script["insert"] = lambda req: req.replies({"n": 0, "writeErrors": [
        {"index": 0, "code": 11000,
         "errmsg": "E11000 duplicate key error collection: hello_world.things index: _id_"}]})
    try:
        r = post(mongo_actord, "/_test/mongo/insert/things", [{"_id": 1, "a": 1}])
        assert r.status == 409
        assert r.json()["error"].endswith(": already exists")
        assert b"E11000" not in r.body
        wait_until(lambda: "E11000 duplicate key error" in mongo_actord.stderr(), 5,
                   "the server's reason in the log")
    finally:
        del module_fake.script["insert"]
    assert post(mongo_actord, "/_test/mongo/insert/things", [{"a": 1}]).status == 200


def test_count_sends_a_count_documents_aggregate(mongo_actord, module_fake):
    r = mongo_actord.get("/_test/mongo/count/world")
    assert r.status == 200 and r.json() == {"count": 10000}
    assert reads(module_fake, "aggregate") == [{
        "aggregate": "world", "cursor": {},
        "pipeline": [{"$match": {}}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
        "$db": "hello_world"}]


def test_update_reports_matched_and_modified(mongo_actord, module_fake):
    r = post(mongo_actord, "/_test/mongo/update/world",
             [[{"id": 5}, {"$set": {"randomNumber": 17}}],
              [{"id": 6}, {"$set": {"randomNumber": 18}}]])
    assert r.status == 200 and r.json() == {"matched": 2, "modified": 2}
    assert (module_fake.world[5], module_fake.world[6]) == (17, 18)


def test_an_update_without_operators_is_refused_before_sending(mongo_actord, module_fake):
    r = post(mongo_actord, "/_test/mongo/update/world", [[{"id": 5}, {"randomNumber": 1}]])
    assert r.status == 500
    assert module_fake.sent("update") == []


def test_updates_of_a_row_deleted_between_read_and_write_answer_500(mongo_actord, module_fake):
    # The rows were read, then deleted before the bulk write: it matches
    # none of them. Answering 200 would report new values nobody stored.
    module_fake.script["update"] = lambda req: req.replies({"n": 1, "nModified": 1})
    r = mongo_actord.get("/mongo/updates?queries=3")
    assert r.status == 500, (r.status, r.body)
    assert "deleted between its read and its write" in r.json()["error"], r.body

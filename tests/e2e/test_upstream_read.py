"""A route reading an upstream body piece by piece (handler/hreq_stream.h,
AsyncHTTPClient's streaming_callback): the handler actor consumes the
streamed body under the same credit window as a network actor, so memory
stays bounded whatever its size; every way the read can end reaches the
route's on_end exactly once.

The test route /_test/digest (tests/app/upstream_test_routes.c) hashes
what its on_piece gets and answers JSON from its on_end."""
import json
import threading
import time
from urllib.parse import quote

from admin_helpers import body_reads
from conftest import SLOW, wait_until
from upstream_server import (proxied, rss_kib, single_net, stream_digest,  # noqa: F401
                             upstream)

MIB = 1 << 20
# As in test_upstream_stream.py: the full size and the memory bound are for
# the Release build; the sanitizer builds check the protocol.
BIG = 100 * MIB if SLOW == 1 else 16 * MIB


def digest(a, upstream, path, timeout=60, **q):
    url = quote(upstream.url + path, safe="")
    extra = "".join(f"&{k}={v}" for k, v in q.items())
    r = a.get(f"/_test/digest?url={url}{extra}", timeout=timeout)
    return r, (json.loads(r.body) if r.status == 200 else None)


def test_a_route_reads_a_100mb_body_in_pieces_with_bounded_memory(proxied, upstream):
    a = proxied(overrides=single_net())
    assert digest(a, upstream, "/hello")[0].status == 200
    assert body_reads(a) == (1, 5, 0)            # "hello": 5 bytes, streamed over 1
    before = rss_kib(a)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(a))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    try:
        r, d = digest(a, upstream, f"/stream?n={BIG}")
    finally:
        done.set()
        t.join()
    assert r.status == 200, r.body
    assert d["end"] == "ok" and d["streamed"] and d["status"] == 200
    assert d["bytes"] == BIG and d["sha256"] == stream_digest(BIG)
    # Pieces of at most STREAM_CHUNK (64 KiB), so many of them.
    assert d["max_piece"] <= 64 * 1024 and d["pieces"] >= BIG // (64 * 1024)
    if SLOW == 1:
        # The credit window (256 KiB) and a piece, not the body.
        assert peak[0] - before < 32 * 1024, f"RSS grew {peak[0] - before} KiB"
    assert body_reads(a) == (2, 5 + BIG, 0)


def test_unsized_and_small_bodies_and_the_connection_is_kept(proxied, upstream):
    a = proxied(overrides=single_net())
    n = 5 * MIB + 123
    for _ in range(2):
        r, d = digest(a, upstream, f"/stream?n={n}&chunked=1")
        assert r.status == 200, r.body
        assert d["end"] == "ok" and d["streamed"]
        assert d["bytes"] == n and d["sha256"] == stream_digest(n)
    # A body under the threshold comes whole: one piece, the same callbacks.
    r, d = digest(a, upstream, "/stream?n=1000", over=4096)
    assert d["end"] == "ok" and not d["streamed"]
    assert (d["bytes"], d["pieces"]) == (1000, 1) and d["sha256"] == stream_digest(1000)
    # An upstream status other than 200 is the route's to judge; its body is read too.
    r, d = digest(a, upstream, "/status?code=404")
    assert d["status"] == 404 and d["end"] == "ok"
    assert upstream.accepted == 1           # one kept-alive upstream connection throughout


def test_a_route_that_stops_reading_cancels_the_upstream_transfer(proxied, upstream):
    a = proxied(overrides=single_net())
    r, d = digest(a, upstream, f"/stream?n={BIG}", stop=2 * MIB)
    assert r.status == 200, r.body
    assert d["end"] == "cancelled"
    assert body_reads(a) == (1, d["bytes"], 0)   # the route's own stop is not a cut
    assert 2 * MIB <= d["bytes"] < BIG
    # The upstream actor closes that connection (its state mid-body is
    # unknown): the upstream's sends fail long before the body is out.
    wait_until(lambda: upstream.open == 0, 10 * SLOW, "the upstream connection to close")
    assert upstream.stream_sent < BIG
    r, d = digest(a, upstream, "/hello")
    assert d["end"] == "ok" and d["bytes"] == 5


def test_an_upstream_failing_mid_body_ends_the_read_with_an_error(proxied, upstream):
    a = proxied(overrides=single_net(), first_byte_timeout_ms=10000, read_timeout_ms=300)
    for chunked in (0, 1):
        r, d = digest(a, upstream, f"/stream?n={8 * MIB}&cut={3 * MIB}&chunked={chunked}")
        assert r.status == 200, r.body
        assert d["end"] == "bad_response", d
        assert d["bytes"] <= 3 * MIB
    # Stalling mid-body: cut at upstream.read_timeout_ms between two reads
    # (the first byte's limit is far longer).
    t0 = time.monotonic()
    r, d = digest(a, upstream, "/trickle?n=20&ms=5000", over=4)
    took = time.monotonic() - t0
    assert d["end"] == "bad_response" and d["bytes"] < 20
    assert 0.25 < took < 3 * SLOW, took
    wait_until(lambda: "streamed response timed out" in a.stderr(), 5, "the log line")
    assert body_reads(a)[0::2] == (3, 3)
    assert digest(a, upstream, "/hello")[1]["end"] == "ok"


def test_a_slow_but_alive_upstream_is_read_to_the_end(proxied, upstream):
    # A byte every 2.4 s: each gap is past first_byte_timeout_ms, and past
    # it plus the handler's 2 s grace for a silent producer, but within
    # read_timeout_ms: the route reads the whole body.
    a = proxied(overrides=single_net(http={"request_timeout_ms": 30000}),
                first_byte_timeout_ms=100, read_timeout_ms=5000)
    r, d = digest(a, upstream, "/trickle?n=3&ms=2400", over=1)
    assert r.status == 200, r.body
    assert d["end"] == "ok" and d["streamed"] and d["bytes"] == 3
    assert body_reads(a)[0::2] == (1, 0)


def test_the_request_deadline_ends_the_read_and_the_transfer(proxied, upstream):
    a = proxied(overrides=single_net(http={"request_timeout_ms": 1000}))
    t0 = time.monotonic()
    # A byte every 100 ms: never silent long enough for the upstream actor
    # to give up, so only the request's deadline can end it.
    r, _ = digest(a, upstream, "/trickle?n=100&ms=100", over=4)
    took = time.monotonic() - t0
    assert r.status == 504, r.body
    assert took < 3 * SLOW, took
    wait_until(lambda: upstream.open == 0, 5 * SLOW, "the upstream connection to close")
    assert "no reply within the request deadline" in a.stderr()
    assert body_reads(a)[0::2] == (1, 1)
    assert digest(a, upstream, "/hello")[1]["end"] == "ok"


def test_stopping_during_a_read_ends_it_cleanly(proxied, upstream):
    # The drain gives up before the request's deadline: the handler stops
    # with the read in flight.
    a = proxied(overrides=single_net(drain_timeout_ms=300,
                                     http={"request_timeout_ms": 20000}))
    out = {}

    def fetch():
        try:
            out["r"] = digest(a, upstream, "/trickle?n=1000&ms=50", over=4, timeout=30)[0]
        except OSError as e:          # the connection closes unanswered
            out["r"] = e

    t = threading.Thread(target=fetch)
    t.start()
    wait_until(lambda: upstream.open == 1, 5 * SLOW, "the upstream transfer to start")
    time.sleep(0.3)
    # on_end runs with -ESHUTDOWN and frees the route's hash state (the
    # sanitizer builds' leak check would see it otherwise); the producer
    # hears the cancel and closes its upstream connection.
    assert a.stop() == 0
    t.join(30)
    assert not t.is_alive()
    assert getattr(out["r"], "status", None) != 200
    assert "drain deadline" in a.stderr()
    wait_until(lambda: upstream.open == 0, 5 * SLOW, "the upstream connection to close")

"""A route reading its request body piece by piece (handler/hreq_stream.h,
hreq_read_body: Tornado's @stream_request_body). A route registered with
ROUTE_STREAM_BODY gets every non-empty body streamed from the client's
network actor under the upload credit window, bounded by
http.max_stream_body_bytes instead of http.max_body_bytes; every other
route still gets its body whole.

The test route /_test/upload-digest (tests/app/upstream_test_routes.c)
hashes what its on_piece gets and answers JSON from its on_end, or
hreq_fail's 413 / 400 when the body was too large or cut short."""
import json
import threading
import time

from admin_helpers import body_reads
from conftest import SLOW, RawClient, wait_until
from test_upstream_upload import (big_upload, chunk_encode, digest, head, payload,
                                  send_quietly, send_upload, split)
from upstream_server import STREAM_BLOCK, stream_block, stream_digest

MIB = 1 << 20
BIG = 100 * MIB if SLOW == 1 else 16 * MIB
PATH = "/_test/upload-digest"


def one_net(**more):
    return {"actors": {"net": {"count": 1}}, **more}


def test_a_route_reads_a_100mb_upload_in_pieces_with_bounded_memory(actord_factory):
    a = actord_factory(one_net())
    c, r, _, grew = big_upload(a, PATH, BIG)
    assert r.status == 200, r.body[:300]
    d = json.loads(r.body)
    assert d["end"] == "ok" and d["streamed"]
    assert d["bytes"] == BIG and d["sha256"] == stream_digest(BIG)
    assert d["max_piece"] <= 64 * 1024 and d["pieces"] >= BIG // (64 * 1024)
    if SLOW == 1:
        # The credit window and the kernel's buffers, not the body; and
        # http.max_body_bytes (1 MiB) did not apply.
        assert grew < 32 * 1024, f"RSS grew {grew} KiB"
    assert body_reads(a) == (1, BIG, 0)
    # The connection is kept for the next request.
    c.send(head(PATH, 5) + b"hello")
    r = c.read_response()
    assert r.status == 200 and json.loads(r.body)["bytes"] == 5
    c.close()


def test_chunked_small_and_empty_bodies_and_other_routes(actord_factory):
    a = actord_factory(one_net())
    n = 3 * MIB + 17
    data = payload(n)
    c = RawClient(a.port, timeout=10)
    body = chunk_encode(data, [1, 700, 65536 + 7, 300000, MIB + 5], ext_every=3)
    r = send_upload(c, [head(PATH)] + split(body, 100003))
    d = json.loads(r.body)
    assert (d["end"], d["streamed"], d["bytes"], d["sha256"]) == ("ok", True, n, digest(data))
    # An empty body comes whole (nothing to stream): one on_end, no piece.
    c.send(head(PATH, 0))
    d = json.loads(c.read_response().body)
    assert (d["end"], d["streamed"], d["bytes"], d["pieces"]) == ("ok", False, 0, 0)
    c.close()
    # Any other route keeps http.max_body_bytes: answered 413 before the body.
    c = RawClient(a.port, timeout=10)
    c.send(head("/jobs", 2 * MIB))
    assert c.read_response().status == 413
    c.close()


def test_max_stream_body_bytes_bounds_the_body(actord_factory):
    a = actord_factory(one_net(http={"max_stream_body_bytes": MIB}))
    # A Content-Length over it: 413 before the body is read.
    c = RawClient(a.port, timeout=10)
    c.send(head(PATH, MIB + 1))
    assert c.read_response().status == 413
    c.close()
    # A chunked body that grows past it: cut, the route answers 413, closed.
    c = RawClient(a.port, timeout=10)
    errors = []
    body = chunk_encode(payload(2 * MIB), [65536])
    t = threading.Thread(target=send_quietly, args=(c.sock, [head(PATH)] + split(body, 65536),
                                                    errors))
    t.start()
    r = c.read_response()
    t.join(10)
    assert r.status == 413, r.body[:300]
    assert c.closed()
    wait_until(lambda: body_reads(a)[2] == 1, 5, "the cut read counted")
    c.close()


def test_a_route_that_stops_reading_answers_and_the_connection_closes(actord_factory):
    a = actord_factory(one_net())
    c = RawClient(a.port, timeout=10)
    errors = []
    n = 64 * MIB if SLOW == 1 else 16 * MIB
    pieces = [head(PATH + f"?stop={2 * MIB}", n)] + \
        [stream_block(k) for k in range(n // STREAM_BLOCK)]
    t = threading.Thread(target=send_quietly, args=(c.sock, pieces, errors))
    t.start()
    r = c.read_response()
    assert r.status == 200, r.body[:300]
    d = json.loads(r.body)
    assert d["end"] == "cancelled" and 2 * MIB <= d["bytes"] < n
    # The rest of the body is not wanted: the connection closes after the
    # answer rather than carrying a body nobody reads.
    assert c.closed(10)
    t.join(10)
    c.close()
    assert body_reads(a)[2] == 0                 # the route's own stop is not a cut
    assert a.get("/plaintext").status == 200


def test_a_client_leaving_mid_body_ends_the_read_as_cut(actord_factory):
    a = actord_factory(one_net())
    c = RawClient(a.port, timeout=10)
    c.send(head(PATH, 8 * MIB) + payload(3 * MIB))
    wait_until(lambda: body_reads(a)[1] >= MIB, 5 * SLOW, "the route to read part of the body")
    c.close()
    wait_until(lambda: body_reads(a)[2] == 1, 5 * SLOW, "the cut read counted")
    assert body_reads(a)[0] == 1
    # The route's on_end ran (-ECONNRESET, answered 400 to nobody) and
    # actord goes on.
    c = RawClient(a.port, timeout=10)
    c.send(head(PATH, 5) + b"hello")
    assert json.loads(c.read_response().body)["end"] == "ok"
    c.close()


def test_a_body_that_stalls_is_cut_by_the_body_timeout(actord_factory):
    a = actord_factory(one_net(http={"body_timeout_ms": 500, "body_min_rate": 0}))
    c = RawClient(a.port, timeout=10)
    t0 = time.monotonic()
    c.send(head(PATH, 1000) + b"x" * 10)
    # The network actor gives up on the body and closes the connection
    # (http.body_timeout_ms), aborting the stream: the route's read ends
    # cut (-ECONNRESET), its answer goes nowhere.
    assert c.closed(5)
    assert time.monotonic() - t0 < 3 * SLOW
    wait_until(lambda: body_reads(a) == (1, 10, 1), 5 * SLOW, "the cut read counted")
    c.close()
    assert a.get("/plaintext").status == 200

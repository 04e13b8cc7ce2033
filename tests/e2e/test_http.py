"""HTTP/1.1 behaviour of a real actord over real sockets (issue: HTTP).

Every test starts its own daemon with the limits and timeouts it needs,
short so the file runs in seconds; timeouts that the server enforces are
scaled by ACTORD_TEST_SLOW in the sanitizer builds, like the waits."""
import json
import os
import re
import socket
import time
import urllib.parse

import pytest

from admin_helpers import metric, metrics_of, wait_admin
from conftest import SLOW, RawClient, wait_until


def ms(n):
    """A server-side timeout of `n` ms, scaled for the sanitizer builds."""
    return int(n * SLOW)


def start(actord_factory, http=None, **over):
    cfg = dict(over)
    if http:
        cfg["http"] = http
    return actord_factory(cfg)


def raw(port, timeout=5):
    return RawClient(port, timeout=timeout)


def get(path, version="1.1", extra=""):
    return f"GET {path} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode()


# ---- Routes and the mandatory headers -----------------------------------

def test_plaintext_answers_hello_world_with_the_mandatory_headers(actord):
    r = actord.get("/plaintext")
    assert r.status == 200
    assert r.body == b"Hello, World!"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["content-length"] == "13"
    assert r.headers["server"] == "actord"
    assert r.headers["date"].endswith(" GMT")


def test_json_is_built_per_request(actord):
    r = actord.get("/json")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-length"] == str(len(r.body))
    assert r.json() == {"message": "Hello, World!"}


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(actord):
    r = actord.get("/nope")
    assert r.status == 404
    assert r.headers["content-type"] == "application/json"
    r = actord.request("POST", "/plaintext", body=b"x")
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD"


def test_route_parameters_and_query_are_decoded(actord):
    r = actord.get("/_test/params/x%20y/a/b?q=hi+there%21")
    assert r.json()["a"] == "x y"
    assert r.json()["b"] == "a/b"
    assert r.json()["q"] == "hi there!"
    assert r.json()["client"].startswith("127.0.0.1:")


# ---- Connections: keep-alive, pipelining, HTTP/1.0, HEAD, bodies ----------

def test_keep_alive_serves_many_requests_on_one_connection(actord):
    c = raw(actord.port)
    for _ in range(100):
        c.send(get("/plaintext"))
        r = c.read_response()
        assert r.body == b"Hello, World!"
        assert "connection" not in r.headers
    c.close()


def test_sixteen_pipelined_requests_are_answered_in_request_order(actord):
    # Later requests finish first in the handler (shorter delays): the
    # answers must still leave in request order.
    c = raw(actord.port)
    c.send(b"".join(get(f"/_test/delay?ms={(16 - i) * 10}&tag={i}") for i in range(16)))
    bodies = [c.read_response().body for _ in range(16)]
    assert bodies == [f"delayed {i}\n".encode() for i in range(16)]
    c.send(b"".join(get("/plaintext") for _ in range(16)))
    assert [c.read_response().body for _ in range(16)] == [b"Hello, World!"] * 16
    c.close()


def test_http10_without_keep_alive_closes_after_the_answer(actord):
    c = raw(actord.port)
    c.send(b"GET /plaintext HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == b"Hello, World!"
    assert r.headers["connection"] == "close"
    assert c.closed()
    c.close()


def test_http10_with_keep_alive_keeps_the_connection(actord):
    c = raw(actord.port)
    for _ in range(3):
        c.send(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.body == b"Hello, World!"
        assert r.headers["connection"] == "keep-alive"
    c.send(b"GET /json HTTP/1.0\r\n\r\n")   # no keep-alive: the last one
    assert c.read_response().headers["connection"] == "close"
    assert c.closed()
    c.close()


def test_http11_connection_close_is_honoured(actord):
    c = raw(actord.port)
    c.send(get("/plaintext", extra="Connection: close\r\n") + get("/plaintext"))
    assert c.read_response().headers["connection"] == "close"
    assert c.closed()          # the second request is never answered
    assert c.buf == b""
    c.close()


def test_a_declined_upgrade_keeps_the_connection(actord):
    # curl --http2 on http:// offers h2c with every request; a route that
    # is not a WebSocket answers in HTTP/1.1 and the connection goes on.
    c = raw(actord.port)
    c.send(get("/plaintext", extra="Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               "HTTP2-Settings: AAMAAABkAAQAAP__\r\n") + get("/json"))
    r = c.read_response()
    assert r.status == 200 and "connection" not in r.headers
    assert c.read_response().json() == {"message": "Hello, World!"}
    c.send(get("/plaintext"))
    assert c.read_response().status == 200
    c.close()


def test_head_has_the_length_of_get_but_no_body(actord):
    c = raw(actord.port)
    c.send(b"HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" + get("/json"))
    r = c.read_response(head=True)
    assert r.status == 200
    assert r.headers["content-length"] == "13"
    assert r.headers["content-type"] == "text/plain"
    # The next response starts right after the head: no body was sent.
    assert c.read_response().json() == {"message": "Hello, World!"}
    c.close()


def test_chunked_request_body_is_reassembled(actord):
    c = raw(actord.port)
    c.send(b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
           b"Content-Type: text/x-test\r\n\r\n"
           b"5\r\nhello\r\n7\r\n, world\r\n")
    c.send(b"1;ext=y\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 200
    assert r.body == b"hello, world!"
    assert r.headers["content-type"] == "text/x-test"
    c.close()


def test_expect_100_continue_is_answered_before_the_body(actord):
    c = raw(actord.port)
    c.send(b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    assert r.status == 100
    c.send(b"hello")
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    c.close()


def test_expect_100_continue_over_the_body_limit_gets_413_not_100(actord_factory):
    a = start(actord_factory, {"max_body_bytes": 1024})
    c = raw(a.port)
    c.send(b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    assert r.status == 413
    assert r.headers["connection"] == "close"
    c.close()


# ---- Limits: every one answered with its status, then the connection closes

def refused(port, request, status):
    """Send `request`, expect `status` with Connection: close, then EOF."""
    c = raw(port)
    c.send(request)
    r = c.read_response()
    assert r.status == status, r.body
    assert r.headers["connection"] == "close"
    assert r.headers["server"] == "actord"
    assert "date" in r.headers and "content-type" in r.headers
    assert c.closed()
    c.close()
    return r


def test_request_line_over_8_kib_is_414(actord):
    refused(actord.port, get("/" + "a" * 8200), 414)
    assert actord.get("/" + "a" * 8000).status == 404   # under the limit: routed


def test_header_block_over_64_kib_is_431(actord):
    big = "".join(f"X-H{i}: {'v' * 1000}\r\n" for i in range(66))
    refused(actord.port, get("/plaintext", extra=big), 431)


def test_more_than_100_header_fields_is_431(actord):
    refused(actord.port, get("/plaintext", extra="".join(f"X-H{i}: v\r\n" for i in range(101))), 431)
    c = raw(actord.port)   # 100 fields are fine ("Host" is one of them)
    c.send(get("/plaintext", extra="".join(f"X-H{i}: v\r\n" for i in range(99))))
    assert c.read_response().status == 200
    c.close()


def test_an_unknown_expectation_is_417_and_counted(actord):
    r = refused(actord.port, b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n"
                b"Content-Length: 3\r\n\r\nabc", 417)
    assert r.body == b"Expectation Failed\n"
    wait_until(lambda: "417 unsupported expectation" in actord.stderr(), 5, "its log line")
    assert sum(v for (n, ls), v in metrics_of(actord).items()
               if n == "actord_http_request_errors_total" and ("status", "417") in ls) == 1


def test_body_over_the_limit_is_413_before_the_body_is_read(actord):
    # 1 MiB is the default limit: the answer comes without a byte of body.
    r = refused(actord.port, b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n", 413)
    assert r.body == b"Payload Too Large\n"
    c = raw(actord.port)   # at the limit it is read and echoed
    c.send(b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n" + b"b" * 1048576)
    r = c.read_response()
    assert r.status == 200 and len(r.body) == 1048576
    c.close()


def test_content_length_with_transfer_encoding_is_400_and_close(actord):
    refused(actord.port, b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400)


def test_two_different_content_lengths_are_400_and_close(actord):
    refused(actord.port, b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                         b"Content-Length: 6\r\n\r\nhello!", 400)


def test_malformed_request_is_400_and_close(actord):
    refused(actord.port, b"GET /plaintext HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", 400)
    refused(actord.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400)   # TLS hello
    # An error answer waits for the answers owed before it.
    c = raw(actord.port)
    c.send(get("/_test/delay?ms=50&tag=first") + b"GARBAGE\r\n\r\n")
    assert c.read_response().body == b"delayed first\n"
    assert c.read_response().status == 400
    assert c.closed()
    c.close()


# ---- Slow and hostile clients --------------------------------------------

def test_slowloris_is_dropped_at_the_header_deadline_while_others_are_served(actord_factory):
    a = start(actord_factory, {"header_timeout_ms": ms(800)})
    slow = raw(a.port)
    t0 = time.monotonic()
    slow.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n")
    served = 0
    dropped_after = None
    # The slow client keeps trickling header bytes (so no idle timeout
    # applies): the deadline is absolute. Meanwhile others are served.
    while time.monotonic() - t0 < 5 * SLOW:
        try:
            slow.send(b"X")
        except (BrokenPipeError, ConnectionResetError):
            dropped_after = time.monotonic() - t0
            break
        slow.sock.settimeout(0.05)
        try:
            if slow.sock.recv(1) == b"":
                dropped_after = time.monotonic() - t0
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            # Closed with our trickled bytes unread: the kernel resets.
            dropped_after = time.monotonic() - t0
            break
        assert a.get("/plaintext").body == b"Hello, World!"
        served += 1
    assert dropped_after is not None, "the slow client was never dropped"
    assert 0.8 * SLOW * 0.9 <= dropped_after < 0.8 * SLOW + 2.5 * SLOW
    assert served >= 3
    slow.close()
    wait_until(lambda: "408 header section not complete" in a.stderr(), 5, "the timeout's log line")


def test_idle_keep_alive_connection_is_closed_at_its_timeout(actord_factory):
    a = start(actord_factory, {"keepalive_timeout_ms": ms(300)})
    c = raw(a.port)
    c.send(get("/plaintext"))
    assert c.read_response().status == 200
    t0 = time.monotonic()
    assert c.closed(timeout=3)
    assert time.monotonic() - t0 >= 0.3 * SLOW * 0.9
    c.close()
    assert "408" not in a.stderr()  # an idle connection is nobody's fault


def test_answer_read_slowly_is_not_cut_at_the_keep_alive_timeout(actord_factory):
    # A 12 MiB answer that a client reads steadily, but for longer than
    # keepalive_timeout_ms: the connection is busy, not idle, so only the
    # write timeout bounds it; the idle period starts once it is out (the
    # tail in the kernel buffers can take the client longer than that to
    # read here: the next request is not tried).
    a = start(actord_factory, {"keepalive_timeout_ms": ms(300), "write_timeout_ms": ms(5000)})
    # Slowly for twice that timeout, while most of the answer (more than
    # the kernel buffers hold) still waits in actord, then at full speed.
    n = 12 << 20
    c = raw(a.port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    c.send(get(f"/_test/bytes?n={n}"))
    t0 = time.monotonic()
    eof = False
    while time.monotonic() - t0 < 0.6 * SLOW and len(c.buf) < n:
        if not c.recv_some():
            eof = True
            break
        time.sleep(0.004)
    assert not eof                               # no EOF in the slow part
    # It outlasted the keep-alive period (a slow build may read all of it
    # before twice that is up, which is fine).
    assert time.monotonic() - t0 > 0.3 * SLOW
    r = c.read_response()
    assert r.status == 200 and len(r.body) == n
    c.close()


def test_stalled_body_is_dropped_at_the_body_timeout(actord_factory):
    a = start(actord_factory, {"body_timeout_ms": ms(300)})
    c = raw(a.port)
    c.send(b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf")
    assert c.closed(timeout=3)
    c.close()
    assert a.get("/plaintext").status == 200
    wait_until(lambda: "408 body stalled" in a.stderr(), 5, "the timeout's log line")


def test_client_that_never_reads_is_dropped_at_the_write_timeout(actord_factory):
    a = start(actord_factory, {"write_timeout_ms": ms(500), "output_high_water": 65536})
    c = raw(a.port)
    want = 20 * (1 << 20)   # more than the kernel buffers of both sides
    c.send(b"".join(get("/_test/bytes?n=1048576") for _ in range(20)))
    # The server stays responsive while that connection is stuck...
    for _ in range(5):
        assert a.get("/plaintext").status == 200
    # ...and resets it at the write timeout: reading now ends early. (A
    # sleep: nothing the client can observe without reading tells it that
    # the server gave up.)
    time.sleep(0.5 * SLOW + 0.5)
    got, reset = 0, False
    c.sock.settimeout(5 * SLOW)
    try:
        while True:
            data = c.sock.recv(1 << 20)
            if not data:
                break
            got += len(data)
    except ConnectionResetError:
        reset = True
    assert reset and got < want
    c.close()
    assert a.get("/plaintext").status == 200
    wait_until(lambda: "connection reset, 127.0.0.1:" in a.stderr(), 5, "the reset's log line")


def test_client_leaving_while_its_request_is_in_a_handler_is_harmless(actord):
    # The late reply finds no connection: dropped (and counted,
    # late_replies_total: tests/unit/net/test_net_actor.c), nothing else.
    for _ in range(20):
        c = raw(actord.port)
        c.send(get("/_test/delay?ms=30") + get("/_test/delay?ms=10"))
        c.close()
    c = raw(actord.port)
    c.send(get("/_test/delay?ms=60&tag=last"))
    assert c.read_response().body == b"delayed last\n"
    c.close()


def test_client_that_half_closes_after_its_requests_still_gets_the_answers(actord):
    # shutdown(SHUT_WR) after the requests (`nc -N`, some HTTP/1.0 tools):
    # the client still reads; the last answer says it closes.
    c = raw(actord.port)
    c.send(get("/_test/delay?ms=50&tag=a") + get("/plaintext") + b"GET /partial HT")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.read_response().body == b"delayed a\n"
    r = c.read_response()
    assert r.body == b"Hello, World!" and r.headers["connection"] == "close"
    assert c.closed()
    c.close()


def test_full_handler_mailbox_holds_requests_until_the_handler_has_room(actord_factory):
    # One handler with a 4-slot mailbox, blocked in /_test/block: requests
    # queue until the mailbox is full, then wait in the network actor (their
    # connections unread); none is refused, and all are answered once the
    # handler is free. Admission is far away: this is about the mailbox.
    block_ms = ms(1000)
    a = start(actord_factory, {"request_timeout_ms": 2 * block_ms + 1000},
              actors={"handler": {"count": 1, "mailbox": 4}},
              admission={"target_ms": 60000})
    blocker = raw(a.port)
    blocker.send(get(f"/_test/block?ms={block_ms}"))
    t0 = time.monotonic()
    wait_admin(a)
    wait_until(lambda: metric(metrics_of(a), "actord_handler_inflight", actor="handler-0") == 1,
               5, "the handler to block")
    pending = []
    for i in range(12):
        c = raw(a.port)
        c.send(get(f"/_test/params/{i}/x"))
        pending.append(c)
    for c in pending:            # nothing comes back while the handler blocks
        c.sock.settimeout(0.05 * SLOW)
        try:
            c.read_response()
            raise AssertionError("answered while the handler was blocked")
        except socket.timeout:
            pass
    blocker.sock.settimeout(10 * SLOW)
    assert blocker.read_response().body == b"blocked\n"
    for i, c in enumerate(pending):
        c.sock.settimeout(10 * SLOW)
        r = c.read_response()
        assert r.status == 200, r.status
        assert r.json()["a"] == str(i)
        c.close()
    assert time.monotonic() - t0 >= block_ms / 1000 - 0.05
    assert a.get("/plaintext").status == 200
    blocker.close()


def test_request_deadline_is_504_and_the_connection_stays_usable(actord_factory):
    a = start(actord_factory, {"request_timeout_ms": ms(300)})
    c = raw(a.port)
    t0 = time.monotonic()
    c.send(get("/_test/silent"))
    r = c.read_response()
    took = time.monotonic() - t0
    assert r.status == 504
    assert r.headers["content-type"] == "application/json"
    assert 0.3 * SLOW * 0.9 <= took < 0.3 * SLOW + 0.9 * SLOW
    c.send(get("/plaintext"))
    assert c.read_response().body == b"Hello, World!"
    c.close()


def assert_not_served(c):
    """`c`, over the connection limit, gets nothing for 0.3 s (x SLOW)."""
    c.sock.settimeout(0.3 * SLOW)
    try:
        data = c.sock.recv(100)
    except socket.timeout:
        data = None
    assert data is None, f"a connection over the limit was served: {data!r}"


def test_connection_limit_makes_extra_clients_wait_in_the_backlog(actord_factory):
    a = start(actord_factory, {"max_connections": 2})
    first, second = raw(a.port), raw(a.port)
    half = get("/plaintext")[:-2]   # a head without its blank line
    for c in (first, second):
        c.send(get("/plaintext"))
        assert c.read_response().status == 200
        c.send(half)       # busy: a request in progress is never closed for room
    third = raw(a.port)   # the kernel completes the handshake: it waits
    third.send(get("/plaintext"))
    assert_not_served(third)
    first.close()          # below the limit again: the third is accepted
    third.sock.settimeout(5 * SLOW)
    assert third.read_response().body == b"Hello, World!"
    second.send(b"\r\n")
    assert second.read_response().status == 200
    second.close()
    third.close()


def test_at_the_connection_limit_the_longest_idle_keep_alive_connection_makes_room(
        actord_factory):
    a = start(actord_factory, {"max_connections": 2})
    first, second = raw(a.port), raw(a.port)
    for c in (first, second):
        c.send(get("/plaintext"))
        assert c.read_response().status == 200
        time.sleep(0.05)   # `first` has been idle the longer
    time.sleep(1.1)        # idle for less than a second is never closed
    third = raw(a.port)
    third.send(get("/plaintext"))
    third.sock.settimeout(5 * SLOW)
    assert third.read_response().body == b"Hello, World!"
    first.sock.settimeout(5 * SLOW)
    assert first.sock.recv(100) == b"", "the longest idle connection was not the one closed"
    second.send(get("/plaintext"))
    assert second.read_response().status == 200
    m = metrics_of(wait_admin(a))
    assert metric(m, "actord_http_connections_reclaimed_total", actor="net-0") == 1
    wait_until(lambda: "closed the 1 longest idle connection" in a.stderr(), 5,
               "the log line")
    second.close()
    third.close()


def test_a_connection_that_goes_idle_while_clients_wait_makes_room(actord_factory):
    a = start(actord_factory, {"max_connections": 2})
    first, second = raw(a.port), raw(a.port)
    for c in (first, second):
        c.send(get("/plaintext")[:-2])   # heads in progress: nothing to close
    third = raw(a.port)
    third.send(get("/plaintext"))
    assert_not_served(third)
    first.send(b"\r\n")   # answered, then idle: the waiting client gets its place
    assert first.read_response().status == 200
    third.sock.settimeout(5 * SLOW)
    assert third.read_response().body == b"Hello, World!"
    first.sock.settimeout(5 * SLOW)
    assert first.sock.recv(100) == b""
    second.send(b"\r\n")
    assert second.read_response().status == 200
    second.close()
    third.close()


# ---- Access log ------------------------------------------------------------

def test_access_log_has_one_line_per_request(actord_factory, tmp_path):
    path = str(tmp_path / "access.log")
    a = start(actord_factory, log={"access_log": path, "format": "json"})
    c = raw(a.port)
    c.send(get("/plaintext") + get("/nope?x=1"))
    first, second = c.read_response(), c.read_response()
    c.send(b"BAD\r\n\r\n")
    c.read_response()
    c.close()

    def lines():
        if not os.path.exists(path):
            return None
        with open(path) as f:
            got = [json.loads(line) for line in f if line.strip()]
        return got if len(got) >= 3 else None
    got = wait_until(lines, 5, "three access-log lines")
    assert [(l["method"], l["path"], l["status"]) for l in got] == [
        ("GET", "/plaintext", 200), ("GET", "/nope?x=1", 404), ("-", "-", 400)]
    assert got[0]["client"].startswith("127.0.0.1:")
    assert got[0]["bytes"] > len(first.body) and got[1]["bytes"] > len(second.body)
    assert got[0]["duration_ms"] >= 0 and "@timestamp" in got[0]


def test_access_log_is_off_by_default(actord):
    assert actord.get("/plaintext").status == 200
    assert '"duration_ms"' not in actord.stderr()


# ---- Strict framing (RFC 9112): a valid request first, then the bad one ----

STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")

# name -> (bytes after a valid request, status). Every case hides a request
# (/_test/echo?smuggled) that a lenient parser would answer.
SMUGGLED = b"GET /_test/echo?smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
FRAMING = {
    "space_before_colon_te": (b"POST /_test/echo HTTP/1.1\r\nHost: t\r\n"
                              b"Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                              + SMUGGLED, 400),
    "space_before_colon_cl": (b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\n"
                              b"hello" + SMUGGLED, 400),
    "chunk_data_without_crlf": (b"POST /_test/echo HTTP/1.1\r\nHost: t\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n"
                                + SMUGGLED, 400),
    "chunk_size_bare_cr": (b"POST /_test/echo HTTP/1.1\r\nHost: t\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n5\rXhello\r\n0\r\n\r\n" + SMUGGLED, 400),
    "chunk_ext_bare_lf": (b"POST /_test/echo HTTP/1.1\r\nHost: t\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n"
                          + SMUGGLED, 400),
    "chunk_ext_too_long": (b"POST /_test/echo HTTP/1.1\r\nHost: t\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n5;" + b"e" * 2000
                           + b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED, 400),
    "no_host": (b"GET /_test/echo?nohost HTTP/1.1\r\n\r\n" + SMUGGLED, 400),
    "two_hosts": (b"GET /_test/echo?twohosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + SMUGGLED,
                  400),
    "http2_request_line": (b"GET /_test/echo?h2 HTTP/2.0\r\nHost: t\r\n\r\n" + SMUGGLED, 505),
    "bare_cr_ends_headers": (b"GET /_test/echo?cr HTTP/1.1\r\nHost: t\r\n\rX" + SMUGGLED, 400),
    "bare_lf_headers": (b"GET /_test/echo?lf HTTP/1.1\nHost: t\n\n" + SMUGGLED, 400),
    "obs_fold": (b"GET /_test/echo?fold HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n" + SMUGGLED, 400),
    "gzip_then_chunked": (b"POST /_test/echo HTTP/1.1\r\nHost: t\r\n"
                          b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, 501),
}


@pytest.mark.parametrize("case", sorted(FRAMING))
def test_bad_framing_is_refused_after_the_valid_request_before_it(actord_factory, tmp_path, case):
    bad, status = FRAMING[case]
    log = str(tmp_path / "access.log")
    a = start(actord_factory, log={"access_log": log, "format": "json"})
    c = raw(a.port)
    c.send(get("/_test/echo?first") + bad)
    assert c.closed(), "the connection stayed open after the refused request"
    statuses = [int(s) for s in STATUS_LINE.findall(c.buf)]
    assert statuses == [200, status], (statuses, c.buf[-300:])
    assert b"Connection: close\r\n" in c.buf.split(b"HTTP/1.1 %d " % status, 1)[1]
    c.close()

    def lines():
        with open(log) as f:
            got = [json.loads(line) for line in f if line.strip()]
        return got if len(got) >= 2 else None
    got = wait_until(lines, 5, "two access-log lines")
    assert [l["status"] for l in got] == [200, status]
    assert got[0]["path"] == "/_test/echo?first"
    assert "smuggled" not in open(log).read()
    assert a.get("/plaintext").status == 200     # the server is fine


def test_http10_client_never_gets_100_continue(actord):
    c = raw(actord.port)
    c.send(b"POST /_test/echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    # Nothing may come before the body is sent: wait for a would-be 100
    # (absence cannot be awaited; a short bounded read).
    c.sock.settimeout(0.3 * SLOW)
    with pytest.raises(socket.timeout):
        c.recv_some()
    c.sock.settimeout(5 * SLOW)
    c.send(b"hello")
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    assert b"100 Continue" not in c.buf
    c.close()


def test_414_to_head_has_no_body(actord):
    c = raw(actord.port)
    c.send(b"HEAD /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response(head=True)
    assert r.status == 414 and r.headers["content-length"] == "13"
    assert c.closed()
    assert c.buf == b"", c.buf      # no body bytes after the head
    c.close()


@pytest.mark.parametrize("how", ["connection_close", "http10"])
def test_closing_answer_is_not_reset_by_unread_input(actord, how):
    # A 4 MiB answer is still in the kernel when actord is done with the
    # connection, and the client sent more than actord reads: a plain
    # close() would reset the connection and discard the unsent answer.
    # actord half-closes and drains the input until the client closes.
    n = 4 << 20
    if how == "http10":
        req = f"GET /_test/bytes?n={n} HTTP/1.0\r\n\r\n".encode()
    else:
        req = get(f"/_test/bytes?n={n}", extra="Connection: close\r\n")
    c = raw(actord.port)
    c.send(req + b"X" * 300000)
    r = c.read_response()
    assert r.status == 200 and len(r.body) == n
    assert r.headers["connection"] == "close"
    assert c.closed()
    c.close()


def test_trickled_body_is_dropped_at_the_body_rate_deadline(actord_factory):
    # One byte every 0.2 s is never silent for body_timeout_ms, but is far
    # below body_min_rate: the absolute body deadline drops it.
    a = start(actord_factory, {"body_timeout_ms": ms(1000), "body_min_rate": 1024})
    c = raw(a.port)
    c.send(b"POST /_test/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n")
    t0 = time.monotonic()
    dropped = None
    while time.monotonic() - t0 < 6 * SLOW:
        try:
            c.send(b"b")
        except (BrokenPipeError, ConnectionResetError):
            dropped = time.monotonic() - t0
            break
        if c.closed(timeout=0.2):
            dropped = time.monotonic() - t0
            break
    assert dropped is not None, "a trickled body was never dropped"
    assert dropped < 1.0 * SLOW + 2.5 * SLOW
    c.close()
    assert a.get("/plaintext").status == 200


# ---- Response headers a route sets ------------------------------------------

@pytest.mark.parametrize("path", [
    "/_test/web/text?n=5&type=text/plain%0d%0aX-Injected:%201",
    "/_test/web/text?n=5&type=text/plain%0d%0a%0d%0a<html>injected",
    "/_test/web/text?n=5&type=text/plain%0b",
    "/_test/web/redirect?to=/x%0bY",
    "/_test/web/redirect?to=/x%0d%0aX-Injected:%201",
])
def test_control_characters_in_a_response_header_never_reach_the_client(actord, path):
    """A route that passes a foreign string as its Content-Type or a
    Location: a control character (CR, LF, VT...) would split or corrupt
    the response. The route's answer becomes a 500 (type) or its own error
    (redirect), and no such byte goes out."""
    c = raw(actord.port)
    c.send(get(path))
    r = c.read_response()
    assert r.status == 500
    assert "x-injected" not in r.headers and b"injected" not in r.body
    head = c.buf  # nothing else arrived after the 500
    assert head == b""
    c.close()


@pytest.mark.parametrize("name,value,rc", [
    ("X-Ok", "a\tb", 0), ("Bad Name", "v", -22), ("X-A", "v\x0bw", -22),
    ("Content-Length", "5", -1), ("transfer-encoding", "chunked", -1), ("Connection", "close", -1),
])
def test_a_route_cannot_add_a_framing_header_or_a_bad_one(actord, name, value, rc):
    """hreq_add_header: -EINVAL (-22) for a name that is not a token or a
    control character in the value, -EPERM (-1) for the headers that frame
    the message, which stay the network actor's alone."""
    q = urllib.parse.urlencode({"name": name, "value": value})
    c = raw(actord.port)
    c.send(get(f"/_test/web/header?{q}", extra="Connection: close\r\n"))
    assert c.closed()   # everything it sent is in c.buf
    head, body = c.buf.split(b"\r\n\r\n", 1)
    c.close()
    assert json.loads(body) == {"rc": rc}
    lines = head.decode("latin-1").lower().split("\r\n")
    if rc == 0:
        assert f"{name}: {value}".lower() in lines
    assert sum(line.startswith("content-length:") for line in lines) == 1
    assert sum(line.startswith("connection:") for line in lines) == 1
    assert not any(line.startswith("transfer-encoding:") for line in lines)


# ---- Routing: long paths and escapes ------------------------------------

def test_a_long_path_reaches_its_route_whole(actord):
    """Route parameters used to be decoded into a fixed 1 KiB buffer: a
    longer path (well within http.max_request_line) was answered 400 "a
    bad escape or %00", though it had neither."""
    long = "x" * 3000
    r = actord.get(f"/_test/params/{long}/a%2Fb/{long}")
    assert r.status == 200, r.body
    assert r.json()["a"] == long and r.json()["b"] == f"a/b/{long}"


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/_test/params/%zz/b", 400), ("POST", "/_test/params/%zz/b", 405),
    ("GET", "/_test/params/%zz", 404),
])
def test_a_bad_escape_is_400_only_where_a_route_would_run(actord, method, path, status):
    r = actord.request(method, path)
    assert r.status == status, r.body
    assert "error" in r.json()
    if status == 405:
        assert r.headers["allow"] == "GET, HEAD"


def test_a_flood_of_5xx_answers_is_logged_within_a_budget(actord):
    """Every 5xx was a warning line: with MariaDB down (here: no mysql
    actor), each request to /db wrote one, a log flood at full load. Now
    at most 20 a second per handler, and the next line says how many were
    not logged."""
    c = raw(actord.port)
    for _ in range(100):
        c.send(get("/db"))
        assert c.read_response().status == 503
    c.close()
    pattern = re.compile(r"GET /db: 503 world query: unavailable")
    wait_until(lambda: len(pattern.findall(actord.stderr())) >= 1, 5, "a 503 line")
    time.sleep(1.1)     # the next second's budget
    assert actord.get("/db").status == 503
    wait_until(lambda: "more 5xx answers not logged" in actord.stderr(), 5, "the tally")
    lines = pattern.findall(actord.stderr())
    assert 2 <= len(lines) <= 61, len(lines)


def test_a_route_that_returns_without_replying_is_one_500_and_one_line(actord):
    """It was logged twice: an error line, then the 500's own warning."""
    r = actord.get("/_test/no-reply")
    assert r.status == 500 and r.json() == {"error": "the route returned without replying"}
    # A later 5xx's line comes after every line of the first (one handler,
    # one log actor, in order).
    assert actord.get("/db").status == 503
    wait_until(lambda: "GET /db: 503" in actord.stderr(), 5, "the later line")
    assert actord.stderr().count("/_test/no-reply") == 1, actord.stderr()


def test_a_route_status_that_is_not_final_is_answered_500(actord):
    """A route answering 100 sent "HTTP/1.1 100 Continue" as its only
    answer: the client took it as interim and waited for the real one
    (101 too, outside a WebSocket handshake); 600..999 went out as is."""
    for code, status in [(201, 201), (599, 599), (100, 500), (103, 500), (101, 500),
                         (600, 500), (42, 500)]:
        c = raw(actord.port)
        c.send(get(f"/_test/status?code={code}"))
        assert c.read_response().status == status, code
        c.close()

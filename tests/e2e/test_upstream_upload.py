"""Streamed proxy request bodies (uploads): a body to a reverse-proxy route
whose Content-Length is over upstream.proxy_buffer_bytes, or that is
chunked (any size), goes to the upstream as it arrives from the client
(the head at once, then the body under a credit window), never whole in
actord; upstream.proxy_max_body_bytes bounds it (413) and
http.max_body_bytes still bounds every other route. The upstream side is
upstream_server.py's /upload paths, which read the body as it arrives and
record what they saw (`upstream.uploads`). The counterpart for responses
is test_upstream_stream.py."""
import hashlib
import itertools
import threading
import time

from admin_helpers import metric, metrics_of
from conftest import SLOW, RawClient, wait_until
from upstream_server import (STREAM_BLOCK, proxied, rss_kib, single_net,  # noqa: F401
                             stream_block, stream_digest, upstream)

MIB = 1 << 20
KIB = 1 << 10
# As in test_upstream_stream.py: the full size and the memory bound are for
# the Release build; the sanitizer builds check the protocol on 16 MiB.
BIG = 100 * MIB if SLOW == 1 else 16 * MIB


def counters(a):
    """(streamed requests, their body bytes, aborted) of the one network actor."""
    m = metrics_of(a)
    return (metric(m, "actord_http_streamed_requests_total", actor="net-0"),
            metric(m, "actord_http_streamed_request_bytes_total", actor="net-0"),
            metric(m, "actord_http_streamed_requests_aborted_total", actor="net-0"))


def counted(a, before, requests, nbytes=None, aborted=None):
    """Wait until the counters moved by (requests, nbytes, aborted) from
    `before` (None: not checked)."""
    def moved():
        now = counters(a)
        want = (requests, nbytes, aborted)
        return all(w is None or n - b == w for n, b, w in zip(now, before, want)) and now
    try:
        return wait_until(moved, 5, f"the upload counters to move by {(requests, nbytes, aborted)}")
    except AssertionError as e:
        raise AssertionError(f"{e}: from {before} to {counters(a)}") from None


def payload(n):
    """The first n bytes of the /stream sequence (numbered 1 MiB blocks:
    a misordered or repeated block shows in the digest)."""
    return b"".join(stream_block(k) for k in range((n + STREAM_BLOCK - 1) // STREAM_BLOCK))[:n]


def digest(data):
    return hashlib.sha256(data).hexdigest()


def head(path, length=None, extra=""):
    """A POST head: Content-Length `length`, or chunked when None."""
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return f"POST {path} HTTP/1.1\r\nHost: t\r\n{framing}\r\n{extra}\r\n".encode()


def chunk_encode(data, sizes, ext_every=0, last=True):
    """`data` chunk-encoded, the chunk sizes cycling through `sizes` (a
    chunk extension on every ext_every-th chunk); with the last chunk and
    the empty trailer unless last=False."""
    out, off = [], 0
    for i in itertools.count():
        if off >= len(data):
            break
        piece = data[off:off + sizes[i % len(sizes)]]
        ext = b";x=y" if ext_every and i % ext_every == 0 else b""
        out.append(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
        off += len(piece)
    if last:
        out.append(b"0\r\n\r\n")
    return b"".join(out)


def split(data, size):
    """Writes of `size` bytes: they cut chunk-size lines and CRLFs anywhere."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def send_upload(c, pieces, each=None):
    """Send `pieces` on c, then read the answer. A send that fails (actord
    answered and closed instead of taking the body) fails the test with
    what actord said."""
    try:
        for p in pieces:
            c.send(p)
            if each:
                each(len(p))
    except OSError as e:
        try:
            r = c.read_response()
            said = f"{r.status} {r.body[:300]!r}"
        except (OSError, EOFError) as e2:
            said = repr(e2)
        raise AssertionError(f"actord stopped taking the body ({e!r}); "
                             f"its answer: {said}") from None
    return c.read_response()


def upload(port, path, data, chunk_sizes=None):
    """One upload of `data` on its own connection, with Content-Length or
    (chunk_sizes given) chunked. Returns the answer."""
    c = RawClient(port, timeout=10)
    if chunk_sizes is None:
        r = send_upload(c, [head(path, len(data))] + split(data, MIB))
    else:
        r = send_upload(c, [head(path)] + split(chunk_encode(data, chunk_sizes), 100003))
    c.close()
    return r


def check_upload(r, want_digest, n, is_chunked):
    """The /upload answer: the upstream read `n` bytes hashing to want_digest."""
    assert r.status == 200, (r.status, r.body[:300])
    got = r.json()
    assert got["complete"] is True
    assert got["bytes"] == n, got
    assert got["sha256"] == want_digest, "the body arrived altered"
    assert got["chunked"] is is_chunked, got
    return got


def send_quietly(sock, pieces, errors):
    """Send from a thread; actord may answer and close meanwhile: keep
    the error instead of raising it."""
    try:
        for p in pieces:
            sock.sendall(p)
    except OSError as e:
        errors.append(e)


def cut_short(upstream, path="/upload"):
    """The last `path` upload, once the upstream saw its connection end
    before the body did."""
    def ended():
        recs = [u for u in upstream.uploads if u["path"] == path]
        return recs and recs[-1]["complete"] is False and recs[-1]
    return wait_until(ended, 5, f"the upstream to see an incomplete {path} body")


def big_upload(a, path, n):
    """Upload the first n bytes of /stream to `path` with Content-Length,
    sampling actord's RSS every 8 MiB sent. Returns (the open client, its
    answer, seconds taken, the RSS growth in KiB at its peak)."""
    before = rss_kib(a)
    peak, sent = [before], [0]

    def sample(k):
        sent[0] += k
        if sent[0] % (8 * MIB) < k:
            peak[0] = max(peak[0], rss_kib(a))

    c = RawClient(a.port, timeout=30)
    t0 = time.monotonic()
    blocks = (stream_block(k) for k in range(n // STREAM_BLOCK))
    r = send_upload(c, itertools.chain([head(path, n)], blocks), sample)
    took = time.monotonic() - t0
    return c, r, took, max(peak[0], rss_kib(a)) - before


def test_100mb_upload_streams_through_with_bounded_memory(proxied, upstream):
    """A Content-Length body over proxy_buffer_bytes reaches the upstream intact with its length
    while actord's RSS stays bounded, and is counted."""
    a = proxied(overrides=single_net())
    assert a.get("/proxy/hello").status == 200
    before_n = counters(a)
    c, r, took, grew = big_upload(a, "/proxy/upload", BIG)
    got = check_upload(r, stream_digest(BIG), BIG, False)
    assert got["content_length"] == str(BIG)
    rec = upstream.uploads[-1]
    assert rec["complete"] is True and rec["content_length"] == str(BIG) and not rec["chunked"]
    assert took < 40 * SLOW
    if SLOW == 1:
        # The credit window (256 KiB) and the kernel's buffers, not the
        # body: 100 MB buffered would be 100 MB and more.
        assert grew < 32 * 1024, f"RSS grew {grew} KiB"
    counted(a, before_n, 1, BIG, 0)
    # The client connection is kept: a small request follows on it.
    c.send(b"GET /proxy/hello HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    c.close()


def test_a_chunked_upload_is_streamed_and_forwarded_chunked(proxied, upstream):
    """A chunked body of any size is streamed and reaches the upstream chunked and byte for
    byte, whatever its chunks and write boundaries."""
    a = proxied(overrides=single_net())
    before = counters(a)
    n = 5 * MIB + 321
    data = payload(n)
    # Tiny and large chunks, an extension now and then, written in pieces
    # that cut chunk-size lines and CRLFs.
    body = chunk_encode(data, [1, 3, 700, 4096, 65536 + 7, 2, 300000, MIB + 5], ext_every=5)
    c = RawClient(a.port, timeout=10)
    r = send_upload(c, [head("/proxy/upload")] + split(body, 100003))
    got = check_upload(r, digest(data), n, True)
    assert got["content_length"] is None
    rec = upstream.uploads[-1]
    assert rec["chunked"] and rec["content_length"] is None and rec["complete"] is True
    counted(a, before, 1, n, 0)
    # Five bytes, chunked: streamed too (its length is unknown at the head).
    r = send_upload(c, [head("/proxy/upload"), b"5\r\nhel", b"lo\r\n0\r\n\r\n"])
    check_upload(r, digest(b"hello"), 5, True)
    c.close()
    assert upstream.uploads[-1]["chunked"]
    counted(a, before, 2, n + 5, 0)


def test_proxy_buffer_bytes_divides_streamed_from_buffered_bodies(proxied, upstream):
    """With Content-Length, one byte over proxy_buffer_bytes is streamed and a body at it is
    buffered; both arrive intact with their length."""
    a = proxied(overrides=single_net(), proxy_buffer_bytes=65536)
    before = counters(a)
    over = payload(65537)
    r = upload(a.port, "/proxy/upload", over)
    assert check_upload(r, digest(over), 65537, False)["content_length"] == "65537"
    counted(a, before, 1, 65537, 0)
    at = payload(65536)
    r = upload(a.port, "/proxy/upload", at)
    assert check_upload(r, digest(at), 65536, False)["content_length"] == "65536"
    counted(a, before, 1, 65537, 0)
    assert [u["content_length"] for u in upstream.uploads] == ["65537", "65536"]


def test_proxy_max_body_bytes_bounds_a_streamed_upload(proxied, upstream):
    """Over upstream.proxy_max_body_bytes a declared length is 413 before the upstream sees a
    request, and a chunked body growing past it is 413 and cut on both sides."""
    limit = 2 * MIB
    a = proxied(overrides=single_net(), proxy_buffer_bytes=64 * KIB, proxy_max_body_bytes=limit)
    # At the limit (and over http.max_body_bytes, 1 MiB): it passes.
    data = payload(limit)
    check_upload(upload(a.port, "/proxy/upload", data), digest(data), limit, False)
    # One byte over, declared: 413 at once, without a byte of body, and
    # no 100 Continue for it either.
    for extra in ("", "Expect: 100-continue\r\n"):
        c = RawClient(a.port)
        c.send(head("/proxy/upload", limit + 1, extra))
        r = c.read_response()
        assert r.status == 413, r.body
        assert r.headers["connection"] == "close"
        assert c.closed()
        c.close()
    assert len(upstream.uploads) == 1 and upstream.count("POST", "/upload") == 1
    # Chunked, growing past it: 413 and closed; the upstream's connection
    # ends inside the body.
    before = counters(a)
    c = RawClient(a.port)
    c.send(head("/proxy/upload"))
    errors = []
    body = split(chunk_encode(payload(4 * MIB), [64 * KIB]), 64 * KIB)
    t = threading.Thread(target=send_quietly, args=(c.sock, body, errors), daemon=True)
    t.start()
    r = c.read_response()
    assert r.status == 413, r.body
    assert r.headers["connection"] == "close"
    assert c.closed()
    c.close()
    t.join(10 * SLOW)
    rec = cut_short(upstream)
    assert rec["chunked"] and rec["bytes"] <= limit, rec["bytes"]
    assert upstream.count("POST", "/upload") == 2
    counted(a, before, 1, None, 1)
    assert a.get("/proxy/hello").status == 200


def test_a_client_leaving_mid_upload_cuts_the_upstream_body(proxied, upstream):
    """A client closing mid-body makes actord close the upstream connection before the body
    completed; actord serves on."""
    a = proxied(overrides=single_net())
    assert a.get("/proxy/hello").status == 200
    before = counters(a)
    n = 8 * MIB
    c = RawClient(a.port)
    c.send(head("/proxy/upload", n))
    for block in split(payload(4 * MIB), MIB):
        c.send(block)
    # Streamed: the upstream is reading the body while the client has
    # sent half of it.
    wait_until(lambda: upstream.uploads and upstream.uploads[-1]["bytes"] > 0, 5,
               "the upstream to receive the first body bytes")
    c.close()
    rec = cut_short(upstream)
    assert 0 < rec["bytes"] <= 4 * MIB
    counted(a, before, 1, None, 1)
    r = a.get("/proxy/hello")
    assert r.status == 200 and r.body == b"hello"


def test_an_upstream_answering_before_the_body_ends_answers_the_client(proxied, upstream):
    """An upstream answering 403 after the head, then closing or reading nothing, gives the
    client that 403 at once: with Connection: close, or, when the rest of the body had
    already arrived (and been dropped) by then, on a connection that stays usable; actord
    serves on."""
    a = proxied(overrides=single_net())
    assert a.get("/proxy/hello").status == 200
    before = counters(a)
    body = split(payload(8 * MIB), MIB)
    hold_ms = int(5000 * SLOW)
    for path in ("/proxy/upload-early?code=403", f"/proxy/upload-early?code=403&hold_ms={hold_ms}"):
        c = RawClient(a.port)
        c.send(head(path, 8 * MIB))
        errors = []
        t0 = time.monotonic()
        t = threading.Thread(target=send_quietly, args=(c.sock, body, errors), daemon=True)
        t.start()
        r = c.read_response()
        # Holding its connection open without reading, the upstream does
        # not hold the answer back.
        assert time.monotonic() - t0 < hold_ms / 1000, path
        assert r.status == 403, (path, r.status, r.body[:300])
        assert r.body == b"early answer"
        if r.headers.get("connection") == "close":
            assert c.closed(), "actord kept the client connection after an early answer"
        else:
            # The whole body was in (and dropped) before the answer went
            # out: the connection rightly stays, and serves the next one.
            t.join(10 * SLOW)
            assert errors == []
            c.send(b"GET /proxy/hello HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
            assert (r.status, r.body) == (200, b"hello")
        c.close()
        t.join(10 * SLOW)
    assert [u["early"] for u in upstream.uploads] == [403, 403]
    counted(a, before, 2, None, 2)
    r = a.get("/proxy/hello")
    assert r.status == 200 and r.body == b"hello"


def test_expect_100_continue_on_a_streamed_upload(proxied, upstream):
    """Expect: 100-continue on a streamed upload gets 100 Continue before the body, then the
    upstream's answer; Expect is not forwarded."""
    a = proxied(overrides=single_net())
    before = counters(a)
    n = 4 * MIB
    c = RawClient(a.port, timeout=5)
    c.send(head("/proxy/upload", n, "Expect: 100-continue\r\n"))
    while b"\r\n\r\n" not in c.buf:
        assert c.recv_some(), "closed instead of 100 Continue"
    assert c.buf.startswith(b"HTTP/1.1 100 Continue\r\n"), c.buf[:200]
    assert c.read_response().status == 100
    data = payload(n)
    r = send_upload(c, split(data, MIB))
    check_upload(r, digest(data), n, False)
    c.close()
    rec = upstream.uploads[-1]
    assert "expect" not in {k.lower() for k, _ in rec["headers"]}
    counted(a, before, 1, n, 0)


def test_a_request_pipelined_after_an_upload_is_answered_in_order(proxied, upstream):
    """A GET pipelined behind a streamed upload (Content-Length or chunked) on one connection is
    answered after it, in order."""
    a = proxied(overrides=single_net())
    before = counters(a)
    n = 2 * MIB
    data = payload(n)
    get = b"GET /proxy/hello HTTP/1.1\r\nHost: t\r\n\r\n"
    for is_chunked in (False, True):
        body = chunk_encode(data, [100000]) if is_chunked else data
        c = RawClient(a.port)
        c.send(head("/proxy/upload", None if is_chunked else n) + body + get)
        check_upload(c.read_response(), digest(data), n, is_chunked)
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello"
        c.close()
    counted(a, before, 2, 2 * n, 0)


def test_other_routes_keep_http_max_body_bytes(proxied, upstream):
    """http.max_body_bytes still refuses a larger body (declared or chunked) with 413 on a
    non-proxy route, while the proxy streams larger ones."""
    a = proxied(overrides=single_net(http={"max_body_bytes": 4096}), proxy_buffer_bytes=4096)
    for request in (head("/_test/echo", 4097),
                    head("/_test/echo") + chunk_encode(b"b" * 8192, [1024])):
        c = RawClient(a.port)
        c.send(request)
        r = c.read_response()
        assert r.status == 413, r.body
        assert r.headers["connection"] == "close"
        assert c.closed()
        c.close()
    c = RawClient(a.port)   # within it, both are read whole and echoed
    c.send(head("/_test/echo") + chunk_encode(b"c" * 4096, [1000]))
    r = c.read_response()
    assert r.status == 200 and r.body == b"c" * 4096
    c.close()
    before = counters(a)
    data = payload(64 * KIB)
    check_upload(upload(a.port, "/proxy/upload", data), digest(data), len(data), False)
    check_upload(upload(a.port, "/proxy/upload", data, [5000]), digest(data), len(data), True)
    counted(a, before, 2, 2 * len(data), 0)


def test_a_route_answering_without_the_body_closes_or_keeps_the_connection(proxied, upstream):
    """A streamed upload the route refuses without calling the upstream (a path
    the proxy cannot forward: 400) is answered at once; with its body still
    arriving the connection closes after the answer, with all of it already
    read the next request on the connection is served."""
    a = proxied(overrides=single_net(), proxy_buffer_bytes=4096)
    before = counters(a)
    c = RawClient(a.port)
    c.send(head("/proxy/%2e%2e/upload", 8 * MIB) + b"x" * 65536)   # most of it never sent
    r = c.read_response()
    assert r.status == 400 and b"dot-segment" in r.body
    assert r.headers["connection"] == "close"
    assert c.closed()
    c.close()
    counted(a, before, 1, None, 1)
    assert upstream.uploads == []
    # A whole small body (over the threshold, within one read): kept alive.
    c = RawClient(a.port)
    c.send(head("/proxy/%2e%2e/upload", 5000) + b"y" * 5000 +
           b"GET /proxy/hello HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 400
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    c.close()


def test_an_upstream_not_reading_holds_the_client_back(proxied, upstream):
    """An upstream that reads nothing stops the client's upload at the credit window and the
    kernel buffers, with actord's memory bounded; once it reads, everything arrives."""
    # The deliberate stall must not trip the upstream's response deadline.
    a = proxied(overrides=single_net(), response_timeout_ms=int(30000 * SLOW),
                first_byte_timeout_ms=int(30000 * SLOW))
    n = 64 * MIB
    assert a.get("/proxy/hello").status == 200
    before = rss_kib(a)
    upstream.gate.clear()
    sent, errors = [0], []
    c = RawClient(a.port, timeout=30)
    c.send(head("/proxy/upload?gate=1", n))

    def sender():
        try:
            for k in range(n // STREAM_BLOCK):
                c.sock.sendall(stream_block(k))
                sent[0] += STREAM_BLOCK
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=sender, daemon=True)
    try:
        t.start()
        # The head reaches the upstream before the body is complete.
        wait_until(lambda: upstream.uploads, 5, "the request head at the upstream")

        def held_back():
            was = sent[0]
            time.sleep(0.5)
            return sent[0] == was

        wait_until(held_back, 20, "the client to be held back")
        stalled = sent[0]
        assert not errors, errors
        assert stalled < n // 2, f"{stalled} bytes taken from a client whose upstream reads none"
        if SLOW == 1:
            assert rss_kib(a) - before < 16 * 1024, f"RSS grew {rss_kib(a) - before} KiB"
    finally:
        upstream.gate.set()
    t.join(30 * SLOW)
    assert not errors, errors
    r = c.read_response()
    check_upload(r, stream_digest(n), n, False)
    c.close()


def test_send_timeout_bounds_an_upstream_that_reads_nothing(proxied, upstream):
    """upstream.send_timeout_ms (60 s, like nginx's proxy_send_timeout), not
    the 4 s first-byte timeout, bounds an upstream that pauses reading a
    streamed body: a 6 s pause is waited out; past a short send timeout
    the client gets 504 and the log says why."""
    n = 32 * MIB
    data = payload(n)
    for send_timeout_ms, pause, status in ((None, 6.0, 200), (500, None, 504)):
        over = {} if send_timeout_ms is None else {"send_timeout_ms": send_timeout_ms}
        a = proxied(overrides=single_net(), **over)
        upstream.gate.clear()
        c = RawClient(a.port, timeout=30 * SLOW)
        errors = []
        t = threading.Thread(target=send_quietly,
                             args=(c.sock, [head("/proxy/upload?gate=1", n)] + split(data, MIB),
                                   errors), daemon=True)
        try:
            t.start()
            wait_until(lambda: upstream.uploads, 5, "the request head at the upstream")
            if pause is not None:
                time.sleep(pause)
                upstream.gate.set()
            r = c.read_response()
        finally:
            upstream.gate.set()
        t.join(30 * SLOW)
        c.close()
        if status == 200:
            assert not errors, errors
            check_upload(r, digest(data), n, False)
        else:
            assert r.status == 504, (r.status, r.body[:300])
            wait_until(lambda: "request body not taken in time" in a.stderr(), 5,
                       "the log line (the log actor writes it)")
        upstream.uploads.clear()

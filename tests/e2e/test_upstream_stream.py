"""Streamed proxy responses (issue 19): a body over upstream.proxy_buffer_bytes
goes from the upstream actor to the client's network actor in pieces, under
a credit window, so actord's memory stays bounded whatever the body's size
and however slowly the client reads (net/stream_msg.h)."""
import hashlib
import socket
import time

from admin_helpers import metric, metrics_of
from conftest import SLOW, wait_until
from upstream_server import (proxied, rss_kib, single_net, stream_digest,  # noqa: F401
                             upstream)

MIB = 1 << 20
# The sanitizer builds are several times slower and their allocators keep
# freed memory (ASan's quarantine): the full size and the memory bound are
# for the Release build, the protocol is checked everywhere.
BIG = 100 * MIB if SLOW == 1 else 16 * MIB


class Response:
    """One GET over a raw socket: the head parsed, the body read by us."""

    def __init__(self, port, path, keep=None):
        self.sock = keep or socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            assert data, "closed before the head"
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, v in (line.split(":", 1) for line in lines[1:])}

    def _recv(self, n=256 * 1024):
        if self.buf:
            data, self.buf = self.buf[:n], self.buf[n:]
            return data
        return self.sock.recv(n)

    def _exact(self, n):
        out = b""
        while len(out) < n:
            data = self._recv(n - len(out))
            if not data:
                return out
            out += data
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def body(self, on_piece=lambda got: None):
        """(sha256, bytes, complete): the de-chunked body as it arrives."""
        h, got = hashlib.sha256(), 0
        if "content-length" in self.headers:
            want = int(self.headers["content-length"])
            while got < want:
                data = self._recv(min(256 * 1024, want - got))
                if not data:
                    return h.hexdigest(), got, False
                h.update(data)
                got += len(data)
                on_piece(got)
            return h.hexdigest(), got, True
        assert self.headers.get("transfer-encoding") == "chunked"
        while True:
            line = self._line()
            if line is None:
                return h.hexdigest(), got, False
            size = int(line.split(b";")[0], 16)
            if size == 0:
                return h.hexdigest(), got, self._line() == b""
            data = self._exact(size)
            h.update(data)
            got += len(data)
            if len(data) < size or self._exact(2) != b"\r\n":
                return h.hexdigest(), got, False
            on_piece(got)


def streamed(a):
    m = metrics_of(a)
    return (metric(m, "actord_http_streamed_responses_total", actor="net-0"),
            metric(m, "actord_http_streamed_bytes_total", actor="net-0"),
            metric(m, "actord_http_streams_aborted_total", actor="net-0"))


def test_100mb_streamed_response_with_bounded_memory(proxied):
    a = proxied(overrides=single_net())
    assert a.get("/proxy/hello").status == 200
    before = rss_kib(a)
    peak = [before]

    def sample(got):
        if got % (8 * MIB) < 256 * 1024:
            peak[0] = max(peak[0], rss_kib(a))

    t0 = time.monotonic()
    r = Response(a.port, f"/proxy/stream?n={BIG}")
    assert r.status == 200
    assert r.headers["content-length"] == str(BIG)
    digest, got, complete = r.body(sample)
    took = time.monotonic() - t0
    assert complete and got == BIG
    assert digest == stream_digest(BIG)
    assert took < 40 * SLOW
    if SLOW == 1:
        # Bounded: the credit window (256 KiB) and a piece per stream, not
        # the body; 100 MB buffered would be 100 MB and more.
        assert peak[0] - before < 32 * 1024, f"RSS grew {peak[0] - before} KiB"
    assert streamed(a)[:2] == (1, BIG)
    # The connection is kept: a small answer follows on it, buffered as ever.
    r2 = Response(a.port, "/proxy/hello", keep=r.sock)
    assert r2.status == 200 and r2.headers["content-length"] == "5"
    r.sock.close()


def test_a_slow_reader_slows_the_upstream_and_gets_everything(proxied, upstream):
    a = proxied(overrides=single_net())
    n = 64 * MIB
    assert a.get("/proxy/hello").status == 200
    before = rss_kib(a)
    r = Response(a.port, f"/proxy/stream?n={n}")
    # Read nothing: the kernel buffers fill, actord stops reading the
    # upstream, the upstream's sendall blocks.
    wait_until(lambda: upstream.stream_sent > 0, 10, "the upstream to start")

    def held_back():
        sent = upstream.stream_sent
        time.sleep(0.5)
        return upstream.stream_sent - sent <= 256 * 1024

    wait_until(held_back, 20, "the upstream to be held back")
    stalled = upstream.stream_sent
    # What the kernel buffers hold on the way (both sockets' send and
    # receive buffers), nowhere near the body.
    assert stalled < n // 2, f"{stalled} bytes left the upstream for a client reading none"
    if SLOW == 1:
        assert rss_kib(a) - before < 16 * 1024
    # Then read slowly for a while, then at full speed: everything arrives.
    t_end = time.monotonic() + 1.0

    def pace(got):
        if time.monotonic() < t_end:
            time.sleep(0.002)

    digest, got, complete = r.body(pace)
    assert complete and got == n, (got, a.stderr()[-2000:])
    assert digest == stream_digest(n)
    r.sock.close()


def test_unsized_body_is_streamed_chunked_and_keeps_the_connections(proxied, upstream):
    a = proxied(overrides=single_net(), proxy_buffer_bytes=MIB)
    n = 5 * MIB + 123
    sock = None
    for _ in range(2):
        r = Response(a.port, f"/proxy/stream?n={n}&chunked=1", keep=sock)
        assert r.status == 200
        assert r.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in r.headers
        digest, got, complete = r.body()
        assert complete and got == n and digest == stream_digest(n)
        sock = r.sock
    sock.close()
    assert upstream.accepted == 1          # the upstream connection was kept too
    # Under the threshold nothing changes: a whole body with its length.
    r = Response(a.port, "/proxy/stream?n=1000&chunked=1")
    assert r.headers["content-length"] == "1000" and r.body()[2]
    r.sock.close()
    wait_until(lambda: streamed(a)[:2] == (2, 2 * n), 5, "the stream metrics")


def test_an_upstream_dying_mid_body_closes_the_client_connection(proxied):
    a = proxied(overrides=single_net())
    for chunked in (0, 1):
        r = Response(a.port, f"/proxy/stream?n={8 * MIB}&cut={3 * MIB}&chunked={chunked}")
        assert r.status == 200
        digest, got, complete = r.body()
        assert not complete, "a truncated body must not look complete"
        assert got <= 3 * MIB
        r.sock.close()
    wait_until(lambda: streamed(a)[2] == 2, 5, "two aborted streams counted")
    assert a.get("/proxy/hello").status == 200
    assert "upstream" in a.stderr()


def test_a_client_leaving_cancels_the_upstream_read(proxied, upstream):
    a = proxied(overrides=single_net())
    r = Response(a.port, f"/proxy/stream?n={BIG}")
    r._exact(2 * MIB)
    r.sock.close()
    # actord drops its upstream connection: the upstream's send fails and
    # its connection ends, long before the body could have been sent.
    wait_until(lambda: upstream.open == 0, 10, "the upstream connection to close")
    assert upstream.stream_sent < BIG
    wait_until(lambda: streamed(a)[2] == 1, 5, "the cancelled stream counted")
    assert a.get("/proxy/hello").status == 200


def test_an_upstream_stalling_mid_body_is_cut_at_the_read_timeout(proxied):
    # Streamed from its head (20 bytes over a 4-byte threshold); the
    # upstream then sends a byte every 5 s, past read_timeout_ms (the
    # limit between two reads), well within first_byte_timeout_ms.
    a = proxied(overrides=single_net(), proxy_buffer_bytes=4, first_byte_timeout_ms=10000,
                read_timeout_ms=300)
    t0 = time.monotonic()
    r = Response(a.port, "/proxy/trickle?n=20&ms=5000")
    assert r.status == 200 and r.headers["content-length"] == "20"
    digest, got, complete = r.body()
    took = time.monotonic() - t0
    assert not complete and got < 20
    assert 0.25 < took < 3 * SLOW, took
    r.sock.close()
    wait_until(lambda: "streamed response timed out (the upstream sent nothing)" in a.stderr(),
               5, "the log line")


def test_a_slow_but_alive_upstream_is_not_cut_between_pieces(proxied):
    # A byte every 2.4 s: each gap is past first_byte_timeout_ms, and past
    # it plus the network actor's 2 s grace for a silent producer, but
    # within read_timeout_ms: the whole body arrives.
    a = proxied(overrides=single_net(), proxy_buffer_bytes=1, first_byte_timeout_ms=100,
                read_timeout_ms=5000)
    r = Response(a.port, "/proxy/trickle?n=3&ms=2400")
    assert r.status == 200 and r.headers["content-length"] == "3"
    digest, got, complete = r.body()
    assert complete and got == 3
    assert "streamed response timed out" not in a.stderr()
    assert streamed(a)[2] == 0

"""A scriptable HTTP/1.1 upstream for the upstream tests, on 127.0.0.1.

Raw sockets, one thread per connection, so a test can make it misbehave
exactly: answer slowly, send garbage, close a kept-alive connection
without answering. It counts what the tests assert on: connections
accepted, connections open at once (and the most ever), requests seen
and the header fields each came with.

Behaviour by path (the proxy route maps /proxy/<x> to /<x>):
  /hello                 200 "hello", keep-alive
  /echo                  200 JSON of the request (method, path, query,
                         headers, body) with extra response headers,
                         among them hop-by-hop ones that must not pass
  /status?code=N         answers status N
  /chunked?n=N           N chunks "chunk-<i>\\n" (chunked encoding)
  /big?n=N               N bytes with Content-Length
  /bigchunked?n=N        N bytes in 64 KiB chunks
  /slow?ms=M             answers after M ms
  /garbage               a line that is not HTTP, then close
  /truncated             Content-Length 100, 10 bytes, close
  /close-soon            200 "hello" kept alive, then 100 ms later the
                         upstream closes the idle connection
  /flaky                 answers the first request of a connection; a
                         later one on the same connection is read and the
                         connection closed without an answer
  /bye                   200 "bye <address it listens on>" and
                         Connection: close (every call opens a connection)
  /trickle?n=N&ms=M      Content-Length N, the head at once, then one body
                         byte every M ms
  /stream?n=N            N bytes of stream_block()s (Content-Length; with
                         &chunked=1 one chunk per block; with &cut=M only M
                         bytes, then close); `stream_sent` counts what the
                         socket took
"""
import hashlib
import json
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import merge


class UpstreamServer:
    def __init__(self, host="127.0.0.1", port=0):
        self.host = host
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.accepted = 0
        self.open = 0
        self.max_open = 0
        self.requests = []          # (method, path) in arrival order
        self.received = []          # (path, [(header, value)]) in arrival order
        self.closing = False
        self.stream_sent = 0        # /stream body bytes the socket took
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def count(self, method, path):
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p == path)

    def close(self):
        self.closing = True
        self.sock.close()

    def _accept_loop(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.open += 1
                self.max_open = max(self.max_open, self.open)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        served = 0
        try:
            while True:
                req, buf = self._read_request(conn, buf)
                if req is None:
                    return
                with self.lock:
                    self.requests.append((req["method"], req["path"]))
                    self.received.append((req["path"], req["headers"]))
                if req["path"] == "/flaky" and served > 0:
                    return
                served += 1
                if not self._answer(conn, req):
                    return
        except OSError:
            pass
        finally:
            with self.lock:
                self.open -= 1
            conn.close()

    @staticmethod
    def _read_request(conn, buf):
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buf += data
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
        n = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
        while len(rest) < n:
            data = conn.recv(65536)
            if not data:
                return None, b""
            rest += data
        parts = urlsplit(target)
        req = {"method": method, "target": target, "path": parts.path,
               "query": parts.query, "args": parse_qs(parts.query),
               "headers": headers, "body": rest[:n]}
        return req, rest[n:]

    @staticmethod
    def _send(conn, status, body, ctype="text/plain", extra=(), close=False):
        head = [f"HTTP/1.1 {status} X", f"Content-Type: {ctype}",
                f"Content-Length: {len(body)}"] + list(extra)
        if close:
            head.append("Connection: close")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _answer(self, conn, req):
        """Answer one request; False closes the connection."""
        path, args = req["path"], req["args"]
        arg = lambda k, d: int(args.get(k, [d])[0])
        if path == "/hello" or path == "/flaky":
            self._send(conn, 200, b"hello")
        elif path == "/echo":
            body = json.dumps({"method": req["method"], "path": path, "query": req["query"],
                               "headers": req["headers"],
                               "body": req["body"].decode("latin-1")}).encode()
            self._send(conn, 200, body, "application/json",
                       ["X-Upstream: yes", "Set-Cookie: a=1", "Connection: x-hop",
                        "X-Hop: must-not-pass", "Keep-Alive: timeout=5",
                        "Server: upstream-test", "Date: Thu, 01 Jan 1970 00:00:00 GMT"])
        elif path == "/status":
            self._send(conn, arg("code", 200), b"status body")
        elif path == "/chunked":
            chunks = [f"chunk-{i}\n".encode() for i in range(arg("n", 10))]
            self._send_chunked(conn, chunks)
        elif path == "/big":
            self._send(conn, 200, b"x" * arg("n", 1000), "application/octet-stream")
        elif path == "/bigchunked":
            n = arg("n", 1000)
            self._send_chunked(conn, [b"y" * min(65536, n - off) for off in range(0, n, 65536)])
        elif path == "/slow":
            time.sleep(arg("ms", 100) / 1000)
            self._send(conn, 200, b"slow")
        elif path == "/bye":
            self._send(conn, 200, f"bye {self.host}".encode(), close=True)
            return False
        elif path == "/trickle":
            n, ms = arg("n", 10), arg("ms", 100)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            for _ in range(n):
                if self.closing:
                    break
                time.sleep(ms / 1000)
                conn.sendall(b"t")
        elif path == "/close-soon":
            self._send(conn, 200, b"hello")
            time.sleep(0.1)
            return False
        elif path == "/stream":
            return self._stream(conn, arg("n", 1 << 20), arg("chunked", 0), arg("cut", -1))
        elif path == "/garbage":
            conn.sendall(b"this is not http at all\r\n\r\n")
            return False
        elif path == "/truncated":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            return False
        else:
            self._send(conn, 404, b"no such path")
        return True

    def _stream(self, conn, n, chunked, cut):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Content-Length: %d\r\n\r\n" % n
        conn.sendall(head)
        limit = n if cut < 0 else cut
        off = k = 0
        while off < limit and not self.closing:
            block = stream_block(k)[:min(STREAM_BLOCK, limit - off)]
            conn.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            with self.lock:
                self.stream_sent += len(block)
            off += len(block)
            k += 1
        if cut >= 0:
            return False
        if chunked:
            conn.sendall(b"0\r\n\r\n")
        return True

    @staticmethod
    def _send_chunked(conn, chunks):
        out = [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"]
        for c in chunks:
            out.append(b"%x\r\n%s\r\n" % (len(c), c))
        out.append(b"0\r\n\r\n")
        for piece in out:       # several writes: the client must reassemble
            conn.sendall(piece)


STREAM_BLOCK = 1 << 20
_BASE = bytes((i * 131 + 7) & 255 for i in range(STREAM_BLOCK))


def stream_block(k):
    """Block k of /stream: its number first, so misordered blocks show."""
    return b"%016d" % k + _BASE[16:]


def stream_digest(n):
    """sha256 of the first n bytes of /stream."""
    h = hashlib.sha256()
    for k in range((n + STREAM_BLOCK - 1) // STREAM_BLOCK):
        h.update(stream_block(k)[:min(STREAM_BLOCK, n - k * STREAM_BLOCK)])
    return h.hexdigest()


@pytest.fixture
def upstream():
    s = UpstreamServer()
    yield s
    s.close()


def proxy_config(upstream_url, **settings):
    """actord settings: /upstream -> <url>/hello and /proxy/ -> <url>/."""
    up = {"url": upstream_url + "/hello",
          "proxy": [{"prefix": "/proxy/", "to": upstream_url + "/"}]}
    up.update(settings)
    return {"upstream": up}


@pytest.fixture
def proxied(actord_factory, upstream):
    """start(**upstream settings, overrides=...) -> actord in front of `upstream`."""
    def start(overrides=None, **settings):
        return actord_factory(merge(proxy_config(upstream.url, **settings), overrides or {}))
    return start

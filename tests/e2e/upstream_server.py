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
                         (named by two Connection lines)
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
  /upload                the body read as it arrives, not whole first
                         (Content-Length or chunked, de-chunked) and hashed:
                         200 JSON {"sha256", "bytes", "chunked",
                         "content_length" (the header's value or null),
                         "complete": true}, keep-alive. `uploads` has a dict
                         per upload from its head on (path, query, headers,
                         chunked, content_length, bytes so far, sha256,
                         complete: None while reading, then True, or False
                         when the connection ended (EOF, reset, bad chunk
                         framing) before the body did, without an answer).
                         &gate=1 reads nothing until `gate` (a
                         threading.Event, set unless a test clears it) is set
  /upload-slow?ms=M      /upload reading 64 KiB every M ms (default 10)
  /overlong?total=N&ms=M after M ms, a 200 of exactly N bytes (head and
                         body) and, in the same write, a second response
                         "stale" that nobody asked for; keep-alive
  /upload-early?code=N   answers N "early answer" with Connection: close
                         right after the head, reading none of the body,
                         then closes (&hold_ms=M: M ms later, still reading
                         nothing); in `uploads` with early=N, complete False
Any other path with a chunked request body gets it de-chunked, whole
before the answer, like a Content-Length one.
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
        self.uploads = []           # a dict per /upload* request (module docstring)
        self.gate = threading.Event()   # /upload?gate=1 waits for it
        self.gate.set()
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
                req, buf = self._read_head(conn, buf)
                if req is None:
                    return
                if req["path"] in UPLOAD_PATHS:
                    # Decided on the head: the body is read as it arrives.
                    with self.lock:
                        self.requests.append((req["method"], req["path"]))
                        self.received.append((req["path"], req["headers"]))
                    keep, buf = self._upload(conn, req, buf)
                    if not keep:
                        return
                    continue
                req, buf = self._read_body(conn, req, buf)
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
    def _read_head(conn, buf):
        """(request without its body, what followed the head) or (None, b"")."""
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
        parts = urlsplit(target)
        req = {"method": method, "target": target, "path": parts.path,
               "query": parts.query, "args": parse_qs(parts.query),
               "headers": headers, "body": b""}
        return req, rest

    @staticmethod
    def _read_body(conn, req, rest):
        """The whole body into req["body"]: (req, what followed) or (None, b"")."""
        fields = dict((k.lower(), v) for k, v in req["headers"])
        if "chunked" in fields.get("transfer-encoding", "").lower():
            parts = []
            reader = BodyReader(conn, rest, parts.append)
            try:
                rest = reader.chunked()
            except (EOFError, ValueError):
                return None, b""
            req["body"] = b"".join(parts)
            return req, rest
        n = int(fields.get("content-length", "0"))
        while len(rest) < n:
            data = conn.recv(65536)
            if not data:
                return None, b""
            rest += data
        req["body"] = rest[:n]
        return req, rest[n:]

    def _upload(self, conn, req, buf):
        """An /upload* request, its head read: the body read as it arrives
        (module docstring). Returns (keep the connection, what followed)."""
        path, args = req["path"], req["args"]
        arg = lambda k, d: int(args.get(k, [d])[0])
        fields = dict((k.lower(), v) for k, v in req["headers"])
        rec = {"path": path, "query": req["query"], "headers": req["headers"],
               "chunked": "chunked" in fields.get("transfer-encoding", "").lower(),
               "content_length": fields.get("content-length"), "early": None,
               "bytes": 0, "sha256": None, "complete": None, "error": None}
        with self.lock:
            self.uploads.append(rec)
        if path == "/upload-early":
            code = arg("code", 403)
            with self.lock:
                rec["early"], rec["complete"] = code, False
            self._send(conn, code, b"early answer", close=True)
            deadline = time.monotonic() + arg("hold_ms", 0) / 1000
            while time.monotonic() < deadline and not self.closing:
                time.sleep(0.01)
            return False, b""
        if arg("gate", 0):
            self.gate.wait(120)
        slow = path == "/upload-slow"
        pause = arg("ms", 10) / 1000 if slow else 0
        h = hashlib.sha256()

        def on_data(data):
            h.update(data)
            with self.lock:
                rec["bytes"] += len(data)
            if pause:
                time.sleep(pause)

        reader = BodyReader(conn, buf, on_data, piece=65536 if slow else 1 << 20)
        try:
            if rec["chunked"]:
                rest = reader.chunked()
            else:
                rest = reader.exact(int(rec["content_length"] or "0"))
        except (OSError, EOFError, ValueError) as e:
            with self.lock:
                rec["sha256"], rec["error"], rec["complete"] = h.hexdigest(), repr(e), False
            return False, b""
        with self.lock:
            rec["sha256"], rec["complete"] = h.hexdigest(), True
        body = json.dumps({"sha256": rec["sha256"], "bytes": rec["bytes"],
                           "chunked": rec["chunked"], "content_length": rec["content_length"],
                           "complete": True}).encode()
        self._send(conn, 200, body, "application/json")
        return True, rest

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
                        "X-Hop: must-not-pass", "Connection: x-hop2",
                        "X-Hop2: must-not-pass", "Keep-Alive: timeout=5",
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
        elif path == "/overlong":
            time.sleep(arg("ms", 0) / 1000)
            total = arg("total", 65536)
            for cl in range(total - 64, total):
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % cl
                if len(head) + cl == total:
                    break
            conn.sendall(head + b"o" * cl +
                         b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
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


UPLOAD_PATHS = ("/upload", "/upload-slow", "/upload-early")


class BodyReader:
    """A request body read from `conn` as it arrives, after `buf` (what
    came with the head): each piece of it goes to on_data, de-chunked.
    EOFError when the connection ends first, ValueError on bad chunk
    framing; OSError (a reset) passes through."""

    def __init__(self, conn, buf, on_data, piece=1 << 20):
        self.conn, self.buf, self.on_data, self.piece = conn, buf, on_data, piece

    def exact(self, n):
        """n body bytes; returns what followed them."""
        if self.buf:
            take, self.buf = self.buf[:n], self.buf[n:]
            if take:
                self.on_data(take)
            n -= len(take)
        while n > 0:
            data = self.conn.recv(min(self.piece, n))
            if not data:
                raise EOFError(f"the connection ended {n} bytes short")
            self.on_data(data)
            n -= len(data)
        return self.buf

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 8192:
                raise ValueError("a chunk-size or trailer line over 8 KiB")
            data = self.conn.recv(65536)
            if not data:
                raise EOFError("the connection ended inside the chunked body")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def chunked(self):
        """A chunked body, trailers skipped; returns what followed it."""
        while True:
            line = self._line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError(f"bad chunk-size line {line[:40]!r}") from None
            if size < 0:
                raise ValueError(f"bad chunk-size line {line[:40]!r}")
            if size == 0:
                while self._line() != b"":
                    pass
                return self.buf
            self.exact(size)
            if self._line() != b"":
                raise ValueError("no CRLF after a chunk's data")


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


def rss_kib(a):
    """actord's resident memory now (the streamed-body tests' bound)."""
    with open(f"/proc/{a.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def single_net(**more):
    """Overrides for one network actor (its metrics are then net-0's)."""
    return merge({"actors": {"net": {"count": 1}}}, more)


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

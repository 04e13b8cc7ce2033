"""Helpers for the WebSocket tests: a raw RFC 6455 client over a plain
socket (for what a real client library refuses to send: unmasked frames,
bad opcodes, broken UTF-8...), and sums of the WebSocket metrics."""
import base64
import hashlib
import os
import socket
import struct

from admin_helpers import metrics_of

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def handshake_request(path, key=None, version="13", extra=None):
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}"]
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines += extra or []
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


class RawWs:
    """One connection; frames are built by hand."""

    def __init__(self, port, path="/ws/echo", rcvbuf=None, timeout=10, extra=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        req, key = handshake_request(path, extra=extra)
        self.sock.sendall(req)
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.headers = {}
        for line in head.split(b"\r\n")[1:]:
            if b":" in line:
                k, v = line.split(b":", 1)
                self.headers[k.strip().lower().decode()] = v.strip().decode()
        if self.status == 101:
            assert self.headers["sec-websocket-accept"] == accept_of(key)

    def _until(self, sep):
        while sep not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed before the handshake ended")
            self.buf += data
        head, self.buf = self.buf.split(sep, 1)
        return head

    def _read(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, op, payload=b"", fin=True, mask=True, rsv=0, length=None):
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | (rsv << 4) | op
        if n < 126:
            head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            n = len(payload)
            if n > 0:      # XOR as one big integer: fast for large frames
                k = (key * (n // 4 + 1))[:n]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")
            head += key
        self.sock.sendall(head + payload)

    def send_close(self, code=None, reason=b""):
        self.send_frame(0x8, b"" if code is None else struct.pack("!H", code) + reason)

    def read_frame(self):
        """(fin, opcode, payload) of the next frame from the server."""
        b0, b1 = self._read(2)
        assert b1 & 0x80 == 0, "the server masked a frame"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def read_message(self):
        """The next data message (control frames other than close skipped)."""
        while True:
            fin, op, payload = self.read_frame()
            if op in (0x9, 0xA):
                continue
            return op, payload

    def expect_close(self, answer=True):
        """The code of the server's close frame (None: no code); we answer
        it as a client does (unless `answer` is false), and the server must
        then close the TCP connection."""
        while True:
            fin, op, payload = self.read_frame()
            if op == 0x8:
                break
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        if answer:
            try:
                self.send_frame(0x8, payload[:2])
            except OSError:
                pass             # it may have closed already (after a failure)
        self.sock.settimeout(10)
        while True:
            try:
                if not self.sock.recv(65536):
                    break
            except ConnectionResetError:
                break
        return code

    def close(self):
        self.sock.close()


def ws_sum(a, name, **labels):
    """A WebSocket metric summed over the network actors."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics_of(a).items() if n == name and want <= set(ls))


def metric_total(a, name):
    return sum(v for (n, _), v in metrics_of(a).items() if n == name)

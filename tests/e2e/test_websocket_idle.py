"""10,000 idle WebSocket connections: every one upgraded and open, memory
bounded (actord's resident memory grows by less than 8 KiB per
connection; the figure is printed), the server still answers, and all of
them close cleanly. Release build only (ctest label e2e, not sanitize):
the sanitizers' shadow memory would be what is measured."""
import resource
import selectors
import socket

import pytest

from admin_helpers import wait_admin
from conftest import SLOW, wait_until
from ws_util import RawWs, handshake_request, ws_sum

N = 10000
BATCH = 1000


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_many(port, n):
    """n upgraded connections, opened BATCH at a time (non-blocking)."""
    req, _ = handshake_request("/ws/echo")
    socks = []
    sel = selectors.DefaultSelector()
    for start in range(0, n, BATCH):
        pending = {}
        for _ in range(min(BATCH, n - start)):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            pending[s] = b""
            sel.register(s, selectors.EVENT_WRITE)
        sent = set()
        while pending:
            events = sel.select(timeout=20 * SLOW)
            assert events, f"{len(pending)} handshakes stuck"
            for key, mask in events:
                s = key.fileobj
                if s not in sent:
                    s.sendall(req)
                    sent.add(s)
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(4096)
                assert data, "closed during the handshake"
                pending[s] += data
                if b"\r\n\r\n" in pending[s]:
                    assert pending[s].startswith(b"HTTP/1.1 101 "), pending[s][:80]
                    sel.unregister(s)
                    del pending[s]
                    socks.append(s)
    sel.close()
    return socks


def test_ten_thousand_idle_connections_stay_small(actord_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < N + 1000:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {N + 1000}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # actord inherits it
    a = wait_admin(actord_factory({"http": {"backlog": 4096}}))
    warm = open_many(a.port, 200)        # allocator and tables warmed up
    before = rss_bytes(a.proc.pid)
    socks = open_many(a.port, N)
    wait_until(lambda: ws_sum(a, "actord_ws_connections") == N + 200, 30 * SLOW,
               "every connection to be open")
    after = rss_bytes(a.proc.pid)
    per_conn = (after - before) / N
    print(f"idle WebSocket connections: {N}, resident memory +{after - before} bytes, "
          f"{per_conn:.0f} bytes per connection")
    assert per_conn < 8192, f"{per_conn:.0f} bytes per idle connection"
    c = RawWs(a.port)                    # still serving
    c.send_frame(0x1, b"alive")
    assert c.read_message() == (0x1, b"alive")
    c.close()
    for s in socks + warm:
        s.close()
    wait_until(lambda: ws_sum(a, "actord_ws_connections") == 0, 60 * SLOW,
               "every connection to close")
    assert ws_sum(a, "actord_ws_closed_total", reason="abnormal") >= N

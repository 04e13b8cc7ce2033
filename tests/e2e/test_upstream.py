"""Upstream calls under load (issue 8): keep-alive reuse, isolation from
slow upstreams, idle connections. Release build only; the quick core that
the sanitizer builds run too is test_upstream_core.py."""
import statistics
import threading
import time

from conftest import SLOW, RawClient, http, wait_until
from upstream_server import proxied, upstream  # noqa: F401 (fixtures)


def run_clients(port, path, clients, each):
    """`clients` threads, each sending `each` requests on one keep-alive
    connection; returns the statuses."""
    statuses = []
    lock = threading.Lock()

    def client():
        c = RawClient(port)
        got = []
        for _ in range(each):
            c.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            got.append(c.read_response().status)
        c.close()
        with lock:
            statuses.extend(got)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_keepalive_pool_keeps_upstream_connections_bounded_under_load(proxied, upstream):
    a = proxied(max_connections=4)
    statuses = run_clients(a.port, "/upstream", clients=32, each=40)
    assert statuses == [200] * 1280
    assert upstream.count("GET", "/hello") == 1280
    # 1280 requests from 32 clients over at most 4 reused connections.
    assert upstream.accepted <= 4
    assert upstream.max_open <= 4


def test_connections_are_reused_across_requests_one_at_a_time(proxied, upstream):
    a = proxied()
    for _ in range(50):
        assert a.get("/proxy/hello").status == 200
    assert upstream.accepted == 1


def test_slow_upstream_leaves_other_routes_and_upstreams_fast(proxied, upstream):
    a = proxied(response_timeout_ms=1500)

    def latencies(path, n):
        c = RawClient(a.port)
        out = []
        for _ in range(n):
            t0 = time.monotonic()
            c.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert c.read_response().status == 200
            out.append(time.monotonic() - t0)
        c.close()
        return out

    before = latencies("/plaintext", 200)
    slow = []

    def slow_call():
        t0 = time.monotonic()
        slow.append((http(a.port, "GET", "/proxy/slow?ms=4000").status, time.monotonic() - t0))

    threads = [threading.Thread(target=slow_call) for _ in range(32)]
    for t in threads:
        t.start()
    wait_until(lambda: upstream.count("GET", "/slow") == 32, 5, "32 slow calls in flight")
    during = latencies("/plaintext", 200)
    fast_upstream = latencies("/proxy/hello", 50)
    still_pending = sum(1 for t in threads if t.is_alive())
    for t in threads:
        t.join()
    assert still_pending == 32, "the slow calls must still be pending while we measured"
    # Blocked actors would make these wait for the slow calls (1.5 s):
    # bounds far below that, and the usual latency unchanged.
    assert statistics.median(during) < statistics.median(before) * 3 + 0.005
    assert max(during) < 0.5 * SLOW
    assert max(fast_upstream) < 0.5 * SLOW
    assert [s for s, _ in slow] == [504] * 32
    assert all(1.3 < took < 3.0 * SLOW for _, took in slow)


def test_idle_connections_close_after_the_idle_timeout(proxied, upstream):
    a = proxied(idle_timeout_ms=300)
    assert a.get("/proxy/hello").status == 200
    assert upstream.open == 1
    wait_until(lambda: upstream.open == 0, 3, "the idle connection to be closed")
    assert a.get("/proxy/hello").status == 200
    assert upstream.accepted == 2


def test_upstream_closing_an_idle_connection_is_noticed(proxied, upstream):
    a = proxied(retries=0)
    assert a.get("/proxy/close-soon").status == 200
    wait_until(lambda: upstream.open == 0, 3, "the upstream to close its side")
    # No retries allowed: this only works if the pool dropped the closed
    # connection when the upstream closed it, not when we next wrote to it.
    assert a.get("/proxy/hello").status == 200
    assert upstream.accepted == 2

"""Upstream calls, the quick core (issue 8): run in the Release, ASan and
TSan builds. The slower, load-bearing cases are in test_upstream.py."""
import threading
import time

from admin_helpers import metric, metrics_of
from conftest import SLOW, RawClient, free_port, http, wait_until
from upstream_server import proxied, upstream  # noqa: F401 (fixtures)


def test_upstream_route_fetches_the_configured_url(proxied, upstream):
    a = proxied()
    r = a.get("/upstream")
    assert r.status == 200
    assert r.headers["content-type"] == "text/plain"
    assert r.body == b"Hello, world"
    assert upstream.count("GET", "/hello") == 1


def test_proxy_forwards_method_path_query_body_and_end_to_end_headers(proxied, upstream):
    a = proxied()
    c = RawClient(a.port)
    body = b'{"k": "v"}'
    c.send(b"POST /proxy/echo?a=1&b=x%%20y HTTP/1.1\r\nHost: client.example\r\n"
           b"Content-Type: application/json\r\nX-Custom: kept\r\n"
           b"Connection: keep-alive, X-Drop-Me\r\nX-Drop-Me: 1\r\nTE: trailers\r\n"
           b"Keep-Alive: timeout=5\r\nUpgrade: h2c\r\nX-Forwarded-For: 192.0.2.7\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    r = c.read_response()
    c.close()
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    echo = r.json()
    assert echo["method"] == "POST"
    assert echo["path"] == "/echo"
    assert echo["query"] == "a=1&b=x%20y"
    assert echo["body"] == body.decode()
    sent = {k.lower(): v for k, v in echo["headers"]}
    assert sent["x-custom"] == "kept"
    assert sent["content-type"] == "application/json"
    assert sent["content-length"] == str(len(body))
    assert sent["host"] == f"127.0.0.1:{upstream.port}"
    assert sent["x-forwarded-for"] == "192.0.2.7, 127.0.0.1"
    for hop in ("x-drop-me", "te", "keep-alive", "upgrade"):
        assert hop not in sent, hop
    assert sent.get("connection", "keep-alive") == "keep-alive"
    # The answer: end-to-end headers back, hop-by-hop and framing ours.
    assert r.headers["x-upstream"] == "yes"
    assert r.headers["set-cookie"] == "a=1"
    assert "x-hop" not in r.headers
    assert "x-hop2" not in r.headers    # named by the upstream's second Connection line
    assert "keep-alive" not in r.headers
    assert r.headers["server"] == "actord"



def test_a_long_forwarded_for_keeps_the_real_client_last(proxied, upstream):
    # A client value that alone fills 1 KiB or more: the real address is
    # still the last hop (never cut off).
    a = proxied()
    for size in (1023, 1024, 6000):
        prior = ", ".join(["198.51.100.9"] * (size // 14 + 1))[:size].rstrip(", .")
        r = a.get("/proxy/echo", headers={"X-Forwarded-For": prior})
        assert r.status == 200
        sent = {k.lower(): v for k, v in r.json()["headers"]}
        assert sent["x-forwarded-for"] == prior + ", 127.0.0.1", size


def test_proxy_never_forwards_dot_segments(proxied, upstream):
    a = proxied()
    for path in ("/proxy/../admin", "/proxy/%2e%2e/admin", "/proxy/%2E%2e/admin",
                 "/proxy/a/../../admin", "/proxy/./echo", "/proxy/.%2e", "/proxy/a/%2E/echo",
                 "/proxy/..%2fadmin", "/proxy/..%5Cadmin", "/proxy/..\\admin", "/proxy/a%00b",
                 "/proxy/a%2", "/proxy/..;/admin", "/proxy/a/..;x=1/../admin",
                 "/proxy/%2e%2E;/admin", "/proxy/.;/echo"):
        c = RawClient(a.port)
        c.send(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        r = c.read_response()
        c.close()
        # Refused by the proxy ("cannot be forwarded"), or by the router
        # when it cannot decode the path at all ("malformed path").
        assert r.status == 400, (path, r.body)
    assert upstream.requests == [], upstream.requests
    # Normalised: escaped unreserved characters decoded, other escapes
    # upper case; dots inside a segment are fine.
    r = a.get("/proxy/%65ch%6f?x=1")
    assert r.status == 200 and r.json()["path"] == "/echo"
    a.get("/proxy/a.b..c/%7e%2a%c3%a9")
    with upstream.lock:
        last = upstream.requests[-1]
    assert last == ("GET", "/a.b..c/~%2A%C3%A9"), last
    # Path parameters after any other segment pass as they are.
    a.get("/proxy/v;jsessionid=1/..x;/echo")
    with upstream.lock:
        last = upstream.requests[-1]
    assert last == ("GET", "/v;jsessionid=1/..x;/echo"), last

def test_proxy_passes_the_upstream_status_and_serves_head(proxied):
    a = proxied()
    r = a.get("/proxy/status?code=404")
    assert r.status == 404
    assert r.body == b"status body"
    r = a.request("HEAD", "/proxy/hello")
    assert r.status == 200
    assert r.body == b""
    r = a.request("DELETE", "/proxy/status?code=202")
    assert r.status == 202


def test_chunked_and_large_responses_arrive_whole(proxied):
    a = proxied(max_response_bytes=2 << 20)
    r = a.get("/proxy/chunked?n=500")
    assert r.status == 200
    assert r.body == b"".join(b"chunk-%d\n" % i for i in range(500))
    r = a.get("/proxy/big?n=1500000")
    assert r.status == 200
    assert r.body == b"x" * 1500000
    r = a.get("/proxy/bigchunked?n=1500000")
    assert r.status == 200
    assert r.body == b"y" * 1500000


def test_response_over_the_size_limit_is_502(proxied):
    # Buffered (not streamed: test_upstream_stream.py), the limit applies.
    a = proxied(max_response_bytes=1 << 20, proxy_buffer_bytes=0)
    assert a.get("/proxy/big?n=1048576").status == 200
    r = a.get("/proxy/big?n=1048577")
    assert r.status == 502
    assert "too large" in r.json()["error"]
    assert a.get("/proxy/bigchunked?n=2000000").status == 502


def test_upstream_down_is_a_fast_503_with_retry_after(actord_factory):
    dead = f"http://127.0.0.1:{free_port()}"
    a = actord_factory({"upstream": {"url": dead + "/",
                                     "proxy": [{"prefix": "/proxy/", "to": dead + "/"}]}})
    for path in ("/upstream", "/proxy/anything"):
        t0 = time.monotonic()
        r = a.get(path)
        assert r.status == 503
        assert r.headers["retry-after"] == "1"
        assert time.monotonic() - t0 < 1.0 * SLOW


def test_garbage_or_truncated_response_is_502(proxied):
    a = proxied()
    r = a.get("/proxy/garbage")
    assert r.status == 502
    assert "bad response" in r.json()["error"]
    assert a.get("/proxy/truncated").status == 502
    assert a.get("/proxy/hello").status == 200    # the pool recovers


def test_slow_upstream_is_504_at_the_response_deadline(proxied):
    a = proxied(response_timeout_ms=300)
    t0 = time.monotonic()
    r = a.get("/proxy/slow?ms=3000")
    took = time.monotonic() - t0
    assert r.status == 504
    assert 0.25 <= took < 2.0 * SLOW
    assert a.get("/proxy/hello").status == 200


def test_closed_keepalive_connection_is_retried_for_get_but_not_post(proxied, upstream):
    a = proxied(max_connections=1)
    # A first request leaves one kept-alive connection in the pool; the
    # upstream will close it on the next request without answering.
    assert a.get("/proxy/flaky").status == 200
    assert upstream.accepted == 1
    r = a.get("/proxy/flaky")
    assert r.status == 200                         # resent on a new connection
    assert upstream.count("GET", "/flaky") == 3
    assert upstream.accepted == 2
    r = a.request("POST", "/proxy/flaky", body=b"once")
    assert r.status == 502                         # never resent
    assert upstream.count("POST", "/flaky") == 1


def test_connection_cap_queues_calls_in_order(proxied, upstream):
    a = proxied(max_connections=2)
    results = []

    def call():
        results.append(http(a.port, "GET", "/proxy/slow?ms=200").status)

    threads = [threading.Thread(target=call) for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6
    assert upstream.max_open == 2
    assert upstream.accepted == 2
    assert time.monotonic() - t0 >= 0.6             # 6 calls, 2 at a time


def test_bytes_after_a_response_never_answer_a_queued_call(proxied, upstream):
    # The first response ends exactly where a 64 KiB read does, and the
    # upstream wrote a second one nobody asked for behind it. The call
    # queued for the connection must not get those bytes as its answer:
    # the connection is closed and the call goes on a new one. Buffered
    # and streamed answers take different paths back to the pool.
    for i, buffer_bytes in enumerate((1 << 20, 1024)):
        a = proxied(max_connections=1, proxy_buffer_bytes=buffer_bytes)
        first = {}
        t = threading.Thread(target=lambda: first.update(
            r=http(a.port, "GET", "/proxy/overlong?total=65536&ms=300")))
        t.start()
        wait_until(lambda: upstream.count("GET", "/overlong") == i + 1, 5 * SLOW,
                   "the first call sent")
        queued = {}
        t2 = threading.Thread(target=lambda: queued.update(r=http(a.port, "GET", "/proxy/hello")))
        t2.start()
        wait_until(lambda: metric(metrics_of(a), "actord_upstream_queued") == 1, 5 * SLOW,
                   "the second call queued")
        t.join()
        t2.join()
        assert first["r"].status == 200 and len(first["r"].body) > 65000
        assert queued["r"].status == 200
        assert queued["r"].body == b"hello", queued["r"].body


def test_full_queue_is_a_503(proxied):
    a = proxied(max_connections=1, max_queue=1)
    results = []

    def call():
        # Slow enough that all four reach the upstream actor meanwhile;
        # the queued one still answers well within the request deadline.
        r = http(a.port, "GET", "/proxy/slow?ms=800")
        results.append((r.status, r.headers.get("retry-after")))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=lambda x: x[0]) == [(200, None)] * 2 + [(503, "1")] * 2


def headers_the_upstream_got(a, fields):
    """GET /proxy/echo with the raw field lines `fields`: the header lines
    the upstream received, names lower-cased, in order."""
    c = RawClient(a.port)
    c.send(b"GET /proxy/echo HTTP/1.1\r\nHost: client.example\r\n" + fields + b"\r\n")
    r = c.read_response()
    c.close()
    assert r.status == 200
    return [(k.lower(), v) for k, v in r.json()["headers"]]


def test_every_forwarded_for_line_of_the_client_is_kept_in_order(proxied, upstream):
    # RFC 9110 5.3: several lines of a list field are one comma-separated
    # list; a hop lost from it would change whom the upstream trusts.
    sent = headers_the_upstream_got(proxied(), b"X-Forwarded-For: 192.0.2.7, 192.0.2.8\r\n"
                                    b"X-Custom: 1\r\nX-Forwarded-For: 198.51.100.9\r\n")
    assert [v for k, v in sent if k == "x-forwarded-for"] == \
        ["192.0.2.7, 192.0.2.8, 198.51.100.9, 127.0.0.1"]


def test_a_second_connection_line_of_the_client_names_hop_by_hop_fields_too(proxied, upstream):
    sent = dict(headers_the_upstream_got(proxied(), b"Connection: keep-alive\r\nX-Drop-Me: 1\r\n"
                                         b"Connection: X-Drop-Me\r\nX-Kept: 1\r\n"))
    assert "x-drop-me" not in sent
    assert sent["x-kept"] == "1"

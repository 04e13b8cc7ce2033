"""The upstream client against real services (issue 19): HTTPS to a local
nginx with a certificate made in the test (verification, SNI, client
certificates, session resumption), redirects, gzip, per-call timeouts."""
import hashlib
import os
import shutil
import signal
import socket
import time
import urllib.parse

from admin_helpers import parse_metrics
from conftest import RawClient, wait_until
from tls_upstream import stderr_has, tls_nginx  # noqa: F401 (fixture)
from upstream_server import upstream  # noqa: F401 (fixture)


def tls_config(n, **up):
    p = n.ports
    proxy = [
        {"prefix": "/tls/", "to": f"https://127.0.0.1:{p['ok']}/"},
        {"prefix": "/byname/", "to": f"https://localhost:{p['ok']}/"},
        {"prefix": "/expired/", "to": f"https://localhost:{p['expired']}/"},
        {"prefix": "/wronghost/", "to": f"https://localhost:{p['wronghost']}/"},
        {"prefix": "/wrongca/", "to": f"https://localhost:{p['wrongca']}/"},
        {"prefix": "/mtls/", "to": f"https://localhost:{p['mtls']}/",
         "cert_file": n.path("client.pem"), "key_file": n.path("client.key")},
        {"prefix": "/mtls-nocert/", "to": f"https://localhost:{p['mtls']}/"},
        {"prefix": "/own-ca/", "to": f"https://localhost:{p['wrongca']}/",
         "ca_file": n.path("ca2.pem")},
    ]
    cfg = {"url": f"https://localhost:{p['ok']}/hello", "ca_file": n.path("ca.pem"),
           "proxy": proxy}
    cfg.update(up)
    return {"upstream": cfg}


def fetch(a, url, **opts):
    q = urllib.parse.urlencode(dict(url=url, **opts))
    return a.get(f"/_test/fetch?{q}")


def test_upstream_and_proxy_over_https(actord_factory, tls_nginx):
    a = actord_factory(tls_config(tls_nginx))
    r = a.get("/upstream")
    assert (r.status, r.body) == (200, b"Hello, world")
    for prefix in ("/tls/", "/byname/"):      # an IP literal, a name (SNI)
        r = a.get(prefix + "hello")
        assert (r.status, r.body) == (200, b"hello"), prefix
    # Several requests, one kept-alive TLS connection.
    for _ in range(20):
        assert a.get("/tls/hello").status == 200
    # A request larger than one TLS record batch (written part by part).
    r = a.request("POST", "/tls/hello", body=b"x" * 200000)
    assert (r.status, r.body) == (200, b"hello")
    metrics = a.admin("GET", "/metrics").text
    assert f'upstream="https://127.0.0.1:{tls_nginx.ports["ok"]}"' in metrics


def test_streamed_uploads_over_https(actord_factory, tls_nginx):
    """A request body over proxy_buffer_bytes (Content-Length) and a chunked
    one go to an HTTPS upstream as they arrive (TLS writes of a buffer that
    moves between retries) and arrive intact."""
    a = actord_factory(tls_config(tls_nginx, proxy_buffer_bytes=65536))
    body = bytes(range(256)) * (6 * 4096 + 7)           # 6 MiB + 1,792 bytes
    r = a.request("PUT", "/tls/store/cl.bin", body=body)
    assert r.status in (201, 204), (r.status, r.body)
    with open(os.path.join(tls_nginx.www, "store", "cl.bin"), "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(body).digest()
    c = RawClient(a.port)
    c.send(b"PUT /tls/store/chunked.bin HTTP/1.1\r\nHost: t\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(body), 300000):
        piece = body[i:i + 300000]
        c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
    c.send(b"0\r\n\r\n")
    assert c.read_response().status in (201, 204)
    c.close()
    with open(os.path.join(tls_nginx.www, "store", "chunked.bin"), "rb") as f:
        assert hashlib.sha256(f.read()).digest() == hashlib.sha256(body).digest()
    m = parse_metrics(a.admin("GET", "/metrics").text)
    assert sum(v for (n, _), v in m.items() if n == "actord_http_streamed_requests_total") == 2


def test_bad_certificates_are_502_with_the_reason_logged(actord_factory, tls_nginx):
    a = actord_factory(tls_config(tls_nginx))
    for prefix, reason in (("/expired/", "certificate has expired"),
                           ("/wronghost/", "hostname mismatch"),
                           ("/wrongca/", "unable to get local issuer certificate")):
        r = a.get(prefix + "hello")
        assert r.status == 502, prefix
        assert b"TLS" in r.body
        assert stderr_has(a, reason)
    # The same server is fine with its own CA (a per-prefix ca_file).
    r = a.get("/own-ca/hello")
    assert (r.status, r.body) == (200, b"hello")
    metrics = a.admin("GET", "/metrics").text
    assert 'kind="tls"' in metrics


def test_verification_is_on_by_default(actord_factory, tls_nginx):
    """Without upstream.ca_file the system's CA store is used: the test CA
    is not in it."""
    cfg = tls_config(tls_nginx)
    del cfg["upstream"]["ca_file"]
    a = actord_factory(cfg)
    assert a.get("/upstream").status == 502
    assert stderr_has(a, "certificate verify failed")


def test_client_certificate_per_proxy_prefix(actord_factory, tls_nginx):
    a = actord_factory(tls_config(tls_nginx))
    r = a.get("/mtls/who")
    assert r.status == 200
    assert b"CN=actord-client" in r.body
    # Without one nginx answers 400 itself ("No required SSL certificate").
    assert a.get("/mtls-nocert/who").status == 400


def closes_reused(nginx):
    """nginx's $ssl_session_reused ("r" or ".") of each /close so far."""
    return [l[0] for l in nginx.access_log("ok") if l[1] == "/close"]


def closes_logged(nginx, before, n):
    """The next `n` /close entries after the first `before`: nginx writes
    its log line after the answer, so wait for them."""
    wait_until(lambda: len(closes_reused(nginx)) >= before + n, 5,
               f"{n} more /close requests in nginx's log")
    return closes_reused(nginx)[before:before + n]


def test_sessions_are_resumed_on_new_connections(actord_factory, tls_nginx):
    a = actord_factory(tls_config(tls_nginx))
    before = len(closes_reused(tls_nginx))
    for _ in range(4):
        # Connection: close from nginx: every call makes a new connection.
        assert a.get("/tls/close").status == 200
    reused = closes_logged(tls_nginx, before, 4)
    assert reused[0] == "." or reused.count("r") >= 3, reused
    assert reused[1:] == ["r", "r", "r"], reused


def test_tls_files_are_read_again_on_reload(actord_factory, tls_nginx):
    """SIGHUP reads the TLS files again, even under an unchanged path (a
    rotated CA): kept-alive connections and sessions made under the old
    trust are not used after it."""
    trust = tls_nginx.path("trust-reload.pem")

    def trust_ca(name):
        shutil.copyfile(tls_nginx.path(name), trust)

    def reload(n):
        a.write_config(a.cfg)
        a.signal(signal.SIGHUP)
        wait_until(lambda: a.stderr().count("configuration reloaded from") >= n, 10,
                   f"reload {n}")

    trust_ca("ca.pem")
    a = actord_factory(tls_config(tls_nginx, ca_file=trust))
    for _ in range(3):                     # one kept-alive connection, idle now
        assert a.get("/tls/hello").status == 200
    trust_ca("ca2.pem")                    # the upstream's CA is no longer trusted
    reload(1)
    r = a.get("/tls/hello")
    assert r.status == 502 and b"TLS" in r.body, (r.status, r.body)
    assert stderr_has(a, "unable to get local issuer certificate")
    trust_ca("ca.pem")
    reload(2)
    assert a.get("/tls/hello").status == 200
    # Sessions: resumed within one configuration, never across a reload.
    before = len(closes_reused(tls_nginx))
    for _ in range(3):
        assert a.get("/tls/close").status == 200
    reload(3)
    for _ in range(2):
        assert a.get("/tls/close").status == 200
    reused = closes_logged(tls_nginx, before, 5)
    assert reused[1:3] == ["r", "r"], reused      # before the reload
    assert reused[3:] == [".", "r"], reused       # a full handshake first


def test_redirect_chains_limits_loops_and_downgrades(actord_factory, tls_nginx):
    a = actord_factory(tls_config(tls_nginx))
    base = f"http://127.0.0.1:{tls_nginx.ports['http']}"
    ok = f"https://localhost:{tls_nginx.ports['ok']}"
    # 302 -> 301 -> 307 -> 200.
    r = fetch(a, base + "/r3", redirects=5).json()
    assert (r["status"], r["body"]) == (200, "hello")
    # Not asked: the 3xx is the answer.
    r = fetch(a, base + "/r3").json()
    assert r["status"] == 302 and r["location"].endswith("/r2")
    # The limit: after 2 hops the third 3xx is the answer.
    r = fetch(a, base + "/r3", redirects=2).json()
    assert r["status"] == 307 and r["location"].endswith("/hello")
    # A loop ends at the limit: 1 + 4 requests.
    before = len([l for l in tls_nginx.access_log("http") if l[1] == "/loop"])
    r = fetch(a, base + "/loop", redirects=4).json()
    assert r["status"] == 302
    wait_until(lambda: len([l for l in tls_nginx.access_log("http") if l[1] == "/loop"])
               == before + 5, 5, "5 /loop requests")
    # http -> https is followed (an upgrade), across origins.
    r = fetch(a, base + "/up", redirects=3).json()
    assert (r["status"], r["body"]) == (200, "hello")
    # https -> http is not, unless allowed.
    r = fetch(a, ok + "/to-http", redirects=3).json()
    assert r["status"] == 302
    assert stderr_has(a, "redirect from https to http not followed")
    r = fetch(a, ok + "/to-http", redirects=3, downgrade=1).json()
    assert (r["status"], r["body"]) == (200, "hello")


def test_gzip_responses_are_decoded_when_asked(actord_factory, tls_nginx):
    from tls_upstream import GZ_TEXT
    a = actord_factory(tls_config(tls_nginx))
    url = f"http://127.0.0.1:{tls_nginx.ports['http']}/gz.txt"
    r = fetch(a, url, gzip=1).json()
    assert r["status"] == 200
    assert r["length"] == len(GZ_TEXT)
    assert r["body"].encode() == GZ_TEXT[:200]
    # Over the limit once decoded: 502.
    b = actord_factory(tls_config(tls_nginx, max_response_bytes=10000))
    assert fetch(b, url, gzip=1).status == 502
    assert stderr_has(b, "decoded response too large")


def test_each_timeout_of_a_call(actord_factory, tls_nginx, upstream):
    a = actord_factory(tls_config(tls_nginx))
    # Connect: a listener whose accept queue is full drops the SYN.
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.2)
    try:
        t0 = time.monotonic()
        r = fetch(a, f"http://127.0.0.1:{port}/", connect_ms=300)
        assert r.status == 504
        assert 0.25 < time.monotonic() - t0 < 3
        assert stderr_has(a, "connect timed out")
    finally:
        for s in fillers:
            s.close()
        lst.close()
    # First byte.
    t0 = time.monotonic()
    r = fetch(a, upstream.url + "/slow?ms=3000", first_byte_ms=300)
    assert r.status == 504
    assert 0.25 < time.monotonic() - t0 < 2.5
    assert stderr_has(a, "no first response byte in time")
    # Total: the first byte comes at once, the body trickles.
    t0 = time.monotonic()
    r = fetch(a, upstream.url + "/trickle?n=50&ms=100", total_ms=600)
    assert r.status == 504
    assert 0.5 < time.monotonic() - t0 < 3
    # The handshake counts as connecting: an HTTPS call to a plain server.
    r = fetch(a, upstream.url.replace("http://", "https://") + "/slow?ms=3000", connect_ms=300)
    assert r.status in (502, 504)


def test_an_https_upstream_closing_mid_body_is_502(actord_factory, tls_nginx):
    """A TLS upstream that announces 100 bytes, sends 10 and closes: 502,
    never a short body."""
    import ssl
    import threading
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_nginx.path("good.pem"), tls_nginx.path("good.key"))
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    port = lst.getsockname()[1]

    def serve():
        while True:
            try:
                raw, _ = lst.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(raw, server_side=True) as s:
                    s.recv(4096)
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            except (OSError, ssl.SSLError):
                pass
    threading.Thread(target=serve, daemon=True).start()
    try:
        a = actord_factory(tls_config(tls_nginx))
        r = fetch(a, f"https://localhost:{port}/cut")
        assert r.status == 502
        assert stderr_has(a, "connection closed before a complete response")
    finally:
        lst.close()

"""The admin endpoint of a real actord (issue: admin endpoint): metrics,
health, configuration, reload, access rules and the connection budget."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import conftest
from admin_helpers import (JSON, actor_doc, admin_get, metric, metrics_of, parse_metrics,
                           undocumented_metrics, wait_admin)
from conftest import BIN, SLOW, RawClient, base_config, free_port, wait_until

RUNTIME_FAMILIES = [
    "actord_mailbox_depth", "actord_mailbox_capacity", "actord_mailbox_high_water",
    "actord_mailbox_enqueued_total", "actord_mailbox_dequeued_total",
    "actord_mailbox_rejected_total", "actord_mailbox_wakeups_total",
    "actord_mailbox_wait_seconds_bucket", "actord_mailbox_wait_seconds_sum",
    "actord_mailbox_wait_seconds_count",
    "actord_actor_messages_total", "actord_actor_busy_seconds_total",
    "actord_actor_loop_lag_seconds_bucket", "actord_actor_loop_lag_seconds_count",
    "actord_http_responses_total", "actord_http_request_duration_seconds_bucket",
    "actord_http_connections_open", "actord_http_connections_accepted_total",
    "actord_http_accept_paused_total", "actord_handler_requests_total",
    "actord_log_dropped_total", "actord_ready",
]


def test_metrics_pass_promtool_and_cover_every_runtime_family(actord):
    wait_admin(actord)
    for path in ("/plaintext", "/json", "/nope"):
        actord.get(path)
    r = admin_get(actord, "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    check = subprocess.run(["promtool", "check", "metrics"], input=r.body,
                           capture_output=True, timeout=30)
    assert check.returncode == 0 and check.stdout + check.stderr == b"", \
        (check.stdout + check.stderr).decode()
    names = {name for name, _ in parse_metrics(r.text)}
    missing = [f for f in RUNTIME_FAMILIES if f not in names]
    assert not missing, missing
    assert '+Inf"' in r.text
    assert all(line.startswith("actord_") or line.startswith("# ")
               for line in r.text.splitlines() if line)


def test_every_metric_family_is_documented(actord):
    # docs/ADMIN.md lists every metric: a family added without its line
    # there fails here. (The storage and MongoDB families are checked in
    # test_storage.py and test_mongo.py, whose actord runs those actors.)
    wait_admin(actord)
    actord.get("/plaintext")
    missing, n = undocumented_metrics(actord)
    assert n > 50 and not missing, missing


def test_metrics_follow_requests_and_connections(actord):
    wait_admin(actord)
    before = metrics_of(actord)
    for _ in range(3):
        assert actord.get("/plaintext").status == 200
    assert actord.get("/nope").status == 404
    after = metrics_of(actord)
    net = {"actor": "net-0", "kind": "net"}

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("actord_http_responses_total", **net, **{"class": "2xx"}) == 3
    assert delta("actord_http_responses_total", **net, **{"class": "4xx"}) == 1
    assert delta("actord_http_connections_accepted_total", **net) == 4
    assert delta("actord_http_request_duration_seconds_count", **net) == 4
    assert delta("actord_handler_requests_total", actor="handler-0") == 4
    assert delta("actord_handler_not_found_total", actor="handler-0") == 1
    assert delta("actord_mailbox_dequeued_total", actor="handler-0") == 4
    assert metric(after, "actord_http_listeners_open", **net) == 1
    assert metric(after, "actord_ready") == 1


def test_admin_actors_lists_every_actor_with_its_mailbox(actord):
    wait_admin(actord)
    r = admin_get(actord, "/admin/actors")
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    names = [a["name"] for a in doc["actors"]]
    assert {"log-0", "handler-0", "net-0", "admin-0"} <= set(names)
    assert doc["ready"] is True and doc["uptime_seconds"] > 0
    for a in doc["actors"]:
        m = a["mailbox"]
        assert m["capacity"] >= 4 and 0 <= m["depth"] <= m["capacity"]
        assert m["dequeued_total"] <= m["enqueued_total"]
        assert a["kind"] == a["name"].rsplit("-", 1)[0]
    assert actor_doc(actord, "admin-0")["mailbox"]["capacity"] == 64


def test_livez_and_readyz_answer_with_one_entry_per_check(actord):
    wait_admin(actord)
    r = admin_get(actord, "/livez")
    assert (r.status, r.text) == (200, "ok\n")
    r = admin_get(actord, "/readyz")
    assert r.status == 200
    doc = r.json()
    assert doc["ready"] is True
    assert doc["checks"]["listeners"]["ok"] is True
    assert doc["checks"]["serving"] == {"ok": True, "required": True}


def test_readyz_flips_to_503_while_draining(actord_factory):
    a = wait_admin(actord_factory({"drain_timeout_ms": 20000}))
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=a.get("/_test/delay?ms=2000")))
    t.start()
    wait_until(lambda: metric(metrics_of(a), "actord_handler_inflight", actor="handler-0") == 1,
               5, "the slow request to reach the handler")
    a.signal(signal.SIGTERM)

    # "serving" drops first (the control loop), then net-0 closes its
    # listeners (when it takes the drain message).
    def draining():
        r = admin_get(a, "/readyz")
        return r if r.status == 503 and not r.json()["checks"]["listeners"]["ok"] else None
    r = wait_until(draining, 5, "/readyz to answer 503 for both checks")
    doc = r.json()
    assert doc["ready"] is False
    assert doc["checks"]["serving"]["ok"] is False
    assert "draining" in doc["checks"]["serving"]["reason"]
    assert doc["checks"]["listeners"]["ok"] is False
    assert "net-0" in doc["checks"]["listeners"]["reason"]
    assert admin_get(a, "/livez").status == 200
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 503 and r.json()["reloaded"] is False
    t.join(10 * SLOW)
    assert slow["r"].status == 200
    assert a.proc.wait(10 * SLOW) == 0


def test_config_shows_effective_values_with_secrets_redacted(actord_factory):
    secrets = ["adm-tok-1", "redis-pw-2", "mysql-pw-3", "mongo-pw-4", "aws-tok-5"]
    a = actord_factory({
        "http": {"max_pipeline": 7},
        "mysql": {"password": secrets[2]},
        "mongo": {"uri": f"mongodb://app:{secrets[3]}@db1:27017,db2:27018/hello?"
                         f"authSource=admin&authMechanismProperties=AWS_SESSION_TOKEN:{secrets[4]}"},
    }, env={"ACTORD_ADMIN_TOKEN": secrets[0], "ACTORD_REDIS_PASSWORD": secrets[1]})
    auth = {"Authorization": f"Bearer {secrets[0]}"}
    wait_admin(a, secrets[0])
    r = admin_get(a, "/admin/config", headers=auth)
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    for s in secrets:
        assert s not in r.text
    cfg = r.json()
    assert cfg["admin_token"] == "<redacted>"
    assert cfg["redis"]["password"] == "<redacted>"
    assert cfg["mysql"]["password"] == "<redacted>"
    assert cfg["mongo"]["uri"] == ("mongodb://<redacted>@db1:27017,db2:27018/hello?"
                                   "authSource=admin&authMechanismProperties=<redacted>")
    assert cfg["http"]["max_pipeline"] == 7           # from the file
    assert cfg["http"]["max_body_bytes"] == 1048576   # a default
    assert cfg["listen"] == a.cfg["listen"]
    assert cfg["admin_listen"] == a.cfg["admin_listen"]
    assert cfg["admin"]["max_connections"] == 64
    assert cfg["log"]["format"] == "json"


def test_reads_are_get_and_changes_are_post(actord):
    wait_admin(actord)
    for path in ("/metrics", "/livez", "/readyz", "/admin/actors", "/admin/config", "/admin/"):
        r = admin_get(actord, path, method="POST", body=b"x")
        assert r.status == 405, path
        assert r.headers["allow"] == "GET, HEAD"
        assert admin_get(actord, path, method="HEAD").status == 200
    r = admin_get(actord, "/admin/reload")
    assert r.status == 405 and r.headers["allow"] == "POST"
    assert admin_get(actord, "/admin/reload", method="PUT", body=b"").status == 405
    assert admin_get(actord, "/nope").status == 404
    r = admin_get(actord, "/admin")     # 301 to /admin/, followed by urllib
    assert r.status == 200 and "<canvas" in r.text
    assert "/metrics" in admin_get(actord, "/").text


def test_every_405_says_allow_and_every_answer_says_no_store(actord):
    """ADMIN.md: a wrong method is 405 with Allow; every answer carries
    Cache-Control: no-store (the 301 for /admin included)."""
    wait_admin(actord)
    cases = [("POST", "/admin/config", 405, "GET, HEAD"), ("GET", "/admin/reload", 405, "POST"),
             ("GET", "/admin/actors/handler", 405, "POST"),
             ("PUT", "/admin/actors/handler", 405, "POST"), ("GET", "/admin", 301, None),
             ("GET", "/nope", 404, None), ("GET", "/livez", 200, None)]
    c = RawClient(actord.admin_port)
    try:
        for method, path, status, allow in cases:
            c.send(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Length: 0\r\n\r\n".encode())
            r = c.read_response()
            assert r.status == status, (method, path, r.status)
            assert r.headers.get("allow") == allow, (method, path, r.headers)
            assert r.headers.get("cache-control") == "no-store", (method, path, r.headers)
    finally:
        c.close()


def test_no_cors_headers_even_for_a_cross_origin_request(actord):
    wait_admin(actord)
    origin = {"Origin": "http://evil.example"}
    answers = [admin_get(actord, p, headers=origin)
               for p in ("/metrics", "/readyz", "/admin/actors", "/admin/config", "/admin/")]
    answers.append(admin_get(actord, "/admin/reload", method="OPTIONS", headers={
        **origin, "Access-Control-Request-Method": "POST"}))
    assert answers[-1].status == 405
    for r in answers:
        assert not [h for h in r.headers if h.startswith("access-control-")], r.headers


def check_config(tmp_path, cfg, env=None):
    path = tmp_path / "actord.json"
    path.write_text(json.dumps(cfg))
    return subprocess.run([BIN, "-t", "-c", str(path)], capture_output=True, text=True,
                          timeout=30 * SLOW, env=env)


def test_non_loopback_admin_listen_needs_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ACTORD_ADMIN_TOKEN"}
    cfg = base_config(str(tmp_path))
    cfg["admin_listen"] = f"0.0.0.0:{free_port()}"
    r = check_config(tmp_path, cfg, env)
    assert r.returncode == 1
    assert "admin_listen: '0.0.0.0' is not a loopback address: set admin_token" in r.stderr
    cfg["admin_token"] = "a-long-random-token"
    assert check_config(tmp_path, cfg, env).returncode == 0
    del cfg["admin_token"]
    assert check_config(tmp_path, cfg, dict(env, ACTORD_ADMIN_TOKEN="t0k")).returncode == 0
    cfg["admin_listen"] = f"localhost:{free_port()}"
    assert check_config(tmp_path, cfg, env).returncode == 0
    cfg["admin_token"] = "has space"
    r = check_config(tmp_path, cfg, env)
    assert r.returncode == 1 and "admin_token: must be printable ASCII" in r.stderr


def test_a_token_guards_every_endpoint(actord_factory):
    token = "tok-0123456789"
    a = wait_admin(actord_factory(env={"ACTORD_ADMIN_TOKEN": token}), token)
    for path in ("/metrics", "/livez", "/readyz", "/admin/actors", "/admin/config",
                 "/admin/", "/", "/nope"):
        r = admin_get(a, path)
        assert r.status == 401, path
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert admin_get(a, path, headers={"Authorization": "Bearer wrong"}).status == 401
        assert admin_get(a, path, headers={"Authorization": f"Bearer {token}x"}).status == 401
        assert admin_get(a, path, headers={"Authorization": f"Basic {token}"}).status == 401
        ok = admin_get(a, path, headers={"Authorization": f"Bearer {token}"}).status
        assert ok == (404 if path == "/nope" else 200), path
    assert admin_get(a, "/livez", headers={"Authorization": f"bearer {token}"}).status == 200
    assert admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON).status == 401
    assert "reload requested" not in a.stderr()


def test_reload_reports_its_outcome(actord_factory):
    a = wait_admin(actord_factory())
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 200, r.text
    assert r.json() == {"reloaded": True, "file": a.config_path, "restart_required": []}

    cfg = json.loads(json.dumps(a.cfg))
    cfg["http"] = {"max_pipeline": 3}
    cfg["listen"] = [f"127.0.0.1:{free_port()}"]
    a.write_config(cfg)
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 200 and r.json()["restart_required"] == ["listen"]
    live = admin_get(a, "/admin/config").json()
    assert live["http"]["max_pipeline"] == 3
    assert live["listen"] == a.cfg["listen"]         # kept as running

    cfg["http"] = {"backlog": 0}
    a.write_config(cfg)
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 422
    assert r.json()["reloaded"] is False
    assert "http.backlog: 0 is out of range" in r.json()["error"]
    assert admin_get(a, "/admin/config").json()["http"]["max_pipeline"] == 3
    assert a.get("/plaintext").status == 200


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def test_reloads_of_an_unchanged_file_cost_no_memory(actord_factory):
    # Configuration tools send SIGHUP every few minutes: a snapshot is
    # kept until exit (about 112 KB), so only a reload that changes
    # something may keep one more.
    a = wait_admin(actord_factory())
    before = rss_kb(a.proc.pid)
    for n in range(1, 61):
        a.signal(signal.SIGHUP)
        wait_until(lambda: a.stderr().count("configuration reloaded from") >= n, 10,
                   f"reload {n}")
    grown = rss_kb(a.proc.pid) - before
    # (Under the sanitizers freed memory waits in a quarantine: RSS grows
    # whatever is freed, so only the Release run weighs it.)
    if SLOW == 1:
        assert grown < 2048, f"{grown} KB more after 60 unchanged reloads"  # 6.7 MB if kept
    assert a.stderr().count(f"configuration reloaded from {a.config_path}: unchanged") == 60
    # A change is published as ever.
    cfg = json.loads(json.dumps(a.cfg))
    cfg["http"] = {"max_pipeline": 5}
    a.write_config(cfg)
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 200, r.text
    assert admin_get(a, "/admin/config").json()["http"]["max_pipeline"] == 5
    assert a.stderr().count(f"configuration reloaded from {a.config_path}\"") == 1


def test_the_shipped_binary_refuses_test_routes_on_every_reload(actord_factory, monkeypatch):
    """-t and the start refuse test_routes in build/actord; a reload (admin
    or SIGHUP) must not switch them on either."""
    monkeypatch.setattr(conftest, "BIN", conftest.SHIPPED_BIN)
    a = wait_admin(actord_factory({"test_routes": False}))
    a.write_config(dict(a.cfg, test_routes=True))
    why = (f"{a.config_path}: test_routes: this binary has no test routes "
           "(the test suite's build/actord-test has them)")
    r = admin_get(a, "/admin/reload", method="POST", body=b"", headers=JSON)
    assert r.status == 422 and r.json()["error"] == why, r.text
    a.signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in a.stderr(), 5, "the refused reload")
    assert why in a.stderr()
    assert admin_get(a, "/admin/config").json()["test_routes"] is False


def test_admin_answers_while_the_public_side_is_at_its_connection_limit(actord_factory):
    a = wait_admin(actord_factory({"http": {"max_connections": 2}}))
    held = [RawClient(a.port), RawClient(a.port)]
    for c in held:
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
    for path in ("/livez", "/metrics", "/admin/actors", "/readyz"):
        assert admin_get(a, path).status == 200
    m = metrics_of(a)
    assert metric(m, "actord_http_connections_open", actor="net-0") == 2
    for c in held:
        c.close()


def test_admin_connection_budget_is_its_own(actord_factory):
    a = wait_admin(actord_factory({"admin": {"max_connections": 1}}))
    first = RawClient(a.admin_port)
    first.send(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert first.read_response().status == 200
    # Its next request in progress for less than a second: an idle one, or
    # on the admin pool one stalled for a second, would be closed to make
    # room (net_reclaim.c; the next test).
    first.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
    second = RawClient(a.admin_port)
    second.send(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    second.sock.settimeout(0.5)   # not x SLOW: at 1 s `first` could be closed
    try:
        second.read_response()
        raise AssertionError("a second admin connection was served over the budget of 1")
    except OSError:
        pass
    first.send(b"\r\n")
    m = parse_metrics(first.read_response().text)
    assert metric(m, "actord_http_connections_open", actor="admin-0") == 1
    assert metric(m, "actord_http_accept_paused_total", actor="admin-0") >= 1
    first.close()
    second.sock.settimeout(5 * SLOW)      # served once the first one closed
    assert second.read_response().status == 200
    second.close()


def test_stalled_clients_do_not_keep_a_liveness_probe_out(actord_factory):
    """Clients that never finish a request (slowloris) held every admin
    slot until http.header_timeout_ms (10 s): /livez waited that long.
    At its limit the admin pool closes the connection stalled longest,
    once it has waited a second."""
    a = wait_admin(actord_factory({"admin": {"max_connections": 4}}))
    stalled = [RawClient(a.admin_port) for _ in range(4)]
    for c in stalled:
        c.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")   # never ends
    t0 = time.monotonic()
    r = admin_get(a, "/livez", timeout=20)
    took = time.monotonic() - t0
    assert r.status == 200
    assert took < 1 + 3 * SLOW, f"/livez took {took:.1f} s behind stalled clients"
    m = metrics_of(a)
    assert metric(m, "actord_http_connections_reclaimed_total", actor="admin-0") >= 1
    closed = 0
    for c in stalled:
        c.sock.settimeout(5 * SLOW)
        try:
            closed += c.sock.recv(100) == b""
        except OSError:
            closed += 1
        c.close()
    assert closed >= 1


def test_counters_never_go_backwards_while_scraped_under_traffic(actord):
    wait_admin(actord)
    done = threading.Event()
    answered = []

    def traffic():
        c = RawClient(actord.port)
        while not done.is_set():
            c.send(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n" * 8)
            answered.extend(c.read_response().status for _ in range(8))
        c.close()

    t = threading.Thread(target=traffic)
    t.start()
    previous = {}
    try:
        for _ in range(15):
            current = {k: v for k, v in metrics_of(actord).items()
                       if k[0].endswith(("_total", "_count", "_bucket", "_sum"))}
            for k, v in previous.items():
                assert current[k] >= v, (k, v, current[k])
            previous = current
            actor_doc(actord, "handler-0")
    finally:
        done.set()
        t.join(10 * SLOW)
    assert answered and set(answered) == {200}
    assert metric(previous, "actord_mailbox_dequeued_total", actor="handler-0") > 0


# ---- Browsers: DNS rebinding and cross-site requests ----------------------

def test_a_foreign_host_is_refused_without_a_token(actord):
    # A page of evil.example rebound to 127.0.0.1 sends its own name.
    wait_admin(actord)
    for host in ("evil.example", f"evil.example:{actord.admin_port}", "127.0.0.1.evil.example",
                 "[evil.example]", f"[evil.example]:{actord.admin_port}"):
        r = admin_get(actord, "/admin/config", headers={"Host": host})
        assert r.status == 421, host
        assert "Host" in r.text
    for host in ("[::1]x", "[]"):   # not a Host at all: the network actor's 400
        assert admin_get(actord, "/admin/config", headers={"Host": host}).status == 400, host
    for host in (f"127.0.0.1:{actord.admin_port}", "localhost", "LocalHost:1234",
                 "[::1]:9901", "[::1]", "[fe80::1]:80", "10.0.0.1"):
        assert admin_get(actord, "/admin/config", headers={"Host": host}).status == 200, host
    # HTTP/1.0 without Host is no browser.
    c = RawClient(actord.admin_port)
    c.send(b"GET /livez HTTP/1.0\r\n\r\n")
    assert c.read_response().status == 200
    c.close()


def test_with_a_token_any_host_is_served(actord_factory):
    token = "tok-host-0123"
    a = wait_admin(actord_factory(env={"ACTORD_ADMIN_TOKEN": token}), token)
    r = admin_get(a, "/livez", headers={"Host": "admin.example:443",
                                        "Authorization": f"Bearer {token}"})
    assert r.status == 200


def test_reload_needs_a_json_request(actord):
    # What a cross-site form or a "no-cors" fetch can send is refused,
    # and nothing is signalled.
    wait_admin(actord)
    for headers in ({}, {"Content-Type": "text/plain"},
                    {"Content-Type": "application/x-www-form-urlencoded"},
                    {"Content-Type": "multipart/form-data; boundary=x"},
                    {"Content-Type": "application/jsonx"}):
        r = admin_get(actord, "/admin/reload", method="POST", body=b"{}", headers=headers)
        assert r.status == 415, headers
        assert "application/json" in r.text
    assert "reload requested" not in actord.stderr()
    r = admin_get(actord, "/admin/reload", method="POST", body=b"{}",
                  headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status == 200 and r.json()["reloaded"] is True


def test_admin_never_shares_the_public_port_group(actord_factory):
    # Bound without SO_REUSEPORT: a public listener cannot join its address
    # (nor the admin one a public group), so the kernel can never hand public
    # connections to the admin socket. The config check refuses one port for
    # both (tests/e2e/test_config_cli.py); here the socket itself refuses.
    a = wait_admin(actord_factory())
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        with pytest.raises(OSError):
            s.bind(("127.0.0.1", a.admin_port))
    finally:
        s.close()
    # The public port, in contrast, is a reuseport group (one socket per
    # network actor).
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind(("127.0.0.1", a.port))
    finally:
        s.close()


def test_every_refusal_is_precise_and_logged_with_its_reason(actord):
    # A count too large is out of range (422), not malformed (400); and
    # every 4xx leaves a log line naming the request and why.
    wait_admin(actord)

    def post(path, body, headers=JSON):
        return admin_get(actord, path, method="POST", body=body, headers=headers)
    r = post("/admin/actors/handler", b'{"count": 2000000}')
    assert r.status == 422, r.text
    assert r.json()["error"] == "actor pool handler: count 2000000 is out of range [1, 64]"
    r = post("/admin/actors/handler", b'{"count": 1e300}')
    assert r.status == 422, r.text
    assert r.json()["error"] == ("actor pool handler: count above 4294967295 is out of "
                                 "range [1, 64]")
    assert post("/admin/actors/handler", b'{"count": "two"}').status == 400
    assert post("/admin/reload", b"{}", headers={}).status == 415
    assert admin_get(actord, "/nope").status == 404
    want = ["POST /admin/actors/handler from 127.0.0.1:",
            "refused: 422 actor pool handler: count 2000000 is out of range [1, 64]",
            "refused: 422 actor pool handler: count above 4294967295",
            'refused: 400 the body must be {\\"count\\": N}, N a whole number"',
            "POST /admin/reload from 127.0.0.1:",
            'refused: 415 a change needs Content-Type: application/json"',
            'GET /nope from 127.0.0.1:']
    wait_until(lambda: all(w in actord.stderr() for w in want), 5,
               "a log line for each refusal: " + repr(
                   [w for w in want if w not in actord.stderr()]))


def test_growing_into_a_retiring_slot_never_stalls_the_admin_endpoint(actord):
    # A network actor removed by a shrink drains its connections; growing
    # back into its slot used to wait for it up to 5 s on the admin thread,
    # and /livez with it (a liveness probe times out after 1 s).
    wait_admin(actord)

    def resize(n):
        return admin_get(actord, "/admin/actors/net", method="POST", headers=JSON,
                         body=json.dumps({"count": n}).encode())
    assert resize(3).status == 200
    held = []
    for _ in range(24):                       # SO_REUSEPORT spreads them over net-0..2
        s = socket.create_connection(("127.0.0.1", actord.port))
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n")   # half a request
        held.append(s)
    wait_until(lambda: metric(metrics_of(actord), "actord_http_connections_open",
                              actor="net-1", kind="net") >= 1, 5, "net-1 to hold a client")
    assert resize(1).status == 200
    started = time.monotonic()
    r = resize(3)
    took = time.monotonic() - started
    assert r.status == 503 and r.headers.get("retry-after") == "1", (r.status, r.text)
    assert r.json()["error"] == "net-1 is still retiring (finishing its work): try again shortly"
    assert took < 1, took
    assert admin_get(actord, "/livez").status == 200
    for s in held:
        s.close()
    wait_until(lambda: resize(3).status == 200, 10, "net to grow once net-1 retired")

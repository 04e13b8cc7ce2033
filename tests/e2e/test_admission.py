"""Admission by time waited (issue: absorb bursts, shed only real overload):
the handler's CoDel sheds a standing queue with 503 + Retry-After and
serves the rest within target + interval, requests wait (held by the
network actor) instead of being refused when the handler mailbox is full,
replies are never refused by a full network mailbox, and the admission
keys change live on SIGHUP. Cheap (the load is a handler that sleeps), so
the sanitizer builds run it too."""
import json
import signal
import threading
import time

from admin_helpers import metric, metrics_of, wait_admin, admin_get
from conftest import SLOW, RawClient, wait_until

BLOCK_MS = 10


def hammer(a, path, clients, seconds):
    """`clients` threads, each sending `path` one request after another for
    `seconds`: [(status, latency_s, headers, body)]."""
    out = []
    lock = threading.Lock()
    go = threading.Barrier(clients)
    stop_at = []

    def client():
        go.wait()
        if not stop_at:
            stop_at.append(time.monotonic() + seconds)
        while time.monotonic() < stop_at[0]:
            t0 = time.monotonic()
            r = a.get(path, timeout=30)
            took = time.monotonic() - t0
            with lock:
                out.append((r.status, took, r.headers, r.body))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * SLOW)
    return out


def p99(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def test_a_standing_queue_is_shed_with_503_and_the_rest_served_in_time(actord_factory):
    target, interval = 100, 50
    a = wait_admin(actord_factory({
        "actors": {"handler": {"count": 1, "mailbox": 16}},
        "admission": {"target_ms": target, "interval_ms": interval},
    }))
    # 24 clients on a handler that takes 10 ms per request: a standing
    # queue of ~240 ms, which no burst explains.
    results = hammer(a, f"/_test/block?ms={BLOCK_MS}", 24, 2.0 * SLOW)
    ok = [r for r in results if r[0] == 200]
    shed = [r for r in results if r[0] == 503]
    assert len(ok) + len(shed) == len(results), {r[0] for r in results}
    assert ok and shed, (len(ok), len(shed))
    for status, took, headers, body in shed:
        assert headers.get("retry-after") == "1", headers
        assert "overloaded" in json.loads(body)["error"]
    # Served: queued at most target + interval (then BLOCK_MS of work,
    # and the client's own overhead).
    bound = (target + interval + BLOCK_MS) / 1000 + 0.1 * SLOW
    assert p99([r[1] for r in ok]) <= bound, sorted(r[1] for r in ok)[-10:]
    assert max(r[1] for r in results) < 2.0 * SLOW

    m = metrics_of(a)
    h = {"actor": "handler-0", "kind": "handler"}
    shed_total = (metric(m, "actord_requests_shed_total", reason="overload", **h) +
                  metric(m, "actord_requests_shed_total", reason="late", **h))
    assert shed_total == len(shed)
    assert metric(m, "actord_admission_overloads_total", **h) >= 1
    assert metric(m, "actord_handler_sojourn_seconds_count", **h) == \
        metric(m, "actord_handler_requests_total", **h)
    # The mailbox (16) was full: requests waited in the network actor,
    # none was refused for it.
    assert metric(m, "actord_http_requests_held_total", actor="net-0") > 0
    assert metric(m, "actord_http_requests_held", actor="net-0") == 0
    assert metric(m, "actord_handler_deadline_exceeded_total", **h) == 0

    # A moment later the process serves normally, and the overload ends.
    time.sleep(interval / 1000 * 2)
    t0 = time.monotonic()
    assert a.get(f"/_test/block?ms={BLOCK_MS}").status == 200
    assert time.monotonic() - t0 < 0.5 * SLOW
    wait_until(lambda: metric(metrics_of(a), "actord_admission_overloaded", **h) == 0, 5,
               "the overload to end")


def test_a_full_handler_mailbox_holds_requests_instead_of_refusing_them(actord_factory):
    # Admission far away: this is about the mailbox alone. 16 clients on a
    # handler whose mailbox holds 4 and that sleeps 100 ms per request.
    a = wait_admin(actord_factory({
        "actors": {"handler": {"count": 1, "mailbox": 4}},
        "admission": {"target_ms": 60000, "interval_ms": 100},
    }))
    results = hammer(a, "/_test/block?ms=100", 16, 0.1)
    assert [r[0] for r in results] == [200] * len(results)
    m = metrics_of(a)
    assert metric(m, "actord_http_requests_held_total", actor="net-0") > 0
    assert metric(m, "actord_mailbox_high_water", actor="handler-0") == 4
    assert metric(m, "actord_http_responses_total", actor="net-0", **{"class": "5xx"}) == 0


def test_replies_past_a_full_network_mailbox_all_arrive(actord_factory):
    # Admission far away: the requests wait behind a 1 s block on purpose.
    a = wait_admin(actord_factory({"actors": {"net": {"mailbox": 4},
                                              "handler": {"count": 1, "mailbox": 4096}},
                                   "admission": {"target_ms": 60000}}))
    blocked = threading.Thread(target=lambda: a.get("/_test/block?ms=1000", timeout=30))
    blocked.start()
    h = {"actor": "handler-0", "kind": "handler"}
    wait_until(lambda: metric(metrics_of(a), "actord_handler_inflight", **h) == 1, 5,
               "the handler to block")
    # 8 connections x 25 pipelined requests queue behind it; then the
    # handler answers them in batches far larger than the network actor's
    # mailbox of 4.
    clients = [RawClient(a.port) for _ in range(8)]
    for c in clients:
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" * 25)
    # (The blocked request counts in the depth until it is delivered.)
    wait_until(lambda: metric(metrics_of(a), "actord_mailbox_depth", **h) >= 200, 5,
               "200 requests queued in the handler mailbox")
    for c in clients:
        for _ in range(25):
            r = c.read_response()
            assert r.status == 200 and r.body == b"Hello, World!"
        c.close()
    blocked.join(30 * SLOW)
    m = metrics_of(a)
    net = {"actor": "net-0", "kind": "net"}
    assert metric(m, "actord_mailbox_replies_over_capacity_total", **net) > 0
    assert metric(m, "actord_mailbox_rejected_total", **net) == 0
    assert metric(m, "actord_http_late_replies_total", actor="net-0") == 0
    assert metric(m, "actord_actor_replies_retried_total", **h) == 0


def test_admission_settings_change_live_on_sighup(actord_factory):
    a = wait_admin(actord_factory({
        "actors": {"handler": {"count": 1}},
        "admission": {"target_ms": 60000, "interval_ms": 100},
    }))
    before = hammer(a, f"/_test/block?ms={BLOCK_MS}", 16, 1.0 * SLOW)
    assert {r[0] for r in before} == {200}
    a.cfg["admission"] = {"target_ms": 40, "interval_ms": 20}
    a.write_config(a.cfg)
    a.signal(signal.SIGHUP)
    wait_until(lambda: f"configuration reloaded from {a.config_path}" in a.stderr(), 10,
               "the reload")
    assert admin_get(a, "/admin/config").json()["admission"] == {"target_ms": 40,
                                                                  "interval_ms": 20}
    after = hammer(a, f"/_test/block?ms={BLOCK_MS}", 16, 1.0 * SLOW)
    assert 503 in {r[0] for r in after}
    assert "overloaded: a request waited more than 40 ms (admission.target_ms)" in a.stderr()

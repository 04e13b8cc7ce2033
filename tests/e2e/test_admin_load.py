"""Mailbox metrics under a load that fills a handler mailbox (issue: admin
endpoint; issue: absorb bursts): depth, high-water mark and the requests
the network actor held move as the load generator saw them, and a full
mailbox refuses nobody."""
import threading

from admin_helpers import actor_doc, metric, metrics_of, wait_admin
from conftest import SLOW, wait_until

CLIENTS = 16
BLOCK_MS = 200
MAILBOX = 4


def test_a_full_handler_mailbox_shows_in_depth_high_water_and_held_requests(actord_factory):
    # One handler actor, admission far away: every request waits its turn
    # (16 x 200 ms stays under the 5 s request deadline).
    a = wait_admin(actord_factory({"actors": {"handler": {"count": 1, "mailbox": MAILBOX}},
                                   "admission": {"target_ms": 60000}}))
    handler = {"actor": "handler-0", "kind": "handler"}
    before = metrics_of(a)
    assert metric(before, "actord_mailbox_capacity", **handler) == MAILBOX
    assert metric(before, "actord_mailbox_rejected_total", **handler) == 0

    statuses = []
    lock = threading.Lock()
    go = threading.Barrier(CLIENTS)

    def client():
        go.wait()
        r = a.get(f"/_test/block?ms={BLOCK_MS}", timeout=30)
        with lock:
            statuses.append(r.status)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    # While the handler sleeps in a request, the ones behind it wait in
    # its mailbox, the rest in the network actor: the admin endpoint shows
    # both without asking either.
    seen = wait_until(lambda: actor_doc(a, "handler-0")["mailbox"]["depth"] or None,
                      5, "requests queued in the handler mailbox", interval=0.005)
    assert 1 <= seen <= MAILBOX
    wait_until(lambda: metric(metrics_of(a), "actord_http_requests_held", actor="net-0") > 0,
               5, "requests held by the network actor")
    for t in threads:
        t.join(30 * SLOW)
    assert statuses == [200] * CLIENTS

    after = metrics_of(a)
    assert metric(after, "actord_http_requests_held_total", actor="net-0") >= 1
    assert metric(after, "actord_http_requests_held", actor="net-0") == 0
    assert metric(after, "actord_mailbox_high_water", **handler) == MAILBOX
    assert metric(after, "actord_mailbox_enqueued_total", **handler) == CLIENTS
    assert metric(after, "actord_http_responses_total", actor="net-0", **{"class": "5xx"}) == 0
    assert metric(after, "actord_mailbox_wait_seconds_count", **handler) == CLIENTS
    assert metric(after, "actord_handler_sojourn_seconds_count", **handler) == CLIENTS
    assert metric(after, "actord_actor_loop_lag_max_seconds", actor="handler-0") >= 0.1
    wait_until(lambda: metric(metrics_of(a), "actord_mailbox_depth", **handler) == 0, 5,
               "the handler mailbox to empty")
    doc = actor_doc(a, "handler-0")
    assert doc["mailbox"]["dequeued_total"] == doc["mailbox"]["enqueued_total"] == CLIENTS

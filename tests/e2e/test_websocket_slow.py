"""Slow consumers: each connection's outbound queue is bounded
(websocket.max_queue_messages / max_queue_bytes). A member of a channel
that stops reading is cut off per websocket.slow_consumer ("close": 1008,
or "drop": its frames are dropped and counted) while the fast members get
every message, in order, at their pace; the network actor never buffers
without bound. The publisher is not a member (the test suite's
/_test/ws/publish and /_test/ws/listen routes), so only readers read."""
import threading
import time

from admin_helpers import wait_admin
from conftest import SLOW, wait_until
from ws_util import RawWs, ws_sum

MESSAGES = 600
SIZE = 32000


def reader(c, n, out):
    got = []
    try:
        while len(got) < n:
            op, payload = c.read_message()
            got.append(payload[:6])
    except Exception as e:  # recorded for the assertion
        out["error"] = repr(e)
    out["got"] = got
    out["done"] = time.monotonic()


def run_channel(a, channel):
    fast = [RawWs(a.port, f"/_test/ws/listen/{channel}", timeout=30 * SLOW) for _ in range(2)]
    slow = RawWs(a.port, f"/_test/ws/listen/{channel}", rcvbuf=4096)     # never reads
    publisher = RawWs(a.port, f"/_test/ws/publish/{channel}")
    wait_until(lambda: ws_sum(a, "actord_ws_memberships") == 3, 10 * SLOW, "3 members")
    results = [dict() for _ in fast]
    threads = [threading.Thread(target=reader, args=(c, MESSAGES, r))
               for c, r in zip(fast, results)]
    for t in threads:
        t.start()
    start = time.monotonic()
    # Paced at 400 messages/s (12.8 MB/s; slower in the sanitizer builds,
    # ACTORD_TEST_SLOW): the fast readers are Python threads on a shared
    # machine, with the queue (256 frames, 8 MB) and their socket buffers
    # as slack. The slow reader's socket buffers hold a few MB at most: the
    # 19 MB sent overflow its queue for sure.
    for i in range(MESSAGES):
        publisher.send_frame(0x1, (f"{i:06d}" + "x" * SIZE).encode())
        if i % 20 == 19:
            time.sleep(0.05 * SLOW)
    for t in threads:
        t.join(60 * SLOW)
    for r in results:
        assert "error" not in r, r.get("error")
        assert r["got"] == [b"%06d" % i for i in range(MESSAGES)]   # all, in order
    took = max(r["done"] for r in results) - start
    return fast, slow, publisher, took


def test_slow_reader_is_closed_1008_while_fast_readers_keep_up(actord_factory):
    a = wait_admin(actord_factory({"websocket": {"max_queue_messages": 256,
                                                 "slow_consumer": "close"},
                                   "http": {"write_timeout_ms": 60000}}))
    fast, slow, publisher, took = run_channel(a, "close")
    assert ws_sum(a, "actord_ws_dropped_slow_consumer_total") >= 1
    assert took < 30 * SLOW
    # It reads at last: the frames already on their way, then our close
    # (its unsent frames were dropped), and never all the messages.
    got = 0
    while True:
        fin, op, payload = slow.read_frame()
        if op == 0x8:
            break
        got += 1
    assert payload[:2] == b"\x03\xf0" and payload[2:] == b"slow consumer"   # 1008
    assert got < MESSAGES
    slow.send_close(1008)
    wait_until(lambda: ws_sum(a, "actord_ws_closed_total", reason="slow_consumer") == 1,
               10 * SLOW, "the slow reader's close to be counted")
    for c in fast + [publisher, slow]:
        c.close()


def test_drop_policy_keeps_the_slow_reader_and_counts(actord_factory):
    a = wait_admin(actord_factory({"websocket": {"max_queue_messages": 256,
                                                 "slow_consumer": "drop"},
                                   "http": {"write_timeout_ms": 60000}}))
    fast, slow, publisher, took = run_channel(a, "drop")
    assert took < 30 * SLOW
    assert ws_sum(a, "actord_ws_dropped_slow_consumer_total") >= 1
    assert ws_sum(a, "actord_ws_closed_total", reason="slow_consumer") == 0
    assert ws_sum(a, "actord_ws_connections") == 4
    # Still a member: it gets what was not dropped, in order, then a new
    # message.
    publisher.send_frame(0x1, b"!still here")
    seen = []
    while True:
        op, payload = slow.read_message()
        if payload.startswith(b"!still here"):
            break
        seen.append(int(payload[:6]))
    assert seen == sorted(seen) and len(seen) < MESSAGES
    for c in fast + [publisher, slow]:
        c.close()


def test_a_burst_of_pings_costs_one_pong_for_the_latest(actord_factory):
    """RFC 6455 5.5.3: a pong may answer only the latest ping. A pong still
    waiting takes the new one's place, so a client sending 2,000 pings in
    one go gets a few pongs, the last with the last ping's payload, and
    stays open; each used to take a queue slot, and the burst was closed
    1008 as a slow consumer before a single pong went out."""
    a = wait_admin(actord_factory({"websocket": {"max_queue_messages": 64,
                                                 "slow_consumer": "close"}}))
    c = RawWs(a.port, "/ws/echo")
    # FIN + opcode 9, masked with a zero key: the payload goes as it is.
    burst = b"".join(b"\x89\x86\x00\x00\x00\x00" + b"p%05d" % i for i in range(2000))
    c.sock.sendall(burst)
    pongs = []
    while not pongs or pongs[-1] != b"p01999":
        fin, op, payload = c.read_frame()
        assert op == 0xA, (op, payload)
        pongs.append(payload)
    assert len(pongs) < 2000 and pongs == sorted(pongs), len(pongs)
    c.send_frame(0x1, b"still here")
    assert c.read_message() == (0x1, b"still here")
    assert ws_sum(a, "actord_ws_dropped_slow_consumer_total") == 0
    c.close()


def test_a_client_that_pings_and_never_reads_does_not_grow_the_queue(actord_factory):
    """Pongs used to take a queue slot each, so a client sending pings and
    never reading grew the queue by a pong per ping. Now one waits at most:
    actord reads every ping, writes what the socket takes, and neither
    drops nor queues the rest."""
    a = wait_admin(actord_factory({"websocket": {"max_queue_messages": 64,
                                                 "slow_consumer": "close"}}))
    c = RawWs(a.port, "/ws/echo", rcvbuf=4096)
    c.sock.settimeout(30 * SLOW)
    batch = (b"\x89\xfd\x00\x00\x00\x00" + b"p" * 125) * 1000
    sent = 0
    try:
        for _ in range(100):   # 100,000 pings, 13 MB: far more than the buffers hold
            c.sock.sendall(batch)
            sent += 1
    except OSError as e:       # say what actord had done by then
        raise AssertionError(f"{e!r} after {sent} batches; read "
                             f"{ws_sum(a, 'actord_ws_bytes_in_total')} bytes, wrote "
                             f"{ws_sum(a, 'actord_ws_bytes_out_total')}; log:\n{a.stderr()}")
    wait_until(lambda: ws_sum(a, "actord_ws_bytes_in_total") >= 100000 * 131, 10 * SLOW,
               "every ping to be read")
    assert ws_sum(a, "actord_ws_bytes_out_total") < 1 << 20     # not 13 MB of pongs
    assert ws_sum(a, "actord_ws_dropped_slow_consumer_total") == 0
    assert ws_sum(a, "actord_ws_closed_total") == 0
    c.close()


def test_a_client_that_never_reads_is_reset_at_the_write_timeout_and_logged(actord_factory):
    """With slow_consumer "drop" nothing closes a client that never
    reads but http.write_timeout_ms: it is reset, counted as a slow
    consumer and a write timeout, and logged."""
    a = wait_admin(actord_factory({"websocket": {"slow_consumer": "drop",
                                                 "idle_timeout_ms": 60000},
                                   "http": {"write_timeout_ms": int(300 * SLOW)}}))
    c = RawWs(a.port, "/ws/echo", rcvbuf=4096)
    c.sock.settimeout(0.5)
    msg = b"x" * 65536
    try:
        # Echoes fill the kernel's buffers and the queue (4 MB); what
        # does not fit is dropped; then nothing moves.
        for _ in range(200):
            c.send_frame(0x2, msg)
    except OSError:
        pass  # reset by actord while we were still sending
    wait_until(lambda: ws_sum(a, "actord_ws_closed_total", reason="slow_consumer") == 1,
               10 * SLOW, "the client that never reads to be reset")
    assert "reset: nothing written for http.write_timeout_ms" in a.stderr()
    c.close()

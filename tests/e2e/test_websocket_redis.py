"""WebSocket channels across instances: two actord on one real
redis-server (started here, on a free port, so the test can restart it),
the shipped chat room (GET /ws/chat/:room) on both. A message to the room
on one instance reaches the members on both; Redis restarted mid-test:
subscriptions come back by themselves, and what was published while it
was down reaches the local members and is counted as lost for the
others."""
import json
import subprocess
import time

import pytest

from admin_helpers import metrics_of, wait_admin
from conftest import SLOW, free_port, wait_until
from storage_util import Redis
from ws_util import RawWs


class RedisServer:
    def __init__(self, tmp, port):
        self.port = port
        self.dir = tmp
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                r = Redis(self.port)
                ok = r.cmd("PING") == "PONG"
                r.close()
                return ok
            except OSError:
                return False
        wait_until(up, 10, "redis-server to answer")

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def numsub(self, channel):
        r = Redis(self.port)
        try:
            return r.cmd("PUBSUB", "NUMSUB", channel)[1]
        finally:
            r.close()


@pytest.fixture
def redis_server(tmp_path):
    s = RedisServer(str(tmp_path), free_port())
    s.start()
    yield s
    s.stop()


def chat_config(port):
    return {"redis": {"port": port, "reconnect_max_ms": 100, "connect_timeout_ms": 200},
            "websocket": {"redis": True}}


def pubsub_metric(a, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics_of(a).items() if n == name and want <= set(ls))


def text_of(c):
    op, payload = c.read_message()
    assert op == 0x1
    return json.loads(payload)["text"]


def test_a_room_spans_instances_and_survives_a_redis_restart(actord_factory, redis_server):
    a = wait_admin(actord_factory(chat_config(redis_server.port)))
    b = wait_admin(actord_factory(chat_config(redis_server.port)))
    channel = "actord:ws:chat:lobby"
    a1 = RawWs(a.port, "/ws/chat/lobby")
    a2 = RawWs(a.port, "/ws/chat/lobby")
    b1 = RawWs(b.port, "/ws/chat/lobby")
    other = RawWs(b.port, "/ws/chat/elsewhere")
    wait_until(lambda: redis_server.numsub(channel) == 2, 10 * SLOW,
               "both instances to subscribe to the room")

    a1.send_frame(0x1, b"hello from a")
    for c in (a1, a2, b1):
        assert text_of(c) == "hello from a"
    b1.send_frame(0x1, "héllo from b".encode())
    env = json.loads(a2.read_message()[1])
    assert env["text"] == "héllo from b" and env["room"] == "lobby" and env["type"] == "message"
    assert env["sender"].startswith("127.0.0.1:") and env["time"] > time.time() * 1000 - 60000
    assert text_of(a1) == "héllo from b" and text_of(b1) == "héllo from b"

    # Redis goes away: local members still get the room, B does not, and
    # A counts the publish as lost.
    redis_server.stop()
    lost = pubsub_metric(a, "actord_pubsub_redis_lost_total")
    a1.send_frame(0x1, b"while redis is down")
    assert text_of(a1) == "while redis is down" and text_of(a2) == "while redis is down"
    wait_until(lambda: pubsub_metric(a, "actord_pubsub_redis_lost_total") == lost + 1,
               5 * SLOW, "the publish to be counted as lost")

    # Redis is back on the same port: both instances subscribe again by
    # themselves, and the room spans both instances again.
    redis_server.start()
    wait_until(lambda: redis_server.numsub(channel) == 2, 15 * SLOW,
               "both instances to subscribe again")
    # A publishes on its own connection, which reconnects on its own
    # schedule: a publish before it is back is lost, as counted above.
    wait_until(lambda: pubsub_metric(a, "actord_backend_connected", backend="redis_publish") == 1,
               15 * SLOW, "A's publishing connection to be back")
    a1.send_frame(0x1, b"after the restart")
    assert text_of(b1) == "after the restart"         # not "while redis is down"
    assert text_of(a1) == "after the restart" and text_of(a2) == "after the restart"
    assert pubsub_metric(b, "actord_pubsub_redis_received_total") >= 2

    # Leaving empties the room: Redis no longer carries it.
    for c in (a1, a2, b1):
        c.send_close(1000)
        assert c.expect_close() == 1000
        c.close()
    wait_until(lambda: redis_server.numsub(channel) == 0, 10 * SLOW,
               "the instances to unsubscribe")
    assert redis_server.numsub("actord:ws:chat:elsewhere") == 1
    other.close()


def test_what_another_publisher_puts_on_a_channel_never_reaches_members(actord_factory,
                                                                         redis_server):
    """Whatever Redis carries on our channel is written to the members
    as is, so only one whole server frame may pass: a stranger's bytes
    (a frame announcing more than it has, a masked one, a control frame,
    text that is not UTF-8) are dropped, counted and logged, and the
    members' streams stay intact."""
    a = wait_admin(actord_factory(chat_config(redis_server.port)))
    channel = b"actord:ws:chat:lobby"
    member = RawWs(a.port, "/ws/chat/lobby")
    wait_until(lambda: redis_server.numsub(channel.decode()) == 1, 10 * SLOW,
               "the instance to subscribe to the room")
    other = b"0123456789abcdef"          # another instance's id
    r = Redis(redis_server.port)
    bad = [b"", b"short", other + b"\x81\x7fxx", other + b"\x82\x85mask12345",
           other + b"\x89\x00", other + b"\x81\x02\xc3\x28", other + b"\x81\x05hello!"]
    for payload in bad:
        r.cmd("PUBLISH", channel, payload)
    r.cmd("PUBLISH", channel, other + b"\x81\x05hello")
    r.close()
    assert member.read_message() == (0x1, b"hello")
    member.send_frame(0x1, b"still in sync")
    assert text_of(member) == "still in sync"
    assert pubsub_metric(a, "actord_pubsub_redis_invalid_total") == len(bad)
    assert "is not one WebSocket frame" in a.stderr()
    member.close()


def test_frames_a_full_network_actor_mailbox_refuses_are_counted_and_logged(actord_factory,
                                                                            redis_server):
    """A burst from Redis meets a network actor whose mailbox (4 slots
    here) is full: the frames it refuses are dropped for its members,
    never waited for, counted and logged."""
    cfg = chat_config(redis_server.port)
    cfg["actors"] = {"net": {"mailbox": 4}}
    a = wait_admin(actord_factory(cfg))
    channel = b"actord:ws:chat:burst"
    member = RawWs(a.port, "/ws/chat/burst")
    wait_until(lambda: redis_server.numsub(channel.decode()) == 1, 10 * SLOW,
               "the instance to subscribe to the room")
    r = Redis(redis_server.port)
    r.pipeline([("PUBLISH", channel, b"0123456789abcdef\x81\x01x")] * 5000)
    r.close()
    wait_until(lambda: pubsub_metric(a, "actord_pubsub_redis_received_total") == 5000,
               10 * SLOW, "the burst to arrive")
    assert pubsub_metric(a, "actord_pubsub_fanout_dropped_total") >= 1
    assert "was dropped for the members on 1 network actor(s)" in a.stderr()
    member.close()

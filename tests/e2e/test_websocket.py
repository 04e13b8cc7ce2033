"""WebSocket conformance (RFC 6455) against a real client library
(Debian's python3-websockets) and, for what a library will not send, a
raw frame client (ws_util.RawWs): handshake, fragmentation, interleaved
control frames, ping/pong, the close handshake and every error with its
close code, timeouts, drain, metrics. The target is the shipped
GET /ws/echo."""
import asyncio
import json
import signal
import struct

import pytest
import websockets

from admin_helpers import wait_admin
from conftest import SLOW, Actord, base_config, merge, wait_until
from ws_util import RawWs, handshake_request, ws_sum
import socket

NO_REDIS = {"websocket": {"redis": False}}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30 * SLOW))


def url(a, path="/ws/echo"):
    return f"ws://127.0.0.1:{a.port}{path}"


@pytest.fixture(scope="module")
def ws_actord(tmp_path_factory):
    """One daemon for the tests that leave no state behind (a daemon per
    test would make this file minutes long under TSan)."""
    d = str(tmp_path_factory.mktemp("ws"))
    a = Actord(d, merge(base_config(d), NO_REDIS), None).wait_ready()
    yield a
    assert a.stop() == 0, a.stderr()[-4000:]
    for bad in ("AddressSanitizer", "ThreadSanitizer", "runtime error:", "LeakSanitizer"):
        assert bad not in a.stderr(), a.stderr()[-8000:]


# ---- handshake ------------------------------------------------------------

def test_handshake_answers_101_with_the_accept_key(ws_actord):
    c = RawWs(ws_actord.port)
    assert c.status == 101
    assert c.headers["upgrade"].lower() == "websocket"
    assert "content-length" not in c.headers
    c.close()


def raw_answer(port, request):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    status = int(head.split(" ", 2)[1])
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip()
               for l in head.split("\r\n")[1:] if ":" in l}
    return status, headers


@pytest.mark.parametrize("key", ["short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!!!!!!!!!!!!!!!!!!!==",
                                 "dGhlIHNhbXBsZSBub25jZQ=="[:-2] + "A="])
def test_a_bad_key_is_refused_400(ws_actord, key):
    req, _ = handshake_request("/ws/echo", key=key)
    assert raw_answer(ws_actord.port, req)[0] == 400


@pytest.mark.parametrize("version", ["8", "12", "14"])
def test_another_version_is_refused_426_naming_13(ws_actord, version):
    req, _ = handshake_request("/ws/echo", version=version)
    status, headers = raw_answer(ws_actord.port, req)
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert headers["upgrade"] == "websocket"   # RFC 9110 15.5.22: MUST


def test_a_plain_request_to_a_websocket_route_is_426(ws_actord):
    r = ws_actord.get("/ws/echo")
    assert r.status == 426
    assert r.headers["sec-websocket-version"] == "13"
    assert r.headers["upgrade"] == "websocket"


def test_a_repeated_key_is_refused_400(ws_actord):
    # RFC 6455 11.3.1: Sec-WebSocket-Key MUST NOT appear more than once.
    req, _ = handshake_request("/ws/echo", extra=["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
    assert raw_answer(ws_actord.port, req)[0] == 400


@pytest.mark.parametrize("extra", ["Sec-WebSocket-Version: 8", "Sec-WebSocket-Version: 13"])
def test_a_repeated_version_is_refused_400(ws_actord, extra):
    # RFC 6455 11.3.5: Sec-WebSocket-Version MUST NOT appear more than once
    # (13 then 8 was accepted, 8 then 13 refused 426).
    req, _ = handshake_request("/ws/echo", extra=[extra])
    assert raw_answer(ws_actord.port, req)[0] == 400


def test_connection_upgrade_split_over_two_fields_is_a_handshake(ws_actord):
    # RFC 9110 5.3: repeated fields are one list; a proxy may split
    # "Connection: keep-alive, Upgrade" (only the first field was read: 426).
    req = (b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           b"Connection: keep-alive\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    status, headers = raw_answer(ws_actord.port, req)
    assert status == 101
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_origin_check_and_subprotocol_from_config(actord_factory):
    a = actord_factory({"websocket": {"redis": False,
                                      "origins": ["http://Good.Example", "https://x.example"],
                                      "subprotocols": ["chat.v2", "chat.v1"]}})
    req, _ = handshake_request("/ws/echo", extra=["Origin: http://evil.example"])
    assert raw_answer(a.port, req)[0] == 403
    # Scheme and host compare without case (a browser sends them lower-case).
    req, _ = handshake_request("/ws/echo", extra=["Origin: https://X.example"])
    assert raw_answer(a.port, req)[0] == 101
    req, _ = handshake_request("/ws/echo")
    assert raw_answer(a.port, req)[0] == 403   # an Origin is required then
    c = RawWs(a.port, extra=["Origin: http://good.example",
                             "Sec-WebSocket-Protocol: other, chat.v1, chat.v2"])
    assert c.status == 101
    assert c.headers["sec-websocket-protocol"] == "chat.v2"   # our preference
    c.close()
    # RFC 6455 11.3.4: the offer may come in several fields (only the
    # first was read).
    c = RawWs(a.port, extra=["Origin: http://good.example", "Sec-WebSocket-Protocol: other",
                             "Sec-WebSocket-Protocol: chat.v1"])
    assert c.status == 101
    assert c.headers["sec-websocket-protocol"] == "chat.v1"
    c.close()
    c = RawWs(a.port, extra=["Origin: http://good.example", "Sec-WebSocket-Protocol: x"])
    assert c.status == 101 and "sec-websocket-protocol" not in c.headers
    c.close()


# ---- messages ---------------------------------------------------------------

def test_echo_text_binary_empty_and_large(ws_actord):
    async def go():
        async with websockets.connect(url(ws_actord), max_size=None) as ws:
            for m in ["hello", "", "é€𝄞" * 1000, b"\x00\xff" * 40000, b""]:
                await ws.send(m)
                assert await ws.recv() == m
    run(go())


def test_fragmented_text_and_binary_come_back_whole(ws_actord):
    async def go():
        async with websockets.connect(url(ws_actord)) as ws:
            await ws.send(iter(["frag", "ment", "é", "ed"]))
            assert await ws.recv() == "fragmentéed"
            await ws.send(iter([b"\x01", b"\x02\x03", b""]))
            assert await ws.recv() == b"\x01\x02\x03"
    run(go())


def test_ping_between_fragments_is_answered_in_between(ws_actord):
    c = RawWs(ws_actord.port)
    c.send_frame(0x1, b"hel", fin=False)
    c.send_frame(0x9, b"ping-data")
    assert c.read_frame() == (True, 0xA, b"ping-data")
    c.send_frame(0x0, b"lo", fin=False)
    c.send_frame(0xA, b"unsolicited pong")          # ignored
    c.send_frame(0x0, b"!", fin=True)
    assert c.read_frame() == (True, 0x1, b"hello!")
    c.close()


def test_utf8_split_across_fragments_is_valid(ws_actord):
    c = RawWs(ws_actord.port)
    snow = "☃".encode()                             # e2 98 83
    c.send_frame(0x1, b"a" + snow[:1], fin=False)
    c.send_frame(0x0, snow[1:2], fin=False)
    c.send_frame(0x0, snow[2:] + b"z", fin=True)
    assert c.read_message() == (0x1, b"a" + snow + b"z")
    c.close()


def test_library_ping_gets_its_pong(ws_actord):
    async def go():
        async with websockets.connect(url(ws_actord)) as ws:
            pong = await ws.ping(b"1234")
            await asyncio.wait_for(pong, 5 * SLOW)
    run(go())


# ---- the close handshake ----------------------------------------------------

@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 3000, 4999])
def test_close_codes_are_echoed(ws_actord, code):
    async def go():
        ws = await websockets.connect(url(ws_actord))
        await ws.close(code, "bye")
        assert ws.close_code == code
    run(go())


def test_close_without_code_is_answered_without_code(ws_actord):
    c = RawWs(ws_actord.port)
    c.send_close()
    assert c.expect_close() is None
    c.close()


# ---- errors and their close codes -------------------------------------------

def protocol_error(port, send, code, path="/ws/echo"):
    c = RawWs(port, path=path)
    send(c)
    assert c.expect_close() == code
    c.close()


@pytest.mark.parametrize("name,send,code", [
    ("unmasked", lambda c: c.send_frame(0x1, b"hi", mask=False), 1002),
    ("rsv1", lambda c: c.send_frame(0x1, b"hi", rsv=4), 1002),
    ("rsv3", lambda c: c.send_frame(0x2, b"hi", rsv=1), 1002),
    ("opcode 3", lambda c: c.send_frame(0x3, b"hi"), 1002),
    ("opcode 11", lambda c: c.send_frame(0xB, b""), 1002),
    ("continuation first", lambda c: c.send_frame(0x0, b"hi"), 1002),
    ("text inside a fragmented message",
     lambda c: (c.send_frame(0x1, b"a", fin=False), c.send_frame(0x1, b"b")), 1002),
    ("ping of 126 bytes", lambda c: c.send_frame(0x9, b"x" * 126), 1002),
    ("fragmented ping", lambda c: c.send_frame(0x9, b"x", fin=False), 1002),
    ("close of one byte", lambda c: c.send_frame(0x8, b"\x03"), 1002),
    ("close code 1005", lambda c: c.send_close(1005), 1002),
    ("close code 999", lambda c: c.send_close(999), 1002),
    ("close code 2000", lambda c: c.send_close(2000), 1002),
    ("close reason not UTF-8", lambda c: c.send_close(1000, b"\xff"), 1007),
    ("invalid UTF-8", lambda c: c.send_frame(0x1, b"ok \xc3\x28"), 1007),
    ("surrogate", lambda c: c.send_frame(0x1, b"\xed\xa0\x80"), 1007),
    ("truncated at the end", lambda c: c.send_frame(0x1, b"\xe2\x98"), 1007),
    ("invalid UTF-8 split across fragments",
     lambda c: (c.send_frame(0x1, b"\xce", fin=False), c.send_frame(0x0, b"\xba\xe1\xbd"
                                                                         b"\xb9\xcf\x83", fin=False),
                c.send_frame(0x0, b"\xce\xbc\xce\xb5\xed\xa0\x80", fin=True)), 1007),
    ("16-bit length not minimal", lambda c: c.sock.sendall(b"\x81\xfe\x00\x05abcd" + b"x" * 5), 1002),
])
def test_protocol_errors_close_with_their_code(ws_actord, name, send, code):
    protocol_error(ws_actord.port, send, code)


def test_too_big_closes_1009_whole_or_in_fragments(actord_factory):
    a = actord_factory({"websocket": {"redis": False, "max_message_bytes": 1000}})
    protocol_error(a.port, lambda c: c.send_frame(0x2, b"x" * 1001), 1009)
    protocol_error(a.port, lambda c: (c.send_frame(0x1, b"x" * 600, fin=False),
                                      c.send_frame(0x0, b"x" * 600)), 1009)
    # announced, not sent: refused on the header alone
    protocol_error(a.port, lambda c: c.sock.sendall(b"\x82\xff" + struct.pack("!Q", 1 << 40)
                                                    + b"mask"), 1009)
    c = RawWs(a.port)
    c.send_frame(0x2, b"y" * 1000)                  # the limit itself is fine
    assert c.read_message() == (0x2, b"y" * 1000)
    c.close()
    assert ws_sum(a, "actord_ws_closed_total", reason="protocol") == 3


# ---- timeouts, drain ---------------------------------------------------------

def test_idle_connection_is_pinged_then_closed_1001(actord_factory):
    a = actord_factory({"websocket": {"redis": False, "ping_interval_ms": 100,
                                      "idle_timeout_ms": int(600 * SLOW)}})
    c = RawWs(a.port)
    fin, op, payload = c.read_frame()
    assert op == 0x9                                # the server's ping
    assert c.expect_close() == 1001
    c.close()
    wait_until(lambda: ws_sum(a, "actord_ws_closed_total", reason="idle") == 1, 5 * SLOW,
               "the idle close to be counted")


def test_pongs_keep_a_connection_open(actord_factory):
    a = actord_factory({"websocket": {"redis": False, "ping_interval_ms": 100,
                                      "idle_timeout_ms": int(400 * SLOW)}})

    async def go():
        async with websockets.connect(url(a)) as ws:   # the library answers pings
            await asyncio.sleep(1.2 * SLOW)
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(go())


def test_a_client_that_never_answers_our_close_is_cut_at_close_timeout(actord_factory):
    a = actord_factory({"websocket": {"redis": False, "ping_interval_ms": 0,
                                      "idle_timeout_ms": 200, "close_timeout_ms": 300}})
    c = RawWs(a.port)
    fin, op, payload = c.read_frame()
    assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 1001
    # we never answer: the server closes the TCP connection by itself
    c.sock.settimeout(5 * SLOW)
    assert c.sock.recv(100) == b""
    c.close()


def test_drain_closes_open_websockets_1001(actord_factory):
    a = actord_factory(NO_REDIS)
    c = RawWs(a.port)
    c.send_frame(0x1, b"x")
    assert c.read_message() == (0x1, b"x")
    a.signal(signal.SIGTERM)
    fin, op, payload = c.read_frame()
    assert op == 0x8 and struct.unpack("!H", payload[:2])[0] == 1001
    c.send_close(1001)
    c.close()
    assert a.proc.wait(20 * SLOW) == 0


# ---- metrics -----------------------------------------------------------------

def test_metrics_count_connections_messages_and_bytes(actord_factory):
    ws_actord = wait_admin(actord_factory(NO_REDIS))
    c = RawWs(ws_actord.port)
    wait_until(lambda: ws_sum(ws_actord, "actord_ws_connections") == 1, 5 * SLOW, "one open")
    for i in range(5):
        c.send_frame(0x1, b"m%d" % i)
        assert c.read_message() == (0x1, b"m%d" % i)
    c.send_close(1000)
    assert c.expect_close() == 1000
    c.close()
    wait_until(lambda: ws_sum(ws_actord, "actord_ws_connections") == 0, 5 * SLOW, "none open")
    assert ws_sum(ws_actord, "actord_ws_upgrades_total") == 1
    assert ws_sum(ws_actord, "actord_ws_messages_in_total") == 5
    assert ws_sum(ws_actord, "actord_ws_messages_out_total") >= 6   # 5 echoes + close
    assert ws_sum(ws_actord, "actord_ws_bytes_in_total") > 0
    assert ws_sum(ws_actord, "actord_ws_closed_total", reason="client") == 1


# ---- the shipped chat room (one instance; across instances:
# test_websocket_redis.py) --------------------------------------------------

def test_chat_refuses_binary_and_nul_with_1003(ws_actord):
    c = RawWs(ws_actord.port, "/ws/chat/rules")
    c.send_frame(0x2, b"\x00")
    assert c.expect_close() == 1003
    c.close()
    c = RawWs(ws_actord.port, "/ws/chat/rules")
    c.send_frame(0x1, b"a\x00b")
    assert c.expect_close() == 1003
    c.close()


@pytest.mark.parametrize("room", ["%FF", "caf%E9", "%C3%28", "x" * 251])
def test_chat_refuses_a_room_name_its_text_frames_cannot_carry_400(ws_actord, room):
    """The room goes into every message's envelope, a text frame: a name
    that is not UTF-8 would make each message of the room fail."""
    req, _ = handshake_request(f"/ws/chat/{room}")
    assert raw_answer(ws_actord.port, req)[0] == 400


def test_chat_room_names_in_utf8_work(ws_actord):
    c = RawWs(ws_actord.port, "/ws/chat/caf%C3%A9")
    assert c.status == 101
    c.send_frame(0x1, b"bonjour")
    env = json.loads(c.read_message()[1])
    assert env["room"] == "caf\u00e9" and env["text"] == "bonjour"
    c.close()

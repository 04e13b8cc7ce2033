"""WebSocket conformance with a second real client library, Debian's
node-ws (ws_node_client.js): text, binary, a message in three frames, ping
and pong, and the client's close code echoed by GET /ws/echo."""
import json
import os
import subprocess

from conftest import SLOW

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_node_client.js")


def test_node_ws_client_round_trip(actord):
    r = subprocess.run(["node", CLIENT, f"ws://127.0.0.1:{actord.port}/ws/echo"],
                       capture_output=True, text=True, timeout=60 * SLOW,
                       env=dict(os.environ, WS_NODE_TIMEOUT_MS=str(int(20000 * SLOW))))
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["messages"] == [{"text": "héllo, node"}, {"binary": "000102ff"},
                               {"text": "fragmented"}]
    assert out["pong"] == "p-1"
    assert out["close_code"] == 4001 and out["close_reason"] == ""

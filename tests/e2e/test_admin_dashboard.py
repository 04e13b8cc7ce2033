"""The live dashboard (GET /admin/) in headless Chromium (issue: admin
endpoint): the page loads, polls /admin/actors, draws its charts with live
numbers and flags the overloaded mailbox; a screenshot is kept as a test
artifact (build/test-artifacts/dashboard.png)."""
import os
import re
import subprocess
import threading

from ws_util import RawWs
from admin_helpers import BUILD_DIR, actor_doc, admin_get, metric, metrics_of, wait_admin
from conftest import SLOW, wait_until

CHROMIUM = "/usr/bin/chromium"
ARTIFACT = os.path.join(BUILD_DIR, "test-artifacts", "dashboard.png")


def chromium(url, profile, screenshot):
    """--dump-dom after 3 s of the page's (virtual) time, plus a screenshot."""
    assert os.path.exists(CHROMIUM), "Debian's chromium is needed: apt-get install chromium"
    r = subprocess.run([
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
        "--window-size=1280,720", f"--screenshot={screenshot}", "--dump-dom", url,
    ], capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def row(dom, actor):
    m = re.search(rf'<tr[^>]*id="actor-{re.escape(actor)}"[^>]*>.*?</tr>', dom, re.S)
    assert m, f"no table row for {actor}"
    return m.group(0)


def card(dom, kind):
    """From a kind's card to the next one (cards nest divs: no regex)."""
    start = dom.find(f'id="kind-{kind}"')
    assert start >= 0, f"no card for {kind}"
    start = dom.rfind("<div", 0, start)
    end = dom.find('id="kind-', start + len(kind) + 20)
    return dom[start:end if end >= 0 else dom.find("<table", start)]


def test_page_is_self_contained(actord):
    wait_admin(actord)
    r = admin_get(actord, "/admin/")
    assert r.status == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    for external in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert external not in page, external


def test_dashboard_draws_live_charts_and_flags_the_overloaded_mailbox(actord_factory, tmp_path):
    # Admission far away: the queued requests wait out the block.
    a = wait_admin(actord_factory({"actors": {"handler": {"count": 1, "mailbox": 4}},
                                   "http": {"request_timeout_ms": 20000},
                                   "admission": {"target_ms": 60000}}))
    for _ in range(5):
        a.get("/plaintext")
    ws = RawWs(a.port)                       # a WebSocket for its figures
    ws.send_frame(0x1, b"hi")
    assert ws.read_message() == (0x1, b"hi")
    # The handler sleeps 8 s in one request (longer than Chromium takes to
    # start and poll on a loaded 2-core machine); the next ones fill its
    # mailbox (4, the one in progress included) and the rest wait in the
    # network actor (the first of them met the full mailbox once): it is
    # overloaded on every poll.
    statuses = []
    blocker = threading.Thread(target=lambda: statuses.append(
        a.get("/_test/block?ms=8000", timeout=30).status))
    blocker.start()
    wait_until(lambda: metric(metrics_of(a), "actord_handler_inflight", actor="handler-0") == 1,
               5, "the handler to take the blocking request")
    queued = [threading.Thread(target=lambda: statuses.append(
        a.get("/plaintext", timeout=30).status)) for _ in range(6)]
    for t in queued:
        t.start()

    def settled():
        m = actor_doc(a, "handler-0")["mailbox"]
        held = metric(metrics_of(a), "actord_http_requests_held", actor="net-0")
        # 5 + 1 before the queued ones, and the WebSocket's upgrade, open
        # and message events.
        return m if m["enqueued_total"] - 9 + held == 6 else None
    mbox = wait_until(settled, 5, "the handler mailbox to fill up")
    # Full: the rest wait in the network actor (a send that met the full
    # mailbox counts as rejected; a held request queued behind it is not
    # sent at all, so how many were rejected depends on the timing).
    assert mbox["depth"] == 4, mbox
    assert metric(metrics_of(a), "actord_http_requests_held", actor="net-0") >= 1

    os.makedirs(os.path.dirname(ARTIFACT), exist_ok=True)
    if os.path.exists(ARTIFACT):
        os.unlink(ARTIFACT)
    dom = chromium(f"http://127.0.0.1:{a.admin_port}/admin/", str(tmp_path / "chromium"),
                   ARTIFACT)

    polls = int(re.search(r'<body[^>]*data-polls="(\d+)"', dom).group(1))
    assert polls >= 2, "the page polled /admin/actors at most once"
    for kind in ("log", "handler", "net", "admin"):
        points = [int(p) for p in re.findall(r'<canvas[^>]*data-points="(\d+)"', card(dom, kind))]
        assert len(points) == 2 and points[0] >= 2 and points[1] >= 1, (kind, points)
    handler_card = card(dom, "handler")
    assert 'class="card hot"' in handler_card and "OVERLOADED" in handler_card
    depth = re.search(r'class="c-depth"[^>]*data-last="(\d+)"', handler_card)
    assert depth and int(depth.group(1)) == 4, handler_card
    handler_row = row(dom, "handler-0")
    assert 'class="hot"' in handler_row
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", handler_row)]
    assert cells[:3] == ["handler-0  OVERLOADED", "handler", "4 / 4"]
    assert cells[5] == str(mbox["rejected_total"])       # the "rejected" column
    net_row = row(dom, "net-0")
    assert 'class=""' in net_row and "/ 4096" in net_row
    assert re.search(r'id="ready" class="badge ok">ready<', dom)
    assert re.search(r'id="ws-open">1<', dom)          # the WebSocket figures
    assert re.search(r'id="ws-fanout">[0-9.]+ / [0-9.]+<', dom)
    ws.close()

    # Chromium may still be writing the file when its command returns.
    def png():
        try:
            with open(ARTIFACT, "rb") as f:
                data = f.read()
            return data if len(data) > 10000 and data.endswith(b"IEND\xaeB`\x82") else None
        except OSError:
            return None
    assert wait_until(png, 10, "the dashboard screenshot").startswith(b"\x89PNG\r\n\x1a\n")

    blocker.join(30 * SLOW)
    for t in queued:
        t.join(30 * SLOW)
    assert statuses == [200] * 7    # held, never refused

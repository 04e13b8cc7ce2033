"""The login demo in a real browser (issue: web applications): Debian's
headless Chromium, driven over the DevTools protocol (python3-websocket),
follows the links, fills the forms and clicks the buttons like a person:
/demo/me sends it to the login page, it registers, lands on its page with
the stylesheet applied, logs out, fails a login, logs in again. Cookies,
the `_xsrf` fields and the 303s are the browser's own. Screenshots are
kept as test artifacts (build/test-artifacts/demo-*.png)."""
import base64
import json
import os
import re
import subprocess
import time
import urllib.request
import uuid

import pytest
import websocket

from admin_helpers import BUILD_DIR
from conftest import ROOT, SLOW
from storage_util import storage_config

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(BUILD_DIR, "test-artifacts")


class Browser:
    """One headless Chromium and one page, over the DevTools protocol."""

    def __init__(self, profile):
        assert os.path.exists(CHROMIUM), "Debian's chromium is needed: apt-get install chromium"
        self.proc = subprocess.Popen([
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--remote-debugging-port=0", "--remote-allow-origins=*",
            f"--user-data-dir={profile}", "--window-size=1000,760", "about:blank",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.monotonic() + 30 * SLOW
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
            elif not line and self.proc.poll() is not None:
                break
        assert port, "Chromium did not start its DevTools endpoint"
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30 * SLOW)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                assert "error" not in msg, msg
                return msg.get("result", {})
            self.events.append(msg)

    def wait_load(self, action):
        """Run `action` (it navigates) and wait for the new page's load event."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        action()
        deadline = time.monotonic() + 20 * SLOW
        while time.monotonic() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                return
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError("the page did not load")

    def go(self, url):
        self.wait_load(lambda: self.call("Page.navigate", url=url))

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def fill(self, **fields):
        for k, v in fields.items():
            self.js(f"document.getElementById({json.dumps(k)}).value = {json.dumps(v)}")

    def click(self, selector):
        self.wait_load(lambda: self.js(f"document.querySelector({json.dumps(selector)}).click()"))

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
        with open(os.path.join(ARTIFACTS, name), "wb") as f:
            f.write(data)

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def browser(tmp_path):
    b = Browser(str(tmp_path / "chromium"))
    yield b
    b.close()


def test_a_person_registers_logs_out_and_logs_in(actord_factory, services, browser):
    cfg = storage_config(services)
    cfg["app"] = {"demo": True, "demo_pbkdf2_iterations": 1000}
    cfg["static"] = {"mounts": [{"prefix": "/demo/static/",
                                 "dir": os.path.join(ROOT, "app", "demo", "static")}]}
    a = actord_factory(cfg)
    base = f"http://127.0.0.1:{a.port}"
    user, password = "b" + uuid.uuid4().hex[:10], "a long enough password"

    browser.go(base + "/demo/me")
    assert browser.js("location.pathname + location.search") == "/demo/login?next=/demo/me"
    assert browser.js("document.querySelector('h1').textContent") == "Log in"
    # The stylesheet (a static file, compressed on the way) is applied.
    assert browser.js("getComputedStyle(document.querySelector('main')).borderTopLeftRadius") == "12px"
    assert browser.js("getComputedStyle(document.querySelector('button')).backgroundColor") == \
        "rgb(44, 95, 209)"
    browser.screenshot("demo-login.png")

    browser.click("a[href='/demo/register']")
    assert browser.js("location.pathname") == "/demo/register"
    browser.fill(username=user, password=password)
    browser.click("#submit")
    assert browser.js("location.pathname") == "/demo/me"
    assert browser.js("document.getElementById('user').textContent") == user
    cookies = browser.js("document.cookie")
    assert "_xsrf=" in cookies and "sid=" not in cookies   # the session cookie is HttpOnly
    browser.screenshot("demo-me.png")

    browser.click("#logout")
    assert browser.js("location.pathname") == "/demo/login"
    browser.fill(username=user, password="not the password")
    browser.click("#submit")
    assert browser.js("document.querySelector('.error').textContent") == "Wrong username or password."
    assert browser.js("document.getElementById('username').value") == user
    browser.screenshot("demo-login-failed.png")

    browser.fill(password=password)
    browser.click("#submit")
    assert browser.js("location.pathname") == "/demo/me"
    assert browser.js("document.getElementById('user').textContent") == user

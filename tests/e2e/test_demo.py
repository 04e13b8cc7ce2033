"""The shipped login demo and server-side sessions (issue: web
applications), against the session's real Redis and MariaDB, with Python
requests sessions as the browser: register, log in (PBKDF2 on the worker
actors), the page only a logged-in user sees, log out; `_xsrf` on every
POST (403 without it), 303 after each successful POST, the session id
rotated at login and dead after logout, sliding idle expiry, the
`@authenticated` answers (302 for pages, 401 for JSON clients), and the
demo's stylesheet through the static-file routes, compressed."""
import gzip
import os
import re
import time
import uuid

import pytest
import requests

from conftest import ROOT
from storage_util import mariadb, storage_config

KEY = "demo-test-key-0123456789abcdef"


def demo_config(services, **extra):
    cfg = storage_config(services)
    cfg["app"] = {"demo": True, "demo_pbkdf2_iterations": 1000}
    cfg["static"] = {"mounts": [{"prefix": "/demo/static/",
                                 "dir": os.path.join(ROOT, "app", "demo", "static")}]}
    cfg["cookies"] = {"secret_keys": KEY}
    for k, v in extra.items():
        cfg.setdefault(k, {}).update(v)
    return cfg


@pytest.fixture
def a(actord_factory, services):
    return actord_factory(demo_config(services))


def url(a, path):
    return f"http://127.0.0.1:{a.port}{path}"


def xsrf(page):
    m = re.search(r'name="_xsrf" value="([^"]+)"', page)
    assert m, "no _xsrf field in the page"
    return m.group(1).replace("&#39;", "'").replace("&quot;", '"')


def new_user():
    return "u" + uuid.uuid4().hex[:12]


def register(a, s, user, password="correct horse battery"):
    page = s.get(url(a, "/demo/register")).text
    return s.post(url(a, "/demo/register"), allow_redirects=False,
                  data={"_xsrf": xsrf(page), "username": user, "password": password})


def login(a, s, user, password="correct horse battery", next_=None):
    page = s.get(url(a, "/demo/login")).text
    data = {"_xsrf": xsrf(page), "username": user, "password": password}
    if next_ is not None:
        data["next"] = next_
    return s.post(url(a, "/demo/login"), allow_redirects=False, data=data)


def test_register_login_me_logout(a, services):
    s = requests.Session()
    user = new_user()
    r = s.get(url(a, "/demo/me"), allow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/demo/login?next=/demo/me"

    r = register(a, s, user)
    assert r.status_code == 303 and r.headers["location"] == "/demo/me"
    row = mariadb(services, f"SELECT username, LENGTH(salt), LENGTH(hash), iterations "
                            f"FROM users WHERE username = '{user}'")
    assert [str(v) for v in row[0]] == [user, "32", "64", "1000"], row
    r = s.get(url(a, "/demo/me"))
    assert r.status_code == 200 and f'id="user">{user}<' in r.text
    assert '<link rel="stylesheet" href="/demo/static/demo.css">' in r.text

    page = r.text
    r = s.post(url(a, "/demo/logout"), data={"_xsrf": xsrf(page)}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/demo/login"
    assert s.get(url(a, "/demo/me"), allow_redirects=False).status_code == 302

    r = login(a, s, user, "wrong password!")
    assert r.status_code == 401 and "Wrong username or password." in r.text
    r = login(a, s, "nobody-" + user[:8], "whatever123")
    assert r.status_code == 401 and "Wrong username or password." in r.text
    r = login(a, s, user)
    assert r.status_code == 303 and r.headers["location"] == "/demo/me"
    assert f'id="user">{user}<' in s.get(url(a, "/demo/me")).text
    # `next` is followed inside the demo only.
    s2 = requests.Session()
    assert login(a, s2, user, next_="/demo/me?x=1").headers["location"] == "/demo/me?x=1"
    assert login(a, requests.Session(), user, next_="https://evil.example/").headers["location"] == "/demo/me"
    assert login(a, requests.Session(), user, next_="//evil.example/demo/").headers["location"] == "/demo/me"


def test_names_ignore_case_and_the_session_keeps_the_registered_one(a):
    """The users column's collation ignores case: BOB logs bob in (and
    cannot register again), but the page used to say "Logged in as BOB"."""
    user = new_user()
    assert register(a, requests.Session(), user).status_code == 303
    s = requests.Session()
    r = login(a, s, user.upper())
    assert r.status_code == 303 and r.headers["location"] == "/demo/me"
    assert f'id="user">{user}<' in s.get(url(a, "/demo/me")).text
    assert register(a, requests.Session(), user.upper()).status_code == 409


def test_the_login_redirect_keeps_the_query(a):
    """@authenticated used to send next=/demo/me for /demo/me?tab=2."""
    user = new_user()
    assert register(a, requests.Session(), user).status_code == 303
    s = requests.Session()
    r = s.get(url(a, "/demo/me?tab=2&q=a%20b"), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"] == "/demo/login?next=/demo/me%3Ftab%3D2%26q%3Da%2520b"
    page = s.get(url(a, r.headers["location"])).text
    assert 'name="next" value="/demo/me?tab=2&amp;q=a%20b"' in page
    m = re.search(r'name="next" value="([^"]+)"', page)
    r = login(a, s, user, next_=m.group(1).replace("&amp;", "&"))
    assert r.status_code == 303 and r.headers["location"] == "/demo/me?tab=2&q=a%20b"


def test_register_refuses_taken_names_and_bad_input(a):
    s = requests.Session()
    user = new_user()
    assert register(a, s, user).status_code == 303
    r = register(a, requests.Session(), user)
    assert r.status_code == 409 and "That username is taken." in r.text
    assert f'value="{user}"' in r.text                    # the form keeps the name
    r = register(a, requests.Session(), "x")
    assert r.status_code == 400 and "3 to 32" in r.text
    r = register(a, requests.Session(), new_user(), "short")
    assert r.status_code == 400 and "8 to 128" in r.text
    # The minimum is a rule for new passwords only: a login is checked
    # against the stored hash (an account made when the rule counted
    # bytes may have fewer than 8 characters).
    r = login(a, requests.Session(), user, "short")
    assert r.status_code == 401 and "Wrong username or password." in r.text
    r = register(a, requests.Session(), "<script>alert(1)</script>")
    assert r.status_code == 400 and "<script>" not in r.text and "&lt;script&gt;" in r.text


def test_every_post_needs_its_xsrf_token(a):
    s = requests.Session()
    s.get(url(a, "/demo/register"))                        # has the cookie
    for path in ("/demo/register", "/demo/login", "/demo/logout"):
        r = s.post(url(a, path), data={"username": "someone", "password": "whatever123"},
                   allow_redirects=False)
        assert r.status_code == 403, path
        r = s.post(url(a, path), data={"_xsrf": "2|" + "0" * 32 + "|" + "0" * 32,
                                        "username": "someone", "password": "whatever123"},
                   allow_redirects=False)
        assert r.status_code == 403, path
    # A token from one browser does not work in another.
    token = xsrf(s.get(url(a, "/demo/login")).text)
    other = requests.Session()
    other.get(url(a, "/demo/login"))
    r = other.post(url(a, "/demo/login"), data={"_xsrf": token, "username": "x" * 5,
                                                 "password": "y" * 10}, allow_redirects=False)
    assert r.status_code == 403


def test_session_id_rotates_at_login_and_dies_at_logout(a, redis):
    s = requests.Session()
    user = new_user()
    register(a, s, user)
    sid1 = s.cookies["sid"]
    page = s.get(url(a, "/demo/me")).text
    s.post(url(a, "/demo/logout"), data={"_xsrf": xsrf(page)}, allow_redirects=False)
    # The old cookie, replayed, is worth nothing: the session is gone from Redis.
    r = requests.get(url(a, "/demo/me"), cookies={"sid": sid1}, allow_redirects=False)
    assert r.status_code == 302
    login(a, s, user)
    sid2 = s.cookies["sid"]
    assert sid2 != sid1
    keys = redis.cmd("KEYS", "session:*")
    assert len(keys) >= 1
    # A tampered session cookie is refused before Redis is asked.
    r = requests.get(url(a, "/demo/me"), cookies={"sid": sid2[:-2] + "00"}, allow_redirects=False)
    assert r.status_code == 302


def test_json_clients_get_401(a):
    r = requests.get(url(a, "/demo/me"), headers={"Accept": "application/json"}, allow_redirects=False)
    assert r.status_code == 401 and r.json() == {"error": "login required"}
    r = requests.get(url(a, "/_test/web/private"), headers={"X-Requested-With": "XMLHttpRequest"})
    assert r.status_code == 401


def test_sessions_slide_and_expire(actord_factory, services):
    a = actord_factory(demo_config(services, session={"idle_s": 2}))
    s = requests.Session()
    assert s.get(url(a, "/_test/web/session")).text == "1\n"
    assert s.get(url(a, "/_test/web/session")).text == "2\n"
    # Used more often than idle_s: it stays alive past idle_s in total.
    t0 = time.monotonic()
    n = 2
    while time.monotonic() - t0 < 3.5:
        time.sleep(0.5)
        n += 1
        assert s.get(url(a, "/_test/web/session")).text == f"{n}\n"
    # Idle longer than idle_s: a new session. (A sleep, not a poll: every
    # request would renew the session it waits to see expire.)
    time.sleep(2.5)
    assert s.get(url(a, "/_test/web/session")).text == "1\n"


def test_authenticated_routes_redirect_then_admit(a):
    s = requests.Session()
    r = s.get(url(a, "/_test/web/private"), allow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/_test/web/login-page?next=/_test/web/private"
    r = s.post(url(a, "/_test/web/login?user=ada"))
    assert r.status_code == 200 and r.json() == {"user": "ada"}   # 303 followed


def test_a_session_destroyed_after_its_rotation_is_gone_from_redis(a):
    """hsession_destroy after hsession_rotate in one request deletes the
    session stored under the old id; it deleted the new id, never stored,
    and the old session (and its login) stayed in Redis."""
    s = requests.Session()
    assert s.post(url(a, "/_test/web/login?user=ada")).json() == {"user": "ada"}
    sid = s.cookies["sid"]
    r = s.post(url(a, "/_test/web/login?user=eve&then=destroy"))
    assert r.text == "destroyed"
    r = requests.get(url(a, "/_test/web/private"), cookies={"sid": sid},
                     allow_redirects=False)
    assert r.status_code == 302, r.text      # the old cookie names no session any more


def test_demo_stylesheet_is_a_compressed_static_file(a):
    css = open(os.path.join(ROOT, "app", "demo", "static", "demo.css"), "rb").read()
    r = requests.get(url(a, "/demo/static/demo.css"), headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(r.raw.read()) == css


def test_demo_pages_are_compressed_and_techempower_is_not(a):
    r = requests.get(url(a, "/demo/login"), headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"     # requests decoded it
    for path in ("/fortunes", "/db", "/queries?queries=20", "/json"):
        r = requests.get(url(a, path), headers={"Accept-Encoding": "gzip, br"})
        assert r.status_code == 200 and "content-encoding" not in r.headers, path


def test_demo_is_off_unless_configured(actord_factory, services):
    a = actord_factory(storage_config(services))
    assert requests.get(url(a, "/demo/login")).status_code == 404


def test_next_with_a_dot_segment_is_dropped(a):
    """`next` must stay inside the demo, but "/demo/../admin" passed the
    check: a browser resolves it (and "/demo/%2e%2e/admin") to "/admin"."""
    for next_, kept in [
        ("/demo/../admin", False), ("/demo/%2e%2e/admin", False), ("/demo/.%2E/admin", False),
        ("/demo/me/..", False), ("/demo/./me", False), ("/demo/%2E/me", False),
        ("/demo/me?back=../x", True), ("/demo/.well/x", True), ("/demo/...", True),
    ]:
        q = requests.utils.quote(next_, safe="")
        page = requests.get(url(a, f"/demo/login?next={q}")).text
        assert ('name="next"' in page) == kept, next_


def test_password_length_counts_characters_not_bytes(a):
    """"8 to 128 characters" was checked in bytes: three Chinese
    characters (9 bytes) passed the minimum, and 100 accented letters
    (200 bytes) were refused."""
    r = register(a, requests.Session(), new_user(), "密码密")
    assert r.status_code == 400 and "8 to 128" in r.text
    user, password = new_user(), "é" * 100
    assert register(a, requests.Session(), user, password).status_code == 303
    assert login(a, requests.Session(), user, password).status_code == 303
    r = register(a, requests.Session(), new_user(), "é" * 129)
    assert r.status_code == 400 and "8 to 128" in r.text

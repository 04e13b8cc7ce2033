"""Web applications beyond JSON (issue: web applications), through the
/_test/web/ routes and real clients (Python requests): form, multipart and
JSON bodies at and over every limit, cookies and their attributes, signed
cookies (tampering, key rotation, age, Tornado compatibility), redirects,
HTML escaping, CSRF tokens and response compression."""
import gzip
import time

import brotli
import pytest
import requests
import tornado.web

from conftest import RawClient

OLD_KEY = "old-key-0123456789abcdef"
NEW_KEY = "new-key-fedcba9876543210"
LIMITS = {"max_parts": 4, "max_field_bytes": 100, "max_file_bytes": 1000}


@pytest.fixture
def a(actord_factory):
    return actord_factory({"forms": LIMITS, "http": {"max_body_bytes": 20000},
                           "cookies": {"secret_keys": NEW_KEY + "," + OLD_KEY}})


def url(a, path):
    return f"http://127.0.0.1:{a.port}{path}"


# ---- bodies -------------------------------------------------------------

def test_urlencoded_forms(a):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = requests.post(url(a, "/_test/web/form"), data="a=1&b=x+y%21&&a=2&flag", headers=form)
    assert r.status_code == 200, r.text
    got = [(f["name"], f["value"]) for f in r.json()["fields"]]
    assert got == [("a", "1"), ("b", "x y!"), ("a", "2"), ("flag", "")]
    r = requests.post(url(a, "/_test/web/form"), data="empty=&=v&%C3%A9=%E2%82%AC", headers=form)
    got = [(f["name"], f["value"]) for f in r.json()["fields"]]
    assert got == [("empty", ""), ("", "v"), ("é", "€")]
    r = requests.post(url(a, "/_test/web/form"), data={"user": "jürgen", "pw": "a&b=c"})
    assert r.json()["fields"] == [{"name": "user", "value": "jürgen", "len": 7},
                                  {"name": "pw", "value": "a&b=c", "len": 5}]
    # Limits: forms.max_parts fields, forms.max_field_bytes per value.
    assert requests.post(url(a, "/_test/web/form"), data={f"k{i}": "v" for i in range(4)}).status_code == 200
    r = requests.post(url(a, "/_test/web/form"), data={f"k{i}": "v" for i in range(5)})
    assert r.status_code == 413 and "too many" in r.json()["error"]
    assert requests.post(url(a, "/_test/web/form"), data={"k": "v" * 100}).status_code == 200
    assert requests.post(url(a, "/_test/web/form"), data={"k": "v" * 101}).status_code == 413
    r = requests.post(url(a, "/_test/web/form"), data="a=%zz",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "percent" in r.json()["error"]
    r = requests.post(url(a, "/_test/web/form"), data="hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert requests.get(url(a, "/_test/web/form")).json() == {"fields": []}
    # A body without a Content-Type is refused, and the process lives on
    # (it used to crash the handler: strlen(NULL) in the type dispatch).
    c = RawClient(a.port)
    c.send(b"POST /_test/web/form HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na=b")
    got = c.read_response()
    assert got.status == 415 and b"without Content-Type" in got.body, got
    assert a.proc.poll() is None
    # No body at all is an empty form, whatever the type says.
    for ctype in ("multipart/form-data", "text/plain"):
        r = requests.post(url(a, "/_test/web/form"), data=b"", headers={"Content-Type": ctype})
        assert r.status_code == 200 and r.json() == {"fields": []}, r.text


def test_a_decoded_nul_is_refused_never_cut(a):
    """%00 decodes to a NUL, which used to end the C string: "a%00b" read
    as "a". Route parameters and form fields answer 400 as for any bad
    escape; a query value reads as absent (hreq_query's contract)."""
    r = requests.get(url(a, "/_test/params/a%00b/x"))
    assert r.status_code == 400 and "%00" in r.json()["error"], r.text
    assert requests.get(url(a, "/_test/params/x/a%00b")).status_code == 400
    r = requests.post(url(a, "/_test/web/form"), data="a=%00b",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.json()) == (400, {"error": "%00 in a field (a NUL would cut it)"})
    r = requests.post(url(a, "/_test/web/form"), data="a%00=b",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    r = requests.get(url(a, "/_test/params/a/b?q=%00a"))
    assert r.status_code == 200 and "q" not in r.json(), r.text


def test_a_raw_nul_in_a_form_is_refused_never_cut(a):
    """A NUL byte sent as is (not %00) used to cut a urlencoded value
    ("a=\\0b" read as ""), a multipart name or file name ("a.php\\0.jpg"
    read as "a.php") and a multipart field's value: 400 like %00. A
    file's bytes may hold NULs."""
    r = requests.post(url(a, "/_test/web/form"), data=b"a=\x00b",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.json()) == (400, {"error": "a NUL byte in a field (it would cut it)"})
    r = requests.post(url(a, "/_test/web/form"), data=b"a\x00b=1",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    mp = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    for head, value, error in (
            (b'name="f"; filename="a.php\x00.jpg"', b"v", "a NUL byte in a part's headers"),
            (b'name="a\x00b"', b"v", "a NUL byte in a part's headers"),
            (b'name="t"', b"v\x00w", "a NUL byte in a field (it would cut it)")):
        body = b"--XyZ\r\nContent-Disposition: form-data; " + head + b"\r\n\r\n" + value + b"\r\n--XyZ--\r\n"
        r = requests.post(url(a, "/_test/web/form"), data=body, headers=mp)
        assert (r.status_code, r.json()) == (400, {"error": error}), head
    body = b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n\x00\x01\r\n--XyZ--\r\n'
    r = requests.post(url(a, "/_test/web/form"), data=body, headers=mp)
    assert r.status_code == 200 and r.json()["fields"][0]["len"] == 2, r.text


def test_query_names_are_decoded(a):
    r = requests.get(url(a, "/_test/params/a/b?%71=enc"))
    assert r.json()["q"] == "enc"
    r = requests.get(url(a, "/_test/params/a/b?q+=no&q=yes"))
    assert r.json()["q"] == "yes"


def test_multipart_uploads_at_and_over_each_limit(a):
    blob = bytes(range(256)) * 3 + b"\r\n--not-a-boundary\r\n" + b"\x00" * 212   # 1000 bytes
    assert len(blob) == 1000
    r = requests.post(url(a, "/_test/web/form"), data={"title": "hello"},
                      files={"f": ("pic.bin", blob, "application/octet-stream")})
    assert r.status_code == 200, r.text
    fields = r.json()["fields"]
    assert fields[0] == {"name": "title", "value": "hello", "len": 5}
    import zlib
    assert fields[1]["filename"] == "pic.bin" and fields[1]["len"] == 1000
    assert fields[1]["content_type"] == "application/octet-stream"
    assert fields[1]["crc32"] == zlib.crc32(blob)
    # One byte over the file limit, the field limit, the part count.
    r = requests.post(url(a, "/_test/web/form"), files={"f": ("a.bin", blob + b"x")})
    assert r.status_code == 413 and "file is too large" in r.json()["error"]
    assert requests.post(url(a, "/_test/web/form"), files={"t": (None, "v" * 100)}).status_code == 200
    r = requests.post(url(a, "/_test/web/form"), files={"t": (None, "v" * 101)})
    assert r.status_code == 413 and "field is too large" in r.json()["error"]
    four = {f"p{i}": (None, "x") for i in range(4)}
    assert requests.post(url(a, "/_test/web/form"), files=four).status_code == 200
    r = requests.post(url(a, "/_test/web/form"), files=dict(four, p4=(None, "x")))
    assert r.status_code == 413 and "too many parts" in r.json()["error"]
    # The whole body over http.max_body_bytes: refused before it is read.
    r = requests.post(url(a, "/_test/web/form"), files={"f": ("big", b"x" * 30000)})
    assert r.status_code == 413


def test_multipart_quoted_names_lose_their_escapes(a):
    """name="q\\"x" used to come back as q\\"x; a filename's other
    backslashes (a Windows path) stay, as in Tornado."""
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="q\\"x\\\\y"\r\n\r\nv\r\n'
            b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="C:\\dir\\a\\"b.txt"\r\n'
            b'\r\nbytes\r\n--XyZ--\r\n')
    r = requests.post(url(a, "/_test/web/form"), data=body,
                      headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 200, r.text
    fields = r.json()["fields"]
    assert fields[0] == {"name": 'q"x\\y', "value": "v", "len": 1}
    assert fields[1]["name"] == "f" and fields[1]["filename"] == 'C:\\dir\\a"b.txt'


@pytest.mark.parametrize("body,ctype,status", [
    (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", "boundary=XyZ", 400),
    (b"--XyZ\r\nContent-Type: text/plain\r\n\r\nno name\r\n--XyZ--\r\n", "boundary=XyZ", 400),
    (b"--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--\r\n", "boundary=XyZ", 400),
    (b"no boundary at all", "boundary=XyZ", 400),
    (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--\r\n", "", 400),
    (b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--\r\n", "boundary=XyZ", 200),
    (b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--\r\nepilogue",
     "boundary=\"XyZ\"", 200),
])
def test_malformed_multipart_is_400(a, body, ctype, status):
    r = requests.post(url(a, "/_test/web/form"), data=body,
                      headers={"Content-Type": "multipart/form-data; " + ctype})
    assert r.status_code == status, r.text
    if status == 200:
        assert r.json()["fields"] == [{"name": "a", "value": "v", "len": 1}]


def test_json_bodies(a):
    r = requests.post(url(a, "/_test/web/json"), json={"a": [1, 2, {"b": None}]})
    assert r.status_code == 200 and r.json() == {"a": [1, 2, {"b": None}]}
    r = requests.post(url(a, "/_test/web/json"), data=b'{"a": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed JSON at byte 5"
    r = requests.post(url(a, "/_test/web/json"), data=b'{}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = requests.post(url(a, "/_test/web/json"), data=b'[1]',
                      headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200 and r.json() == [1]
    # Whitespace around the value, escapes (an escaped backslash before u0000).
    r = requests.post(url(a, "/_test/web/json"), data=b' {"a": "\\u00e9\\\\u0000"} \r\n',
                      headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (200, {"a": "\u00e9\\u0000"})


@pytest.mark.parametrize("body,error", [
    # cJSON alone stops after the first value and took these for {"a":1}.
    (b'{"a":1} trailing', "malformed JSON: data after the value at byte 8"),
    (b'{"a":1}{"b":2}', "malformed JSON: data after the value at byte 7"),
    (b'{"a":1}\x00', "malformed JSON: a raw control character at byte 7"),
    # A cJSON string ends at a NUL: "ab\u0000cd" would read as "ab".
    (b'{"a":"ab\\u0000cd"}', "unsupported JSON: \\u0000 in a string at byte 8"),
])
def test_json_bodies_are_one_value_and_nothing_else(a, body, error):
    r = requests.post(url(a, "/_test/web/json"), data=body, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, {"error": error})


# ---- cookies ------------------------------------------------------------

def test_cookies_and_their_attributes(a):
    r = requests.get(url(a, "/_test/web/cookie?name=b"), cookies={"a": "1", "b": "two"})
    assert r.text == "two"
    r = requests.get(url(a, "/_test/web/cookie?name=b"), headers={"Cookie": 'a=1; b="q u"; c'})
    assert r.text == "q u"
    assert requests.get(url(a, "/_test/web/cookie?name=zz"), cookies={"a": "1"}).status_code == 404
    # One Cookie line per cookie (HTTP/2 crumbs forwarded as they came):
    # the second line used to be ignored.
    c = RawClient(a.port)
    c.send(b"GET /_test/web/cookie?name=b HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n")
    got = c.read_response()
    c.close()
    assert (got.status, got.body) == (200, b"2"), got
    r = requests.get(url(a, "/_test/web/set-cookie?name=t&value=v1&max_age=60&path=/x&same_site=Strict"))
    sc = r.headers["set-cookie"]
    for part in ("t=v1", "Path=/x", "Max-Age=60", "Expires=", "HttpOnly", "SameSite=Strict"):
        assert part in sc, (part, sc)
    assert "Secure" not in sc
    assert "Secure" in requests.get(url(a, "/_test/web/set-cookie?name=t&value=v&secure=1")).headers["set-cookie"]
    sc = requests.get(url(a, "/_test/web/set-cookie?name=t&value=v&same_site=None")).headers["set-cookie"]
    assert "SameSite=None" in sc and "Secure" in sc      # browsers require it
    sc = requests.get(url(a, "/_test/web/set-cookie?name=t&value=v")).headers["set-cookie"]
    assert "Max-Age" not in sc                            # a browser-session cookie
    sc = requests.get(url(a, "/_test/web/set-cookie?name=t&value=&max_age=0")).headers["set-cookie"]
    assert "Max-Age=0" in sc and "Expires=Thu, 01 Jan 1970" in sc
    # Browsers drop a __Secure- or __Host- cookie without Secure (and a
    # __Host- one with a Domain or another Path): it went out without.
    for name in ("__Secure-t", "__Host-t", "__host-t"):
        sc = requests.get(url(a, f"/_test/web/set-cookie?name={name}&value=v&max_age=0")).headers["set-cookie"]
        assert sc.startswith(name + "=") and "; Secure" in sc, sc
    assert requests.get(url(a, "/_test/web/set-cookie?name=__Host-t&value=v&path=/x")).status_code == 400
    # "Forever": Expires stops at the last four-digit year; it used to
    # overflow into 1970, which deletes the cookie in clients that read it.
    sc = requests.get(url(a, "/_test/web/set-cookie?name=t&value=v&max_age=9223372036854775807")).headers["set-cookie"]
    assert "Expires=Fri, 31 Dec 9999 23:59:59 GMT" in sc, sc
    for bad in ("a%20b", "a%3Bb", "a%22b", "a,b"):
        assert requests.get(url(a, f"/_test/web/set-cookie?name=t&value={bad}")).status_code == 400


def test_same_site_is_strict_lax_or_none(a):
    """Any value used to go out as is; a browser ignores an unknown one."""
    sc = requests.get(url(a, "/_test/web/set-cookie?name=t&value=v&same_site=none")).headers["set-cookie"]
    assert "SameSite=None" in sc and "Secure" in sc       # canonical spelling, Secure forced
    assert "SameSite=Strict" in requests.get(
        url(a, "/_test/web/set-cookie?name=t&value=v&same_site=STRICT")).headers["set-cookie"]
    for bad in ("Bogus", "", "Lax%3B%20Domain=evil", "Laxx"):
        r = requests.get(url(a, f"/_test/web/set-cookie?name=t&value=v&same_site={bad}"))
        assert r.status_code == 400 and "set-cookie" not in r.headers, bad


def test_cookies_secure_config(actord_factory):
    a = actord_factory({"cookies": {"secure": True}})
    assert "Secure" in requests.get(url(a, "/_test/web/set-cookie?name=t&value=v")).headers["set-cookie"]


def signed(a, value, name="s"):
    r = requests.get(url(a, f"/_test/web/set-signed?name={name}&value={value}"))
    assert r.status_code == 200
    return r.cookies[name]


def check(a, name, cookie, max_age=None):
    q = f"/_test/web/signed?name={name}" + (f"&max_age={max_age}" if max_age is not None else "")
    r = requests.get(url(a, q), headers={"Cookie": f"{name}={cookie}"})
    return r.text if r.status_code == 200 else None


def test_signed_cookies_tampering_and_names(a):
    c = signed(a, "user-42")
    assert c.startswith("2|1:0|") and "user-42" not in c
    assert check(a, "s", c) == "user-42"
    parts = c.split("|")
    for i, tampered in enumerate((
            c[:-1] + ("0" if c[-1] != "0" else "1"),                       # signature
            "|".join(parts[:4] + [parts[4][:-2] + "AA"] + parts[5:]),     # value
            "|".join(parts[:2] + ["10:1000000000"] + parts[3:]),          # timestamp
            c.replace("2|1:0", "1|1:0", 1), c[:20], "", "garbage")):
        assert check(a, "s", tampered) is None, i
    assert check(a, "other", c) is None                  # signed for another name


def test_signed_cookie_key_rotation(actord_factory):
    old = actord_factory({"cookies": {"secret_keys": OLD_KEY}})
    both = actord_factory({"cookies": {"secret_keys": NEW_KEY + "," + OLD_KEY}})
    new = actord_factory({"cookies": {"secret_keys": NEW_KEY}})
    c_old = signed(old, "v-old")
    c_new = signed(both, "v-new")                        # the newest key signs
    assert check(both, "s", c_old) == "v-old"            # every key verifies
    assert check(new, "s", c_new) == "v-new"
    assert check(new, "s", c_old) is None                # the old key retired
    assert check(old, "s", c_new) is None


def test_signed_cookies_age_and_tornado_compatibility(a):
    # Tornado's own secure cookies (version 2) verify here, and ours there.
    tc = tornado.web.create_signed_value(OLD_KEY, "s", "from-tornado").decode()
    assert check(a, "s", tc) == "from-tornado"
    ours = signed(a, "from-actord")
    assert tornado.web.decode_signed_value(NEW_KEY, "s", ours) == b"from-actord"
    assert tornado.web.decode_signed_value(OLD_KEY, "s", ours) is None
    # Age: a cookie signed an hour ago passes max_age 2 h, not max_age 60 s.
    hour_ago = tornado.web.create_signed_value(NEW_KEY, "s", "aged",
                                               clock=lambda: time.time() - 3600).decode()
    assert check(a, "s", hour_ago, max_age=7200) == "aged"
    assert check(a, "s", hour_ago, max_age=60) is None


def test_weak_keys_are_config_errors(tmp_path):
    import json
    import subprocess
    from conftest import BIN
    cfg = tmp_path / "c.json"
    for keys, want in (("short", "key 1 is 5 bytes"), (NEW_KEY + ",has space 012345678", "key 2: printable")):
        cfg.write_text(json.dumps({"cookies": {"secret_keys": keys}}))
        r = subprocess.run([BIN, "-t", "-c", str(cfg)], capture_output=True, text=True)
        assert r.returncode == 1 and f"{cfg}: cookies.secret_keys: {want}" in r.stderr, r.stderr
    # The environment wins over the file, and is checked the same way.
    cfg.write_text(json.dumps({"cookies": {"secret_keys": NEW_KEY}}))
    import os
    r = subprocess.run([BIN, "-t", "-c", str(cfg)], capture_output=True, text=True,
                       env=dict(os.environ, ACTORD_COOKIES_SECRET_KEYS="tiny"))
    assert r.returncode == 1 and "cookies.secret_keys: key 1 is 4 bytes" in r.stderr


# ---- sessions ----------------------------------------------------------------

def test_a_session_the_store_did_not_save_sets_no_cookie(actord_factory):
    """The session cookie went out before Redis answered, so a save that
    failed still sent it with the 503: the browser then held an id that
    names nothing, in place of its working session (a login's rotation
    leaves the old session in Redis). No Redis here: every save fails."""
    a = actord_factory({"actors": {"cache": {"count": 1}},
                        "redis": {"host": "127.0.0.1", "port": 1}})
    for method, path in (("GET", "/_test/web/session"), ("POST", "/_test/web/login?user=bob")):
        r = requests.request(method, url(a, path), allow_redirects=False)
        assert r.status_code == 503 and "session store" in r.json()["error"], r.text
        assert "set-cookie" not in r.headers, (path, r.headers)


# ---- redirects, escaping ---------------------------------------------------

def test_redirects(a):
    for status in (301, 302, 303, 307, 308):
        r = requests.get(url(a, f"/_test/web/redirect?status={status}&to=/somewhere%3Fa%3D1"),
                         allow_redirects=False)
        assert r.status_code == status and r.headers["location"] == "/somewhere?a=1"
        assert 'href="/somewhere?a=1"' in r.text
    assert requests.get(url(a, "/_test/web/redirect?status=200&to=/x"), allow_redirects=False).status_code == 500
    r = requests.get(url(a, "/_test/web/redirect?status=302&to=/x%0d%0aSet-Cookie:%20evil=1"),
                     allow_redirects=False)
    assert r.status_code == 500 and "evil" not in r.headers.get("set-cookie", "")


def test_html_escaping(a):
    r = requests.get(url(a, "/_test/web/escape"), params={"s": "<a href=\"x\">&'é</a>"})
    assert r.content.decode() == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;é&lt;/a&gt;"


# ---- CSRF -----------------------------------------------------------------

def test_xsrf_tokens(a):
    s = requests.Session()
    t1 = s.get(url(a, "/_test/web/xsrf")).text
    cookie = s.cookies["_xsrf"]
    t2 = s.get(url(a, "/_test/web/xsrf")).text
    assert t1 != t2 and cookie not in t1                 # masked anew each time
    assert s.cookies["_xsrf"] == cookie                   # one cookie
    for t in (t1, t2, cookie):
        assert s.post(url(a, "/_test/web/xsrf"), data={"_xsrf": t}).status_code == 200
    assert s.post(url(a, "/_test/web/xsrf"), headers={"X-XSRFToken": t1}).status_code == 200
    assert s.post(url(a, "/_test/web/xsrf"), headers={"X-CSRFToken": t2}).status_code == 200
    r = s.post(url(a, "/_test/web/xsrf"), data={"x": "1"})
    assert r.status_code == 403 and "missing" in r.json()["error"]
    bad = t1[:-1] + ("0" if t1[-1] != "0" else "1")
    assert s.post(url(a, "/_test/web/xsrf"), data={"_xsrf": bad}).status_code == 403
    assert s.post(url(a, "/_test/web/xsrf"), data={"_xsrf": "junk"}).status_code == 403
    # A token without its cookie (another browser's page) is refused.
    assert requests.post(url(a, "/_test/web/xsrf"), data={"_xsrf": t1}).status_code == 403
    # A body over the limits is its own answer.
    assert s.post(url(a, "/_test/web/xsrf"), data={"_xsrf": t1, "k": "v" * 101}).status_code == 413


# ---- compression of dynamic responses -----------------------------------------

def test_dynamic_compression(a):
    text = requests.get(url(a, "/_test/web/text?n=6000"), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in text.headers and len(text.content) == 6000
    assert text.headers["vary"] == "Accept-Encoding"

    def get(path, ae):
        c = RawClient(a.port)
        c.send(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {ae}\r\n\r\n".encode())
        r = c.read_response()
        c.close()
        return r

    r = get("/_test/web/text?n=6000", "gzip")
    assert r.headers["content-encoding"] == "gzip" and gzip.decompress(r.body) == text.content
    assert len(r.body) < 1000 and r.headers["vary"] == "Accept-Encoding"
    r = get("/_test/web/text?n=6000", "gzip, br")
    assert r.headers["content-encoding"] == "br" and brotli.decompress(r.body) == text.content
    assert get("/_test/web/text?n=6000", "br;q=0.1, gzip;q=0.9").headers["content-encoding"] == "gzip"
    # Under compress.min_bytes, the route's opt-out, incompressible types, q=0.
    for path, ae in (("/_test/web/text?n=100", "gzip"), ("/_test/web/text-raw?n=6000", "gzip, br"),
                     ("/_test/web/text?n=6000&type=image/png", "gzip"),
                     ("/_test/web/text?n=6000", "gzip;q=0, br;q=0")):
        r = get(path, ae)
        assert "content-encoding" not in r.headers, path
    assert "vary" not in get("/_test/web/text-raw?n=6000", "gzip").headers
    # JSON is compressed too (the /_test/web/json echo).
    big = {"k": ["value"] * 500}
    r = requests.post(url(a, "/_test/web/json"), json=big, headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.json() == big


def test_compression_off(actord_factory):
    a = actord_factory({"compress": {"enabled": False}})
    r = requests.get(url(a, "/_test/web/text?n=6000"), headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in r.headers and "vary" not in r.headers
